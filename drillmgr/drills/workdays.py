"""Weekends, China's public holidays and adjusted working days (调休上班日), from the maintained `holidays`
package (its China calendar carries the State Council's yearly arrangement; a newer release brings the next
year's, so the package is upgraded each November when the arrangement is published).

A drill on a weekend or holiday is not refused — a community drill may be held on a Saturday on purpose —
but the planner is told before saving.
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import holidays
from flask_babel import get_locale
from flask_babel import gettext as _
from holidays.countries.china import ChinaStaticHolidays

from drillmgr.localtime import to_local

WEEKEND = "weekend"
HOLIDAY = "holiday"
WORKDAY = "adjusted_workday"


@dataclass(frozen=True)
class DayFlag:
    kind: str  # WEEKEND, HOLIDAY or WORKDAY
    text: str  # in the user's language


@lru_cache(maxsize=64)
def _calendar(year: int, language: str) -> holidays.China:
    # holidays types China.__init__ as untyped (*args, **kwargs).
    return holidays.China(years=year, language=language)  # type: ignore[no-untyped-call]


def _language() -> str:
    locale = get_locale()
    return "en_US" if locale is not None and locale.language == "en" else "zh_CN"


def arrangement_known(year: int) -> bool:
    """Whether the package has the State Council's arrangement of `year` (its adjusted working days)."""
    return year in ChinaStaticHolidays.special_public_holidays


def flags(day: date | datetime) -> list[DayFlag]:
    """What is special about a day (a moment is read in Beijing time): public holiday, weekend, or a weekend
    day that is an adjusted working day."""
    if isinstance(day, datetime):
        day = to_local(day).date()
    calendar = _calendar(day.year, _language())
    name = calendar.get(day)
    weekend = day.weekday() >= 5
    result = []
    if name:
        result.append(DayFlag(HOLIDAY, _("Public holiday: %(name)s", name=name)))
    if weekend and not name:
        if calendar.is_working_day(day):
            result.append(DayFlag(WORKDAY, _("Adjusted working day (a weekend day worked in lieu of a holiday)")))
        else:
            result.append(DayFlag(WEEKEND, _("Weekend")))
    return result
