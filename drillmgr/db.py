"""Declarative base, naming convention and the column types every model shares."""
import enum
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and always returns them aware in UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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


def set_timeouts(engine: sa.Engine, config) -> None:
    """Every connection waits at most DB_LOCK_TIMEOUT_MS for a lock and runs a statement at most
    DB_STATEMENT_TIMEOUT_MS (PostgreSQL); SQLite waits DB_LOCK_TIMEOUT_MS for a locked database. Past that the
    request fails fast (a 503 to retry) instead of holding a worker until gunicorn kills it. 0: no limit."""
    lock_ms, statement_ms = int(config["DB_LOCK_TIMEOUT_MS"]), int(config["DB_STATEMENT_TIMEOUT_MS"])

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
                           (f"{lock_ms}ms", f"{statement_ms}ms"))
        elif engine.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {lock_ms:d}")
        cursor.close()
        if engine.dialect.name == "postgresql" and not dbapi_connection.autocommit:
            dbapi_connection.commit()  # psycopg opened a transaction for the SELECT; the settings are per session


# SQLSTATE of PostgreSQL's lock_timeout (55P03 lock_not_available) and statement_timeout (57014 query_canceled).
_BUSY_SQLSTATES = {"55P03", "57014"}


def database_busy(error: sa.exc.DBAPIError) -> bool:
    """Whether a database error means "busy, try again": a lock or statement timeout, or SQLite's lock."""
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _BUSY_SQLSTATES:
        return True
    return "database is locked" in str(orig) or "database table is locked" in str(orig)
