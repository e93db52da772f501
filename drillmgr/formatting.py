"""Showing times in the configured time zone (Beijing time by default)."""
from datetime import date, datetime

from flask_babel import format_date, format_datetime, format_decimal
from flask_babel import gettext as _

from drillmgr.localtime import to_local


def local_datetime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    return format_datetime(value, fmt) if value else ""


def local_date(value: date | datetime | None, fmt: str = "yyyy-MM-dd") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value).date()
    return format_date(value, fmt)


def duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(int(seconds), 60)
    if minutes:
        return _("%(m)d min %(s)d s", m=minutes, s=rest)
    return _("%(s)d s", s=rest)


def number(value: int | float | None) -> str:
    """A count with the locale's digit grouping (10,000,000), so large figures read at a glance."""
    return "" if value is None else format_decimal(value)
