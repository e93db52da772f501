"""Drill pages: list, month calendar, detail, and the forms to plan, change, reschedule, cancel and complete."""

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from drillmgr.access import services as access
from drillmgr.attachments import services as attachments
from drillmgr.attachments.forms import AttachmentForm
from drillmgr.audit.changes import changes
from drillmgr.db import utcnow
from drillmgr.drillday.services import JUST_ENDED
from drillmgr.drills import (
    bulk,
    choices,
    guards,
    key_links,
    lifecycle,
    queries,
    rules,
    schemas,
    series,
    series_changes,
    workdays,
)
from drillmgr.drills.forms import (
    COUNT_LABELS,
    BulkPlanForm,
    CancelForm,
    CompleteForm,
    DrillPlanForm,
    RescheduleForm,
    SeriesEndForm,
)
from drillmgr.drills.models import Drill
from drillmgr.drills.series_schemas import DayFlagSchema
from drillmgr.enums import Condition, DrillForm, DrillStatus, Role
from drillmgr.errors import Conflict, ServiceError
from drillmgr.extensions import db
from drillmgr.forms import apply_service_errors
from drillmgr.localtime import to_local
from drillmgr.web import or_404

DRILL_DAY_AHEAD = timedelta(hours=12)
bp = Blueprint("drills", __name__, url_prefix="/drills")

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
# Service error keys that a form shows under a differently named field.
FIELD_ALIASES = {"organizer_org_id": "organizer", "organizer_region_code": "organizer"}


def _visible_drill(drill_id: int):
    return or_404(access.get_visible_drill, current_user, drill_id)


def _editable_drill(drill_id: int):
    drill = _visible_drill(drill_id)
    if not access.can_edit_drill(current_user, drill):
        abort(403)
    return drill


def _changeable_drill(drill_id: int):
    """The drill for a page that changes it, or None when it is filed (the caller goes back to the drill)."""
    drill = _editable_drill(drill_id)
    if guards.is_filed(drill):
        flash(guards.filed_message(), "warning")
        return None
    return drill


def _show_errors(form, error: ServiceError) -> bool:
    """Puts the errors on the form; returns True for a conflict (the template offers to reload)."""
    if isinstance(error, Conflict) and "version" in error.errors:
        return True
    renamed = type(error)(
        error.detail, {FIELD_ALIASES.get(k, k.rsplit(".", 1)[-1]): v for k, v in error.errors.items()}
    )
    if "counts" in renamed.errors and hasattr(form, "counts_errors"):
        form.counts_errors = renamed.errors.pop("counts")
    for message in apply_service_errors(form, renamed):
        flash(message, "danger")
    return False


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
    return {"regions": regions, "units": units, "forms": DrillForm, "statuses": DrillStatus}


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


@bp.get("/calendar")
@login_required
def calendar():
    today = to_local(utcnow()).date()
    year = request.args.get("year", today.year, type=int)
    month = request.args.get("month", today.month, type=int)
    if not (1990 <= year <= 2100 and 1 <= month <= 12):
        year, month = today.year, today.month
    weeks = queries.month_grid(current_user, year, month, _filters())
    previous = (year - (month == 1), (month - 2) % 12 + 1)
    following = (year + (month == 12), month % 12 + 1)
    args = {k: v for k, v in request.args.items() if k not in ("year", "month", "page")}
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
        per_day=CALENDAR_PER_DAY,
        can_plan=access.can_plan_drills(current_user),
        **_filter_context(),
    )


@bp.get("/<int:drill_id>")
@login_required
def detail(drill_id: int):
    drill = _visible_drill(drill_id)
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


