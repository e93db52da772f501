"""Recurrence rules (RFC 5545 RRULE) of drill series: read part by part before anything is expanded.

dateutil expands a rule by scanning period after period up to the year 9999 and checks UNTIL only
on a match, so INTERVAL=0, a rule that seldom or never matches (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30)
or one with thousands of times a day would keep a worker busy for minutes. Here a rule is refused
unless its parts are sane and it makes a drill programme's number of drills (tens a year), and every
expansion is lazy and bounded twice: in the periods scanned and in the occurrences produced.
"""

import re
from collections.abc import Iterator
from datetime import datetime, time, timedelta, timezone
from math import prod

from dateutil.rrule import rrule, rrulestr
from flask_babel import gettext as _

from drillmgr.localtime import local_zone

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
LIST_PARTS = ("BYDAY", "BYMONTHDAY", "BYMONTH", "BYYEARDAY", "BYWEEKNO", "BYSETPOS", "BYHOUR", "BYMINUTE", "BYSECOND")
PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST") + LIST_PARTS
MAX_INTERVAL = 1000
MAX_COUNT = 1000
# Of the BY-parts' numbers of values: BYHOUR=0..23;BYMINUTE=0..59 alone would be 1,440 times a day.
MAX_BY_PRODUCT = 366
MAX_PER_YEAR = 60
# Scanned beyond the window asked for before a rule counts as ended: a 29 February comes within 8 years.
SCAN_SLACK_MONTHS = 12 * 10
_UNTIL = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?")
_NUMBER = re.compile(r"\d{1,9}")


class RuleError(ValueError):
    """A rule that is refused; the message says why, in the user's language."""


class _ScanExhausted(Exception):
    pass


class BoundedRule(rrule):  # type: ignore[misc]  # dateutil ships no types: rrule is Any to mypy
    """An rrule whose expansion ends, as if the rule had, once `budget` months or periods are scanned.

    dateutil rebuilds its masks once for every month (or longer period) it scans and reads
    `_byeaster` each time: the only hook into that loop, so the budget is counted there.
    """

    budget: int | None = None
    _easter_days: tuple[int, ...] | None

    @property
    def _byeaster(self) -> tuple[int, ...] | None:
        if self.budget is not None:
            self.budget -= 1
            if self.budget < 0:
                raise _ScanExhausted
        return self._easter_days

    @_byeaster.setter
    def _byeaster(self, value: tuple[int, ...] | None) -> None:
        self._easter_days = value


def _invalid() -> RuleError:
    return RuleError(
        _(
            "Not a valid RFC 5545 recurrence rule with a daily, weekly, monthly or yearly "
            "frequency, e.g. FREQ=MONTHLY;BYMONTHDAY=15."
        )
    )


def _until_utc(value: str) -> str:
    """UNTIL as RFC 5545 wants it beside a DTSTART with a zone: UTC. A plain date (20270630) means
    to the end of that day, a time without Z the configured zone's (Beijing) time."""
    match = _UNTIL.fullmatch(value)
    if match is None:
        raise RuleError(_("UNTIL must be a date such as 20270630 or a time such as 20270630T100000Z."))
    year, month, day, hour, minute, second, utc = match.groups()
    try:
        if hour is None:
            moment = datetime.combine(
                datetime(int(year), int(month), int(day)).date(), time(23, 59, 59), tzinfo=local_zone()
            )
        else:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=timezone.utc if utc else local_zone(),
            )
    except ValueError:
        raise RuleError(_("UNTIL must be a date such as 20270630 or a time such as 20270630T100000Z.")) from None
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def normalise(text: str) -> str:
    """The rule as it is stored: without `RRULE:`, names upper-case, UNTIL in UTC. Raises RuleError."""
    text = (text or "").strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    if not text or any(c in text for c in "\n\r:\x00"):
        raise _invalid()
    parts: dict[str, str] = {}
    for item in filter(None, text.split(";")):
        name, sep, value = item.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not sep or not value or name not in PARTS:
            raise _invalid()
        if name in parts:
            raise RuleError(_("%(part)s is given twice.", part=name))
        parts[name] = value
    if parts.get("FREQ") not in FREQUENCIES:
        raise _invalid()
    for name, maximum in (("INTERVAL", MAX_INTERVAL), ("COUNT", MAX_COUNT)):
        if name in parts and not (_NUMBER.fullmatch(parts[name]) and 1 <= int(parts[name]) <= maximum):
            raise RuleError(_("%(part)s must be a whole number from 1 to %(max)d.", part=name, max=maximum))
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError(_("Give COUNT or UNTIL, not both."))
    if "UNTIL" in parts:
        parts["UNTIL"] = _until_utc(parts["UNTIL"])
    if prod(len(parts[name].split(",")) for name in LIST_PARTS if name in parts) > MAX_BY_PRODUCT:
        raise RuleError(_("Too many combinations of BY… values: at most %(max)d.", max=MAX_BY_PRODUCT))
    return ";".join(f"{name}={value}" for name, value in parts.items())


