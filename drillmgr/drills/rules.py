"""Recurrence rules (RFC 5545 RRULE) of drill series: reading, describing and cutting them, and the
occurrences they make."""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice

from flask_babel import gettext as _

from drillmgr.api.schema import Reading
from drillmgr.drills import recurrence, workdays
from drillmgr.drills.drill_input import LATEST
from drillmgr.drills.models import DrillSeries

SERIES_HORIZON_DAYS = 366
# Drills one request (or one series in one nightly run) creates at most; the nightly job makes the rest.
MAX_OCCURRENCES_PER_RUN = 100


def normalise_rule_text(text: str) -> str:
    """The rule without an "RRULE:" prefix."""
    text = (text or "").strip()
    return text[len("RRULE:") :] if text.upper().startswith("RRULE:") else text


def read_rule(p: Reading, field: str, dtstart: object) -> str | None:
    """The checked rule read as `field`; None (with the error on `p`) when it cannot be checked."""
    text = p.values.get(field)
    if not text and field not in p.errors:
        p.error(field, _("This field is required."))
    if not isinstance(text, str) or not text or not isinstance(dtstart, datetime):
        return None
    try:
        return recurrence.check(text, dtstart)
    except recurrence.RuleError as error:
        p.error(field, str(error))
        return None


def default_horizon(starts_at: datetime, now: datetime) -> datetime:
    """Occurrences are made a year ahead: of today, or of the first drill when the series starts later."""
    return max(now, starts_at) + timedelta(days=SERIES_HORIZON_DAYS)


@dataclass
class Occurrence:
    starts_at: datetime
    ends_at: datetime

    @property
    def flags(self) -> list[workdays.DayFlag]:
        return workdays.flags(self.starts_at)


@dataclass
class SeriesPreview:
    """What a series would make: `occurrences` are those created at once (up to the horizon, at most
    MAX_OCCURRENCES_PER_RUN); `total` is the rule's whole number when it ends (None: it never ends)."""

    rrule: str
    occurrences: list[Occurrence]
    total: int | None

    @property
    def flagged(self) -> int:
        return sum(1 for o in self.occurrences if o.flags)


def rule_total(rule_text: str, dtstart: datetime) -> int | None:
    """How many occurrences an ending rule has (COUNT, or up to UNTIL); None for a rule without end."""
    parts = rule_parts(rule_text)
    if "COUNT" not in parts and "UNTIL" not in parts:
        return None
    return sum(1 for _moment in islice(recurrence.iterate(rule_text, dtstart, LATEST), recurrence.MAX_COUNT * 100))


def occurrences_for(
    rule_text: str, starts_at: datetime, ends_at: datetime, now: datetime, horizon: datetime | None = None
) -> list[Occurrence]:
    length = ends_at - starts_at
    until = horizon or default_horizon(starts_at, now)
    slots = islice(recurrence.iterate(rule_text, starts_at, until), MAX_OCCURRENCES_PER_RUN)
    return [Occurrence(slot, slot + length) for slot in slots]


def rule_parts(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in normalise_rule_text(text).split(";") if "=" in part)


def rule_text(parts: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in parts.items())


def rule_ending_at(text: str, last: datetime) -> str:
    """The rule with nothing after `last` (its UNTIL; a COUNT dropped)."""
    parts = rule_parts(text)
    parts.pop("COUNT", None)
    parts["UNTIL"] = last.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return rule_text(parts)


def series_slots(
    series: DrillSeries, until: datetime, after: datetime | None = None, limit: int = MAX_OCCURRENCES_PER_RUN
) -> list[datetime]:
    """Occurrence starts in [after or DTSTART, until], the first `limit` of them. A rule stored before
    rules were checked, that would be refused now, makes no more drills."""
    try:
        return list(islice(recurrence.iterate(series.rrule, series.dtstart, until, start=after), limit))
    except recurrence.RuleError:
        return []


def describe_rule(text: str) -> str:
    """A short human reading of the common rules; the raw RRULE otherwise."""
    parts = rule_parts(text)
    interval = int(parts.get("INTERVAL", "1") or 1)
    names = {"DAILY": _("Every day"), "WEEKLY": _("Every week"), "MONTHLY": _("Every month"), "YEARLY": _("Every year")}
    base = names.get(parts.get("FREQ", ""), text)
    if interval > 1:
        base = {
            "DAILY": _("Every %(n)d days", n=interval),
            "WEEKLY": _("Every %(n)d weeks", n=interval),
            "MONTHLY": _("Every %(n)d months", n=interval),
            "YEARLY": _("Every %(n)d years", n=interval),
        }.get(parts.get("FREQ", ""), base)
    return f"{base} ({normalise_rule_text(text)})"