def _plan_form(form: DrillPlanForm, drill=None) -> DrillPlanForm:
    form.organizer.choices = choices.organiser_choices(current_user)
    form.region_code.choices = [("", _("Same as the organiser"))] + [
        (r.code, r.indented_name) for r in choices.visible_regions(current_user)
    ]
    form.participant_org_ids.choices = choices.participant_choices(current_user)
    form.evaluator_ids.choices = choices.evaluator_choices(current_user)
    if drill is not None:
        _keep_current(form.participant_org_ids, [(o.id, o.name) for o in drill.participants])
        _keep_current(form.evaluator_ids, [(u.id, u.display_name or u.username) for u in drill.evaluators])
        if drill.region_code not in {c for c, _label in form.region_code.choices}:
            form.region_code.choices.append((drill.region_code, drill.region.name))
        organizer = (
            f"org:{drill.organizer_org_id}" if drill.organizer_org_id else f"region:{drill.organizer_region_code}"
        )
        if organizer not in {c for c, _label in form.organizer.choices}:
            form.organizer.choices.append((organizer, drill.organizer_name))
    return form


def _keep_current(field, current: list[tuple[int, str]]) -> None:
    """A drill's existing participants stay choosable even if outside the editor's own scope."""
    known = {value for value, _label in field.choices}
    field.choices = list(field.choices) + [c for c in current if c[0] not in known]


def _key_values(form: DrillPlanForm) -> str:
    """Organiser and region values inside a key county, for the form's key-link preselection."""
    key_regions = key_links.key_county_region_codes()
    values = [code for code, _label in form.region_code.choices if code in key_regions]
    values += [
        value for value, _label in form.organizer.choices if value.startswith("region:") and value[7:] in key_regions
    ]
    values += [
        f"org:{org_id}"
        for org_id in key_links.org_ids_in_regions(
            [int(v[4:]) for v, _l in form.organizer.choices if v.startswith("org:")], key_regions
        )
    ]
    return json.dumps(values)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    if not access.can_plan_drills(current_user):
        abort(403)
    form = _plan_form(DrillPlanForm())
    if request.method == "GET" and current_user.role == Role.ORG_STAFF and current_user.org_id:
        form.organizer.data = f"org:{current_user.org_id}"
    preview = None
    if form.validate_on_submit():
        payload = form.to_payload()
        try:
            if form.rule():
                data = payload | {"rrule": form.rule()}
                if request.form.get("preview_token") != _preview_token(data):
                    # A series is shown before it is made: its dates, each flagged if a weekend or holiday.
                    preview = series.preview_series(current_user, data)
                    return render_template(
                        "drills/form.html",
                        plan=form,
                        drill=None,
                        key_values=_key_values(form),
                        count_labels=COUNT_LABELS,
                        conflict=False,
                        preview=preview,
                        preview_token=_preview_token(data),
                        picker=_picker(form),
                    )
                created = series.create_series(current_user, data)
                made = queries.series_occurrences(current_user, created.id)
                flash(_("Recurring drill created with %(n)d occurrences.", n=len(made)), "success")
                return redirect(url_for("drills.detail", drill_id=made[0].id) if made else url_for("drills.index"))
            if form.already_held.data:
                payload["participation"] = form.participation_payload()
            drill = lifecycle.create_drill(current_user, payload)
        except ServiceError as error:
            _show_errors(form, _rule_errors_on_repeat(form, error))
        else:
            flash(_("Drill “%(title)s” saved.", title=drill.title), "success")
            for warning in key_links.planning_warnings(drill):
                flash(warning, "warning")
            return redirect(url_for("drills.detail", drill_id=drill.id))
    return render_template(
        "drills/form.html",
        plan=form,
        drill=None,
        key_values=_key_values(form),
        count_labels=COUNT_LABELS,
        conflict=False,
        preview=preview,
        picker=_picker(form),
    )


def _rule_errors_on_repeat(form, error: ServiceError) -> ServiceError:
    """A preset's rule (with its end) is not typed: its errors show under the repeat choice."""
    if "rrule" not in error.errors or form.repeat.data == "custom":
        return error
    return type(error)(error.detail, {("repeat" if k == "rrule" else k): v for k, v in error.errors.items()})


