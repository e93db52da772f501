"""Declarative base, naming convention and the column types every model shares."""
import enum
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.orm.attributes import set_committed_value
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


def lock(obj) -> None:
    """Makes a step that must happen once per row wait for any other transaction taking the same lock, then
    reloads the row. PostgreSQL locks the row (SELECT … FOR UPDATE, of the row alone: not of the outer joins
    its eager relationships would add); SQLite ignores FOR UPDATE and its reads take no lock, so a no-op
    UPDATE takes the database's write lock, which serialises the writers as well."""
    from drillmgr.extensions import db

    session = db.session
    table = type(obj).__table__
    columns = list(table.primary_key.columns)
    identity = sa.inspect(obj).identity
    if session.get_bind().dialect.name == "sqlite":
        where = " AND ".join(f"{c.name} = :pk{i}" for i, c in enumerate(columns))
        session.execute(sa.text(f"UPDATE {table.name} SET {columns[0].name} = {columns[0].name} WHERE {where}"),
                        {f"pk{i}": value for i, value in enumerate(identity)})
    else:
        session.execute(sa.select(*columns).where(*[c == v for c, v in zip(columns, identity)]).with_for_update())
    session.refresh(obj)


def claim_version(obj, expected: int | None, message: str, field_message: str | None = None, **values) -> None:
    """Compare-and-set: `UPDATE … SET version = expected + 1 WHERE <id> AND version = :expected`, before the
    change is applied, so that of two saves based on the same version exactly one wins and the other is a
    Conflict (409). `expected` None: the version this request read (a state step taken twice runs once)."""
    from drillmgr.errors import Conflict
    from drillmgr.extensions import db

    model = type(obj)
    expected = obj.version if expected is None else expected
    columns = list(model.__table__.primary_key.columns)
    result = db.session.execute(
        sa.update(model).where(*[c == v for c, v in zip(columns, sa.inspect(obj).identity)],
                               model.version == expected)
        .values(version=expected + 1, **values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise Conflict(message, {"version": [field_message or message]})
    if obj.version != expected:
        db.session.refresh(obj)
    set_committed_value(obj, "version", expected + 1)
