"""The plan form: planning a drill or a recurring series (previewed before it is made) and changing a drill or the
following drills of its series, with the form's weekend/holiday hint."""

import json
from datetime import date

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.db import utcnow
from drillmgr.drills import choices, key_links, lifecycle, queries, series, series_changes, workdays
from drillmgr.drills.blueprint import (
    bp,
    changeable_drill,
    keep_current,
    picker,
    preview_token,
    rule_errors_on_repeat,
    show_errors,
)
from drillmgr.drills.forms import COUNT_LABELS, DrillPlanForm
from drillmgr.drills.models import Drill
from drillmgr.drills.series_schemas import DayFlagSchema
from drillmgr.enums import Role
from drillmgr.errors import ServiceError
from drillmgr.localtime import to_local


def _plan_form(form: DrillPlanForm, drill: Drill | None = None) -> DrillPlanForm:
    form.organizer.choices = choices.organiser_choices(current_user)
    form.region_code.choices = [("", _("Same as the organiser"))] + [
        (r.code, r.indented_name) for r in choices.visible_regions(current_user)
    ]
    form.participant_org_ids.choices = choices.participant_choices(current_user)
    form.evaluator_ids.choices = choices.evaluator_choices(current_user)
    if drill is not None:
        _keep_drill_choices(form, drill)
    return form


def _keep_drill_choices(form: DrillPlanForm, drill: Drill) -> None:
    """The drill's current participants, evaluators, region and organiser stay among the choices."""
    keep_current(form.participant_org_ids, [(o.id, o.name) for o in drill.participants])
    keep_current(form.evaluator_ids, [(u.id, u.display_name or u.username) for u in drill.evaluators])
    if drill.region_code not in {c for c, _label in form.region_code.choices}:
        form.region_code.choices.append((drill.region_code, drill.region.name))
    organizer = f"org:{drill.organizer_org_id}" if drill.organizer_org_id else f"region:{drill.organizer_region_code}"
    if organizer not in {c for c, _label in form.organizer.choices}:
        form.organizer.choices.append((organizer, drill.organizer_name))


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


def _form_page(form: DrillPlanForm, drill: Drill | None = None, conflict: bool = False, **context):
    return render_template(
        "drills/form.html",
        plan=form,
        drill=drill,
        key_values=_key_values(form),
        count_labels=COUNT_LABELS,
        conflict=conflict,
        picker=picker(form, drill),
        **({"preview": None} | context),
    )


def _saved(drill: Drill):
    flash(_("Drill “%(title)s” saved.", title=drill.title), "success")
    for warning in key_links.planning_warnings(drill):
        flash(warning, "warning")
    return redirect(url_for("drills.detail", drill_id=drill.id))


def _series_step(data: dict):
    """A series is shown before it is made (its dates, each flagged if a weekend or holiday), then made."""
    if request.form.get("preview_token") != preview_token(data):
        return None, series.preview_series(current_user, data)
    created = series.create_series(current_user, data)
    made = queries.series_occurrences(current_user, created.id)
    flash(_("Recurring drill created with %(n)d occurrences.", n=len(made)), "success")
    return redirect(url_for("drills.detail", drill_id=made[0].id) if made else url_for("drills.index")), None


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    if not access.can_plan_drills(current_user):
        abort(403)
    form = _plan_form(DrillPlanForm())
    if request.method == "GET" and current_user.role == Role.ORG_STAFF and current_user.org_id:
        form.organizer.data = f"org:{current_user.org_id}"
    if not form.validate_on_submit():
        return _form_page(form)
    payload = form.to_payload()
    try:
        if form.rule():
            data = payload | {"rrule": form.rule()}
            done, preview = _series_step(data)
            return done or _form_page(form, preview=preview, preview_token=preview_token(data))
        if form.already_held.data:
            payload["participation"] = form.participation_payload()
        drill = lifecycle.create_drill(current_user, payload)
    except ServiceError as error:
        show_errors(form, rule_errors_on_repeat(form, error))
        return _form_page(form)
    return _saved(drill)


@bp.route("/<int:drill_id>/edit", methods=["GET", "POST"])
@login_required
def edit(drill_id: int):
    drill = changeable_drill(drill_id)
    if drill is None:
        return redirect(url_for("drills.detail", drill_id=drill_id))
    form = _plan_form(DrillPlanForm(), drill)
    if request.method == "GET":
        form.fill_from(drill)
    if not form.validate_on_submit():
        return _form_page(form, drill)
    following = bool(drill.series_id) and form.apply_to.data == "following"
    try:
        if following:
            series_changes.update_following(current_user, drill, form.to_payload())
        else:
            lifecycle.update_drill(current_user, drill, form.to_payload())
    except ServiceError as error:
        return _form_page(form, drill, conflict=show_errors(form, error))
    if following:
        flash(_("This drill and the following ones of the series were changed."), "success")
        return redirect(url_for("drills.detail", drill_id=drill.id))
    return _saved(drill)


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
