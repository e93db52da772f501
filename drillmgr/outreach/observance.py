"""Observance-day campaigns (DESIGN §3 rule 6): they count only when held inside the window around their day
(default ±3 days, `OUTREACH_OBSERVANCE_WINDOW_DAYS`, or the year's `observance-campaigns` compliance rule).
`counts_toward_observance` and its SQL form `counted_campaign_clause` agree, so the page and the rule agree."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import format_date
from flask_babel import gettext as _

from drillmgr.compliance.models import ComplianceRule
from drillmgr.enums import ObservanceDay, OutreachKind
from drillmgr.extensions import db
from drillmgr.outreach.models import OutreachActivity

DEFAULT_WINDOW_DAYS = 3
OBSERVANCE_RULE_KEY = "observance-campaigns"


def window_days(year: int | None = None) -> int:
    """Days either side of an observance day: the year's `observance-campaigns` compliance rule decides
    (admins edit it), else OUTREACH_OBSERVANCE_WINDOW_DAYS, else 3."""
    if year is not None:
        params = db.session.scalar(
            sa.select(ComplianceRule.params).where(
                ComplianceRule.key == OBSERVANCE_RULE_KEY, ComplianceRule.year == year
            )
        )
        if params and isinstance(params.get("window_days"), int):
            return int(params["window_days"])
    if has_app_context():
        return int(current_app.config.get("OUTREACH_OBSERVANCE_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))
    return DEFAULT_WINDOW_DAYS


def observance_date(day: ObservanceDay, year: int) -> date:
    month, day_of_month = day.month_day
    return date(year, month, day_of_month)


def observance_window(day: ObservanceDay, year: int, days: int | None = None) -> tuple[date, date]:
    """First and last date (inclusive) on which a campaign for `day` in `year` counts."""
    centre = observance_date(day, year)
    spread = timedelta(days=window_days(year) if days is None else days)
    return centre - spread, centre + spread


@dataclass(frozen=True)
class ObservanceVerdict:
    counts: bool
    reason: str


def observance_verdict(activity: OutreachActivity, days: int | None = None) -> ObservanceVerdict | None:
    """Whether a campaign counts towards its observance day, and why not; None for other kinds."""
    if activity.kind != OutreachKind.OBSERVANCE_CAMPAIGN or activity.observance_day is None:
        return None
    day = ObservanceDay(activity.observance_day)
    first, last = observance_window(day, activity.held_on.year, days)
    if first <= activity.held_on <= last:
        return ObservanceVerdict(
            True,
            _(
                "Held within the window around %(day)s (%(first)s – %(last)s).",
                day=day.label,
                first=format_date(first),
                last=format_date(last),
            ),
        )
    return ObservanceVerdict(
        False,
        _(
            "Recorded but not counted: held on %(held)s, outside the window around %(day)s (%(first)s – %(last)s).",
            held=format_date(activity.held_on),
            day=day.label,
            first=format_date(first),
            last=format_date(last),
        ),
    )


def counts_toward_observance(activity: OutreachActivity, days: int | None = None) -> bool:
    verdict = observance_verdict(activity, days)
    return verdict is not None and verdict.counts


def counted_campaign_clause(year: int, days: int | None = None) -> sa.ColumnElement[bool]:
    """SQL form of counts_toward_observance for one calendar year: campaigns held inside their window."""
    days = window_days(year) if days is None else days
    windows = []
    for day in ObservanceDay:
        first, last = observance_window(day, year, days)
        windows.append(sa.and_(OutreachActivity.observance_day == day, OutreachActivity.held_on.between(first, last)))
    return sa.and_(OutreachActivity.kind == OutreachKind.OBSERVANCE_CAMPAIGN, sa.or_(*windows))


def verdicts(activities: Iterable[OutreachActivity]) -> dict[int, ObservanceVerdict | None]:
    """observance_verdict for a page of activities, reading each year's window once."""
    activities = list(activities)
    windows = {year: window_days(year) for year in {a.held_on.year for a in activities}}
    return {a.id: observance_verdict(a, windows[a.held_on.year]) for a in activities}
