"""Showing times in the configured time zone (Beijing time by default)."""

import re
from datetime import date, datetime, timezone
from functools import lru_cache

from flask_babel import format_date, format_datetime, format_decimal, get_timezone
from flask_babel import gettext as _

from drillmgr.localtime import to_local


NUMERIC_FIELDS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


@lru_cache(maxsize=64)
def _numeric_pattern(fmt: str) -> str | None:
    """The strftime form of a CLDR pattern made only of zero-padded numeric fields and punctuation
    (yyyy-MM-dd HH:mm …), which reads the same in every locale; None for any other pattern. Babel
    parses and formats a pattern field by field, which costs a list page of 50 rows milliseconds."""
    tokens = re.findall(r"[A-Za-z]+|[^A-Za-z%']+", fmt)
    if "".join(tokens) != fmt:
        return None
    out = []
    for token in tokens:
        if token[0].isalpha():
            if token not in NUMERIC_FIELDS:
                return None
            out.append(NUMERIC_FIELDS[token])
        else:
            out.append(token)
    return "".join(out)


def local_datetime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    if not value:
        return ""
    numeric = _numeric_pattern(fmt)
    if numeric is None:
        return format_datetime(value, fmt)
    if value.tzinfo is None:  # as Babel takes it
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(get_timezone()).strftime(numeric)


def local_date(value: date | datetime | None, fmt: str = "yyyy-MM-dd") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_local(value).date()
    numeric = _numeric_pattern(fmt)
    return value.strftime(numeric) if numeric is not None else format_date(value, fmt)


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
