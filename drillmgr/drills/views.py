"""Drill pages that show drills: the list (an agenda when opened without dates), the month calendar and a drill's
page, with the template helpers they and the organisation page use."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import flash, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.attachments import services as attachments
from drillmgr.attachments.forms import AttachmentForm
from drillmgr.audit.changes import changes
from drillmgr.db import utcnow
from drillmgr.drillday.services import JUST_ENDED
from drillmgr.drills import bulk, choices, guards, queries, rules, schemas
from drillmgr.drills.blueprint import bp, visible_drill
from drillmgr.drills.forms import COUNT_LABELS
from drillmgr.enums import Condition, DrillForm, DrillStatus, Role
from drillmgr.errors import ServiceError
from drillmgr.extensions import db

from drillmgr.localtime import local_zone, to_local

DRILL_DAY_AHEAD = timedelta(hours=12)

ACTION_LABELS = {
    "drill.create": _l("Planned"),
    "drill.update": _l("Changed"),
    "drill.cancel": _l("Cancelled"),
    "drill.complete": _l("Completed with participation"),
    "drill.participation": _l("Participation corrected"),
    "attachment.add": _l("File added"),
    "attachment.delete": _l("File removed"),
    "review.save": _l("After-action review saved"),
    "review.submit": _l("Submitted the review for filing"),
    "review.accept": _l("Accepted and filed"),
    "review.return": _l("Returned for revision"),
    "review.reopen": _l("Reopened the filing"),
    "finding.create": _l("Finding recorded"),
    "finding.update": _l("Finding changed"),
}
CALENDAR_PER_DAY = 5
AGENDA_PAST, AGENDA_AHEAD = timedelta(days=14), timedelta(days=60)


def _filters():
    try:
        return queries.read_filters(request.args)
    except ServiceError as error:
        for messages in error.errors.values():
            for message in messages:
                flash(message, "warning")
        return queries.DrillFilters()


def _filter_context() -> dict:
    regions = choices.visible_regions(current_user) if current_user.role != Role.ORG_STAFF else []
    region = request.args.get("region") or None
    # Prefecture-wide, the unit list would be thousands long: admins choose a region first.
    units = choices.unit_filter_choices(current_user, region) if region or current_user.role != Role.ADMIN else []
    # Hundreds of units: each option compared as text with what was chosen, without a filter call per option.
    return {
        "regions": regions,
        "units": [(str(unit_id), name) for unit_id, name in units],
        "chosen": {name: request.args.get(name, "") for name in ("region", "form", "status", "org")},
        "forms": DrillForm,
        "statuses": DrillStatus,
    }


@bp.get("/")
@login_required
def index():
    filters = _filters()
    # Opened without dates, the list is an agenda: the drills that just passed (to record) and the coming weeks.
    agenda = "from" not in request.args and "to" not in request.args
    if agenda:
        today = to_local(utcnow()).date()
        filters.date_from, filters.date_to = today - AGENDA_PAST, today + AGENDA_AHEAD
    query = queries.drill_query(current_user, filters, chronological=agenda)
    pagination = db.paginate(query, page=request.args.get("page", 1, type=int), per_page=25, error_out=False)
    return render_template(
        "drills/index.html",
        pagination=pagination,
        can_plan=access.can_plan_drills(current_user),
        can_plan_many=bulk.may_plan_for_many(current_user),
        agenda=agenda,
        shown_from=filters.date_from,
        shown_to=filters.date_to,
        **_filter_context(),
    )


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """A drill as a calendar cell and the phone's agenda show it, its link and local time made once."""

    id: int
    href: str
    time: str
    title: str
    organizer_name: str
    status: DrillStatus
    form: DrillForm
    double_blind: bool


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    entries: list[CalendarEntry]
    hidden: int  # the day's other drills, behind a link to the list of that day
    more_href: str


