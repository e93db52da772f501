"""drillmgr.db: the rows of a query streamed chunk by chunk, in the request's own transaction."""

import importlib

import pytest
import sqlalchemy as sa

from drillmgr.db import database_busy, streamed_rows
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus
from drillmgr.extensions import db
from tests.conftest import statements_sent

db_module = importlib.import_module("drillmgr.db")  # the package names its SQLAlchemy extension `db`


def _query():
    return sa.select(Drill.id, Drill.title).order_by(Drill.id)


def test_streamed_rows_are_the_rows_of_the_query_in_its_order(make_drill, monkeypatch):
    made = [make_drill(title=f"drill {n}").id for n in range(7)]
    monkeypatch.setattr(db_module, "STREAM_CHUNK_ROWS", 3)
    chunks = list(streamed_rows(db.session.connection(), _query()))
    assert [row for chunk in chunks for row in chunk] == [(i, f"drill {n}") for n, i in enumerate(made)]
    if db.engine.dialect.name == "postgresql":  # chunk by chunk as the server sends them
        assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    else:  # SQLite works in this process: at once
        assert [len(chunk) for chunk in chunks] == [7]


def test_streamed_rows_see_what_the_unit_of_work_wrote_and_leave_the_connection_as_it_was(make_drill):
    """The rows come on the session's own connection, in its transaction: a drill flushed but not committed is
    among them; the statement is seen by the engine's listeners once; the next statement runs as usual."""
    drill = make_drill(title="not yet committed", status=DrillStatus.PLANNED)
    with statements_sent(containing="drills") as seen:
        rows = [row for chunk in streamed_rows(db.session.connection(), _query()) for row in chunk]
    assert (drill.id, "not yet committed") in rows
    assert len(seen) == 1
    assert db.session.scalar(sa.select(Drill.title).where(Drill.id == drill.id)) == "not yet committed"


def test_streamed_rows_of_an_empty_query_are_no_chunk():
    assert list(streamed_rows(db.session.connection(), _query().where(sa.false()))) == []


def test_a_streamed_statement_over_the_time_limit_fails_as_a_busy_database():
    """Raised as SQLAlchemy raises any statement's error, so that the request answers 503 (see database_busy)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    db.session.execute(sa.text("SET LOCAL statement_timeout = '100ms'"))
    slow = sa.select(sa.func.pg_sleep(2), sa.literal(1))
    with pytest.raises(sa.exc.OperationalError) as caught:
        list(streamed_rows(db.session.connection(), slow))
    assert database_busy(caught.value)
