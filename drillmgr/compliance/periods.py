"""The periods compliance rules count in, as half-open intervals of local (Beijing) time.

Every boundary is local midnight in the configured time zone (Asia/Shanghai by default), turned
into UTC for the queries, so a drill at 31 December 23:59 +08:00 falls in that year and one at
1 January 00:00 +08:00 in the next.

Kinds of period for a year Y:
- ``year``: 1 January Y .. 31 December Y.
- ``reporting_half``: the two reporting periods that end at the report deadlines of the notice,
  7 June and 8 November. H1 = 9 November Y-1 .. 7 June Y, H2 = 8 June Y .. 8 November Y (both
  ends inclusive, as whole days). 9 November .. 31 December Y belongs to H1 of Y+1.
- ``half``: calendar half-years, January–June and July–December.
- ``quarter``: calendar quarters.
- ``month``: the calendar months listed in the rule (a school year's months: March–June and
  September–December by default).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from datetime import date, datetime, timedelta

from drillmgr.localtime import local_midnight

PERIOD_KINDS = ("year", "reporting_half", "half", "quarter", "month")


@dataclass(frozen=True)
class Period:
    label: str
    first_day: date
    last_day: date

    @cached_property
    def start(self) -> datetime:
        return local_midnight(self.first_day)

    @cached_property
    def end(self) -> datetime:
        """Exclusive: local midnight after the last day."""
        return local_midnight(self.last_day + timedelta(days=1))


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


# (month, day) of the two half-year report deadlines, 7 June and 8 November: each closes its reporting half.
REPORT_DEADLINES = ((6, 7), (11, 8))


def report_deadline(year: int, half: int) -> date:
    if half not in (1, 2):
        raise ValueError("half must be 1 or 2")
    return date(year, *REPORT_DEADLINES[half - 1])


def reporting_half(year: int, half: int) -> Period:
    """H1 runs from the day after the previous year's H2 deadline to the H1 deadline; H2 from the day after that."""
    first = report_deadline(year - 1, 2) if half == 1 else report_deadline(year, 1)
    return Period(f"{year}-H{half}", first + timedelta(days=1), report_deadline(year, half))


def reporting_half_of(day: date) -> tuple[int, int]:
    """The (year, half) of the reporting period that `day` falls in."""
    if day > report_deadline(day.year, 2):
        return day.year + 1, 1
    return (day.year, 1) if day <= report_deadline(day.year, 1) else (day.year, 2)


REPORT_LEAD_DAYS = 30


def report_due_half(today: date, lead_days: int = REPORT_LEAD_DAYS) -> tuple[int, int]:
    """The (year, half) a half-year report opens on: the latest reporting period whose deadline
    (7 June or 8 November) has passed or falls within the next `lead_days` days.

    Right after a deadline the period that just ended is the one being filed, not the new one that
    has barely begun; from `lead_days` before the next deadline, the period about to be due is the
    one to prepare. On 28 November 2026 that is 2026 H2 (due 8 November 2026); from 8 May 2027 it
    is 2027 H1 (due 7 June 2027).
    """
    horizon = today + timedelta(days=lead_days)
    year, half = reporting_half_of(horizon)
    if reporting_half(year, half).last_day > horizon:
        year, half = (year, 1) if half == 2 else (year - 1, 2)
    return year, half


def periods(kind: str, year: int, months: Iterable[int] | None = None) -> list[Period]:
    if kind == "year":
        return [Period(str(year), date(year, 1, 1), date(year, 12, 31))]
    if kind == "reporting_half":
        return [reporting_half(year, 1), reporting_half(year, 2)]
    if kind == "half":
        return [
            Period(f"{year}-H1", date(year, 1, 1), date(year, 6, 30)),
            Period(f"{year}-H2", date(year, 7, 1), date(year, 12, 31)),
        ]
    if kind == "quarter":
        return [Period(f"{year}-Q{q}", date(year, 3 * q - 2, 1), _month_end(year, 3 * q)) for q in range(1, 5)]
    if kind == "month":
        return [Period(f"{year}-{m:02d}", date(year, m, 1), _month_end(year, m)) for m in sorted(months or ())]
    raise ValueError(f"unknown period kind {kind!r}")