def parse(text: str, dtstart: datetime) -> BoundedRule:
    """The rule expanded in the configured zone (a 10:00 drill stays at 10:00 Beijing time). Raises RuleError."""
    try:
        parsed = rrulestr(normalise(text), dtstart=dtstart.astimezone(local_zone()))
    except (ValueError, TypeError, OverflowError) as error:
        raise error if isinstance(error, RuleError) else _invalid() from None
    if not isinstance(parsed, rrule):
        raise _invalid()
    # As rrule.replace() does, but keeping the class.
    return BoundedRule(
        freq=parsed._freq,
        dtstart=parsed._dtstart,
        interval=parsed._interval,
        wkst=parsed._wkst,
        count=parsed._count,
        until=parsed._until,
        **parsed._original_rule,
    )


def _months(start: datetime, end: datetime) -> int:
    return max((end.year - start.year) * 12 + end.month - start.month + 1, 0)


def iterate(text: str, dtstart: datetime, end: datetime, start: datetime | None = None) -> Iterator[datetime]:
    """Occurrence starts (UTC) in [start or DTSTART, end], lazily, in order. DTSTART is the first occurrence
    (RFC 5545) even where the rule would skip it, unless UNTIL ends the rule before it."""
    zone = local_zone()
    rule = parse(text, dtstart)
    first = dtstart.astimezone(zone)
    start = (start or dtstart).astimezone(zone)
    end = end.astimezone(zone)
    ended = rule._until is not None and rule._until < first
    if start <= first <= end and not ended:
        yield first.astimezone(timezone.utc)
    rule.budget = _months(first, end) + SCAN_SLACK_MONTHS
    try:
        for moment in rule.xafter(max(start, first), inc=True):
            if moment > end:
                return
            if moment != first:
                yield moment.astimezone(timezone.utc)
    except _ScanExhausted:
        return


def check(text: str, dtstart: datetime) -> str:
    """The rule as stored, once it is known to make a drill programme. Raises RuleError."""
    rule_text = normalise(text)
    rule = parse(rule_text, dtstart)
    if rule._until is not None and rule._until < dtstart:
        raise RuleError(_("UNTIL is before the first drill."))
    within_year = iterate(rule_text, dtstart, dtstart + timedelta(days=366) - timedelta(seconds=1))
    if sum(1 for _moment in zip(range(MAX_PER_YEAR + 1), within_year, strict=False)) > MAX_PER_YEAR:
        raise RuleError(
            _("This rule makes more than %(max)d drills a year; a drill programme needs far fewer.", max=MAX_PER_YEAR)
        )
    rule.budget = _months(dtstart, dtstart + timedelta(days=366 * 5)) + SCAN_SLACK_MONTHS
    try:
        first = next(rule.xafter(dtstart.astimezone(local_zone()), inc=True), None)
    except _ScanExhausted:
        first = None
    if first is None:
        raise RuleError(_("This rule has no occurrence."))
    return rule_text