def _calendar_weeks(weeks: list[list[tuple[date, list[Any], int]]], args: dict[str, Any]) -> list[list[CalendarDay]]:
    zone = local_zone()

    def entry(row: Any) -> CalendarEntry:
        return CalendarEntry(
            row.id,
            url_for("drills.detail", drill_id=row.id),
            row.starts_at.astimezone(zone).strftime("%H:%M"),
            row.title,
            row.organizer_name,
            row.status,
            row.form,
            row.double_blind,
        )

    def day_of(day: date, rows: list[Any], total: int) -> CalendarDay:
        hidden = total - len(rows)
        more = url_for("drills.index", **{**args, "from": day.isoformat(), "to": day.isoformat()}) if hidden else ""
        return CalendarDay(day, [entry(r) for r in rows], hidden, more)

    return [[day_of(*cell) for cell in week] for week in weeks]


@bp.get("/calendar")
@login_required
def calendar():
    today = to_local(utcnow()).date()
    year = request.args.get("year", today.year, type=int)
    month = request.args.get("month", today.month, type=int)
    if not (1990 <= year <= 2100 and 1 <= month <= 12):
        year, month = today.year, today.month
    args = {k: v for k, v in request.args.items() if k not in ("year", "month", "page")}
    weeks = _calendar_weeks(queries.month_grid(current_user, year, month, _filters(), per_day=CALENDAR_PER_DAY), args)
    previous = (year - (month == 1), (month - 2) % 12 + 1)
    following = (year + (month == 12), month % 12 + 1)
    return render_template(
        "drills/calendar.html",
        weeks=weeks,
        year=year,
        month=month,
        today=today,
        first=date(year, month, 1),
        previous=previous,
        following=following,
        args=args,
        can_plan=access.can_plan_drills(current_user),
        **_filter_context(),
    )


@bp.get("/<int:drill_id>")
@login_required
def detail(drill_id: int):
    drill = visible_drill(drill_id)
    can_edit = access.can_edit_drill(current_user, drill)
    filed = guards.is_filed(drill)
    upload_form = AttachmentForm() if can_edit and not filed and drill.status != DrillStatus.CANCELLED else None
    siblings = queries.series_occurrences(current_user, drill.series_id) if drill.series_id else []
    now = utcnow()
    # The drill-day screen (stopwatch, roll call by group, photos; works offline) from today's drill's page, for
    # the organising unit's own staff (the phone keeps their unit's groups and drills).
    drill_day = (
        can_edit
        and not filed
        and drill.status == DrillStatus.PLANNED
        and drill.organizer_org_id is not None
        and drill.organizer_org_id == current_user.org_id
        and drill.starts_at < now + DRILL_DAY_AHEAD
        and drill.ends_at > now - JUST_ENDED
    )
    return render_template(
        "drills/detail.html",
        drill=drill,
        can_edit=can_edit,
        target=schemas.evacuation_target(drill),
        trend=queries.trend_for(current_user, drill),
        files=attachments.drill_attachments(drill),
        upload_form=upload_form,
        siblings=siblings,
        history=queries.drill_history(drill),
        action_labels=ACTION_LABELS,
        condition_labels={c.value: c.label for c in Condition},
        rule_text=rules.describe_rule(drill.series.rrule)
        if drill.series and access.can_see_series_plan(current_user, drill.series)
        else None,
        count_labels=COUNT_LABELS,
        now=now,
        filed=filed,
        drill_day=drill_day,
    )


@bp.app_template_global()
def evacuation_chart_top(values, target) -> float:
    return queries.chart_top(list(values), target)


@bp.app_template_global()
def changes_of(entry) -> list:
    """What an audit entry changed, field by field, for the history lists."""
    return changes(entry)


@bp.app_template_global()
def drill_org_panel(org) -> dict:
    """The evacuation trend and recent drills of a unit, for its organisation page."""
    recent = db.session.scalars(queries.drill_query(current_user, queries.DrillFilters(org=org.id)).limit(10))
    return {
        "trend": queries.evacuation_trend(current_user, org.id),
        "recent": list(recent),
        "target": org.evacuation_target,
    }