def _preview_token(data: dict) -> str:
    """Ties "create" to the very input that was previewed: changed input is previewed again."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{current_user.id}:{text}".encode()).hexdigest()


def _picker(form, drill=None) -> dict:
    """The participant picker: units with kind and township, for searching and choosing by township."""
    units = choices.participant_picker(current_user)
    if drill is not None:
        known = {u["id"] for u in units}
        units += [
            {
                "id": o.id,
                "name": o.name,
                "kind": o.kind.value,
                "kind_label": o.kind.label,
                "township": "",
                "township_name": "",
            }
            for o in drill.participants
            if o.id not in known
        ]
    townships = sorted({(u["township"], u["township_name"]) for u in units if u["township"]})
    return {"units": units, "townships": townships, "chosen": set(form.participant_org_ids.data or [])}


@bp.get("/day-flags")
@login_required
def day_flags():
    """Weekend / holiday / adjusted working day of a date (today without one), for the plan form's hint."""
    try:
        day = (
            date.fromisoformat(request.args.get("day", "")[:10])
            if request.args.get("day")
            else to_local(utcnow()).date()
        )
    except ValueError:
        return jsonify({"flags": []}), 422
    if not 1990 <= day.year <= 2100:
        return jsonify({"flags": []}), 422
    return jsonify({"flags": DayFlagSchema(many=True).dump(workdays.flags(day))})


@bp.route("/bulk", methods=["GET", "POST"])
@login_required
def bulk_plan():
    """One plan for every unit of chosen kinds in a region: fill in, preview, create, see the summary."""
    if not bulk.may_plan_for_many(current_user):
        abort(403)
    form = BulkPlanForm()
    regions = bulk.region_choices(current_user)
    form.region_code.choices = [(r.code, r.indented_name) for r in regions]
    if request.method == "GET" and current_user.region_code:
        form.region_code.data = current_user.region_code
    preview = token = None
    if form.validate_on_submit():
        data = form.to_payload()
        try:
            token = _preview_token(data)
            if request.form.get("preview_token") != token:
                preview = bulk.read_plan(current_user, data)
            else:
                key, plan = bulk.make_plan(current_user, data)
                flash(
                    _("Planned: %(n)d drills for %(units)d units.", n=plan.drill_count, units=len(plan.units)),
                    "success",
                )
                return redirect(url_for("drills.batch", key=key))
        except ServiceError as error:
            token = None
            error = _rule_errors_on_repeat(form, error)
            _show_errors(
                form,
                type(error)(error.detail, {("kinds" if k == "org_ids" else k): v for k, v in error.errors.items()}),
            )
    return render_template(
        "drills/bulk.html",
        plan=form,
        preview=preview,
        preview_token=token,
        max_units=bulk.MAX_UNITS,
        max_drills=bulk.MAX_DRILLS,
    )


@bp.get("/batches/<key>")
@login_required
def batch(key: str):
    summary = or_404(bulk.batch_summary, current_user, key)
    return render_template("drills/batch.html", summary=summary)


def _series_drill(drill_id: int):
    drill = _editable_drill(drill_id)
    if drill.series_id is None:
        abort(404)
    return drill


@bp.route("/<int:drill_id>/cancel-following", methods=["GET", "POST"], endpoint="cancel_following")
@bp.route("/<int:drill_id>/end-series", methods=["GET", "POST"], endpoint="end_series")
@login_required
def series_end(drill_id: int):
    """ "Cancel this and all following" and "end the series here", one step each."""
    include_this = request.endpoint == "drills.cancel_following"
    drill = _series_drill(drill_id)

    def change(data: dict) -> str:
        cancelled = series_changes.end_series(current_user, drill, data, include_this=include_this)
        return _("%(n)d drills of the series cancelled; the series makes no more.", n=len(cancelled))

    return _change_page(
        drill,
        SeriesEndForm(),
        change,
        "drills/series_end.html",
        include_this=include_this,
        affected=queries.following_occurrences(drill, include_this),
    )


