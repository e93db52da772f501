"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from datetime import datetime, timezone
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from drillmgr.db import UTCDateTime

T = TypeVar("T")
Moment = sa.ColumnElement[Any] | QueryableAttribute[Any]  # a timestamp column or expression


class add_days(FunctionElement[datetime]):
    """`timestamp + n days`, for deadlines computed in the database."""

    type = UTCDateTime()
    inherit_cache = True
    name = "add_days"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: SQLCompiler, **kw: Any) -> str:
    moment, days = list(element.clauses)
    # Same text layout as SQLAlchemy's stored SQLite datetimes, so comparisons stay textual and exact.
    return (
        f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(moment, **kw)}, "
        f"'+' || {compiler.process(days, **kw)} || ' days')"
    )


@compiles(add_days, "postgresql")
def _add_days_postgresql(element: add_days, compiler: SQLCompiler, **kw: Any) -> str:
    moment, days = list(element.clauses)
    return f"({compiler.process(moment, **kw)} + make_interval(days => {compiler.process(days, **kw)}))"


def later_of(a: Moment, b: Moment) -> sa.Case[datetime]:
    """The later of two timestamps (NULL-safe on `b`)."""
    return sa.case((sa.and_(b.isnot(None), b > a), b), else_=a)


class scanned(FunctionElement[T]):
    """A column compared without its index on SQLite (unary +, a no-op on any value).

    Compliance reads most of a year's drills: SQLite, without statistics, would walk the starts_at
    index and fetch each row from it, about twice as slow as scanning the table. PostgreSQL chooses
    for itself.
    """

    inherit_cache = True
    name = "scanned"

    def __init__(self, column: sa.ColumnElement[T] | QueryableAttribute[T]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(scanned)
def _scanned_default(element: scanned[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(scanned, "sqlite")
def _scanned_sqlite(element: scanned[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(list(element.clauses)[0], **kw)}"


def aware(moment: datetime) -> datetime:
    """SQLite hands an aggregate or a computed UTC timestamp back without its zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
