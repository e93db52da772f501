"""Generation counters: raised in the same transaction as every change of the data a kept value is
made from, so a value kept under an older generation is never served, by any worker or machine.

Every flush that adds, changes or deletes a row of a table compliance reads (anything but the tables
in UNRELATED), and every bulk INSERT/UPDATE/DELETE through the session on such a table, raises the
`compliance` generation; every change of a region (a name shown in feeds) raises the `regions` one.
Writes that go around the session (raw SQL on a bare connection) are not seen: the app makes none.
"""

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from drillmgr.cache.models import CacheGeneration
from drillmgr.extensions import db

COMPLIANCE = "compliance"
REGIONS = "regions"
# Tables whose changes never change a compliance status.
UNRELATED = frozenset(
    {
        "api_tokens",
        "attachments",
        "audit_log",
        "cache_entries",
        "cache_generations",
        "calendar_feed_versions",
        "checklist_answers",
        "checklist_items",
        "checklist_runs",
        "checklist_templates",
        "compliance_snapshots",
        "idempotency_keys",
        "job_runs",
        "notifications",
        "outbox_mail",
        "scheduler_leases",
        "users",
    }
)


def _raise(connection: sa.Connection, name: str) -> None:
    updated = connection.execute(
        sa.update(CacheGeneration).where(CacheGeneration.name == name).values(value=CacheGeneration.value + 1)
    )
    if not updated.rowcount:
        connection.execute(sa.insert(CacheGeneration).values(name=name, value=1))


def _relevant(table_name: str | None) -> bool:
    return table_name is not None and table_name not in UNRELATED


def _raised_by(table_names: Iterable[str | None]) -> list[str]:
    names = set(table_names)
    return ([COMPLIANCE] if any(_relevant(name) for name in names) else []) + ([REGIONS] if "regions" in names else [])


@sa.event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    tables = {
        getattr(getattr(obj, "__table__", None), "name", None)
        for obj in (*session.new, *session.dirty, *session.deleted)
    }
    for name in _raised_by(tables):
        _raise(session.connection(), name)


@sa.event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    for name in _raised_by([getattr(table, "name", None)]):
        _raise(state.session.connection(), name)


def current(name: str = COMPLIANCE) -> int:
    return db.session.scalar(sa.select(CacheGeneration.value).where(CacheGeneration.name == name)) or 0


def value_of(name: str) -> sa.ScalarSelect[int]:
    """The generation as a scalar subquery, to read it within another question."""
    return sa.select(CacheGeneration.value).where(CacheGeneration.name == name).scalar_subquery()