def _change_page(drill: Drill, form: FlaskForm, change: Callable[[dict], str], template: str, **context) -> Any:
    """A page that changes the drill with one service call: `change(payload)` returns what to tell the user, who
    goes back to the drill; the service's errors (or a conflict) show on the form again."""
    if request.method == "GET":
        form.fill_from(drill)
    conflict = False
    if form.validate_on_submit():
        try:
            done = change(form.to_payload())
        except ServiceError as error:
            conflict = _show_errors(form, error)
        else:
            flash(done, "success")
            return redirect(url_for("drills.detail", drill_id=drill.id))
    return render_template(template, form=form, drill=drill, conflict=conflict, **context)


@bp.route("/<int:drill_id>/edit", methods=["GET", "POST"])
@login_required
def edit(drill_id: int):
    drill = _changeable_drill(drill_id)
    if drill is None:
        return redirect(url_for("drills.detail", drill_id=drill_id))
    form = _plan_form(DrillPlanForm(), drill)
    if request.method == "GET":
        form.fill_from(drill)
    conflict = False
    if form.validate_on_submit():
        try:
            if drill.series_id and form.apply_to.data == "following":
                series_changes.update_following(current_user, drill, form.to_payload())
                flash(_("This drill and the following ones of the series were changed."), "success")
            else:
                lifecycle.update_drill(current_user, drill, form.to_payload())
                flash(_("Drill “%(title)s” saved.", title=drill.title), "success")
                for warning in key_links.planning_warnings(drill):
                    flash(warning, "warning")
        except ServiceError as error:
            conflict = _show_errors(form, error)
        else:
            return redirect(url_for("drills.detail", drill_id=drill.id))
    return render_template(
        "drills/form.html",
        plan=form,
        drill=drill,
        key_values=_key_values(form),
        count_labels=COUNT_LABELS,
        conflict=conflict,
        preview=None,
        picker=_picker(form, drill),
    )


@bp.route("/<int:drill_id>/reschedule", methods=["GET", "POST"])
@login_required
def reschedule(drill_id: int):
    drill = _changeable_drill(drill_id)
    if drill is None:
        return redirect(url_for("drills.detail", drill_id=drill_id))

    def change(data: dict) -> str:
        lifecycle.update_drill(current_user, drill, data)
        return _("Drill rescheduled; calendar subscribers will see the new time.")

    return _change_page(drill, RescheduleForm(), change, "drills/reschedule.html")


@bp.route("/<int:drill_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(drill_id: int):
    drill = _editable_drill(drill_id)

    def change(data: dict) -> str:
        lifecycle.cancel_drill(current_user, drill, data)
        return _("Drill cancelled.")

    return _change_page(drill, CancelForm(), change, "drills/cancel.html")


@bp.route("/<int:drill_id>/complete", methods=["GET", "POST"])
@login_required
def complete(drill_id: int):
    drill = _changeable_drill(drill_id)
    if drill is None:
        return redirect(url_for("drills.detail", drill_id=drill_id))
    form = CompleteForm()
    form.participant_org_ids.choices = choices.participant_choices(current_user)
    _keep_current(form.participant_org_ids, [(o.id, o.name) for o in drill.participants])

    def change(data: dict) -> str:
        lifecycle.complete_drill(current_user, drill, data)
        return _("Participation recorded; the drill is completed.")

    return _change_page(
        drill,
        form,
        change,
        "drills/complete.html",
        picker=_picker(form, drill),
        count_labels=COUNT_LABELS,
        target=schemas.evacuation_target(drill),
    )


@bp.app_template_global()
def drill_org_panel(org) -> dict:
    """The evacuation trend and recent drills of a unit, for its organisation page."""
    recent = db.session.scalars(queries.drill_query(current_user, queries.DrillFilters(org=org.id)).limit(10))
    return {
        "trend": queries.evacuation_trend(current_user, org.id),
        "recent": list(recent),
        "target": org.evacuation_target,
    }
