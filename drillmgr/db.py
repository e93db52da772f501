"""Declarative base, naming convention and the column types every model shares."""

import enum
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar, Protocol, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        if value.tzinfo is timezone.utc:  # as psycopg reads it (configure_sessions): thousands an evaluation
            return value
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def gather_statistics(connection: sa.Connection) -> None:
    """Fresh planner statistics of every table (ANALYZE). SQLite gathers none unless asked: without them it
    reads a county's whole scope through three indexes to list a fortnight of its drills (twice as slow as
    walking the dates). PostgreSQL's autovacuum gathers them too, but only some time after a bulk load."""
    connection.execute(sa.text("ANALYZE"))


def str_enum(enum_class: type[enum.Enum], length: int = 32) -> sa.Enum:
    """An enum stored as its string value, without a native database type."""
    return sa.Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime},
    )


def configure_sessions(engine: sa.Engine, config: Mapping[str, Any]) -> None:
    """Every connection waits at most DB_LOCK_TIMEOUT_MS for a lock and runs a statement at most
    DB_STATEMENT_TIMEOUT_MS (PostgreSQL); SQLite waits DB_LOCK_TIMEOUT_MS for a locked database. Past that the
    request fails fast (a 503 to retry) instead of holding a worker until gunicorn kills it. 0: no limit.
    PostgreSQL sessions also talk UTC, the zone every stored moment is in."""
    lock_ms, statement_ms = int(config["DB_LOCK_TIMEOUT_MS"]), int(config["DB_STATEMENT_TIMEOUT_MS"])

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false),"
                # psycopg hands timestamps of a session in 'UTC' (not the server's 'Etc/UTC') back in datetime's
                # own UTC, which UTCDateTime then passes through unchanged.
                " set_config('TimeZone', 'UTC', false)",
                (f"{lock_ms}ms", f"{statement_ms}ms"),
            )
        elif engine.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {lock_ms:d}")
        cursor.close()
        if engine.dialect.name == "postgresql" and not dbapi_connection.autocommit:
            dbapi_connection.commit()  # psycopg opened a transaction for the SELECT; the settings are per session

    @sa.event.listens_for(engine, "do_execute")
    def _capture(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        captured = context.execution_options.get(CAPTURE_OPTION)
        if captured is None:
            return False
        captured.append((statement, parameters))
        return True  # not executed here: see streamed_rows


CAPTURE_OPTION = "drillmgr_capture_statement"
STREAM_CHUNK_ROWS = 5000


def streamed_rows(connection: sa.Connection, query: sa.Select[Any]) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The query's rows as plain tuples, chunk by chunk as PostgreSQL sends them, so that the caller works on the
    first rows while the server still works out the rest (at national scale the drills looked up for the
    unit rules' evidence come out over 5 s, as long as the evaluation's Python work on them).

    A server-side cursor would do this too, but PostgreSQL plans a cursor's query without parallel workers. So
    the statement is compiled and bound by SQLAlchemy as for any execution, taken at the point where it would be
    sent (the do_execute hook of configure_sessions), and sent by psycopg in chunked-rows mode on the same
    connection, within the same transaction. Elsewhere (SQLite, or a libpq without that mode) the rows come at once.
    """
    if connection.dialect.name != "postgresql" or not psycopg.capabilities.has_stream_chunked():
        rows = connection.execute(query).tuples().all()
        if rows:
            yield rows
        return
    captured: list[tuple[str, Any]] = []
    connection.execute(query, execution_options={CAPTURE_OPTION: captured}).close()
    statement, parameters = captured[0]
    dbapi_connection = cast(psycopg.Connection[Any], connection.connection.dbapi_connection)
    try:
        with dbapi_connection.cursor() as cursor:
            chunk: list[tuple[Any, ...]] = []
            for row in cursor.stream(statement, parameters, size=STREAM_CHUNK_ROWS):
                chunk.append(row)
                if len(chunk) == STREAM_CHUNK_ROWS:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
    except psycopg.Error as error:  # as SQLAlchemy would raise it: a statement timeout is then a 503, as anywhere
        raise sa.exc.DBAPIError.instance(statement, parameters, error, psycopg.Error) from error


# SQLSTATE of PostgreSQL's lock_timeout (55P03 lock_not_available) and statement_timeout (57014 query_canceled).
_BUSY_SQLSTATES = {"55P03", "57014"}


def database_busy(error: sa.exc.DBAPIError) -> bool:
    """Whether a database error means "busy, try again": a lock or statement timeout, or SQLite's lock."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    return "database is locked" in str(orig) or "database table is locked" in str(orig)


class Versioned(Protocol):
    """A model with a version column, claimed compare-and-set."""

    __table__: ClassVar[sa.FromClause]
    version: int


def _table_and_identity(obj: Base | Versioned) -> tuple[sa.Table, tuple[Any, ...]]:
    """The row's table and primary key. Declarative models map a Table (SQLAlchemy types __table__ as any
    FromClause), and the object is persistent (it has an identity). raiseerr=True (the default) tells mypy
    that inspecting a Versioned gives no None."""
    identity = sa.inspect(obj, raiseerr=True).identity
    return cast(sa.Table, type(obj).__table__), cast(tuple[Any, ...], identity)


def rows_changed(result: sa.Result[Any]) -> int:
    """How many rows a DML statement changed. SQLAlchemy 2.0 types Session.execute() as Result; a DML
    statement's is a CursorResult, which has rowcount."""
    return cast(CursorResult[Any], result).rowcount


def lock(obj: Base) -> None:
    """Makes a step that must happen once per row wait for any other transaction taking the same lock, then
    reloads the row. PostgreSQL locks the row (SELECT … FOR UPDATE, of the row alone: not of the outer joins
    its eager relationships would add); SQLite ignores FOR UPDATE and its reads take no lock, so a no-op
    UPDATE takes the database's write lock, which serialises the writers as well."""
    from drillmgr.extensions import db

    session = db.session
    session.flush()  # the reload below must not drop what this unit of work changed before
    table, identity = _table_and_identity(obj)
    columns = list(table.primary_key.columns)
    if session.get_bind().dialect.name == "sqlite":
        where = " AND ".join(f"{c.name} = :pk{i}" for i, c in enumerate(columns))
        session.execute(
            sa.text(f"UPDATE {table.name} SET {columns[0].name} = {columns[0].name} WHERE {where}"),
            {f"pk{i}": value for i, value in enumerate(identity)},
        )
    else:
        session.execute(
            sa.select(*columns).where(*[c == v for c, v in zip(columns, identity, strict=True)]).with_for_update()
        )
    session.refresh(obj)


def claim_version(
    obj: Versioned, expected: int | None, message: str, field_message: str | None = None, **values: Any
) -> None:
    """Compare-and-set: `UPDATE … SET version = expected + 1 WHERE <id> AND version = :expected`, before the
    change is applied, so that of two saves based on the same version exactly one wins and the other is a
    Conflict (409). `expected` None: the version this request read (a state step taken twice runs once)."""
    from drillmgr.errors import Conflict
    from drillmgr.extensions import db

    model = type(obj)
    expected = obj.version if expected is None else expected
    table, identity = _table_and_identity(obj)
    columns = list(table.primary_key.columns)
    result = db.session.execute(
        sa.update(model)
        .where(*[c == v for c, v in zip(columns, identity, strict=True)], table.c.version == expected)
        .values(version=expected + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        raise Conflict(message, {"version": [field_message or message]})
    if obj.version != expected:
        db.session.refresh(obj)
    set_committed_value(obj, "version", expected + 1)
