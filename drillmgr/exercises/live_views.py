"""The live exercise: the controller's console (session steps, releasing injects), the players' screen and the
state both poll."""

from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.errors import ServiceError
from drillmgr.exercises import conduct, injects, sessions
from drillmgr.exercises.blueprint import attempt, bp, design_drill, visible_drill
from drillmgr.exercises.forms import InjectForm, ResponseForm, SessionStepForm, flash_errors, validated
from drillmgr.exercises.schemas import InjectResponseSchema, InjectSchema
from drillmgr.web import or_404


def _json_error(error: ServiceError):
    return jsonify({"status": error.status, "detail": error.detail, "errors": error.errors}), error.status


@bp.get("/drills/<int:drill_id>/console")
@login_required
def console(drill_id: int):
    drill = design_drill(drill_id)
    if not access.can_design_exercise(current_user, drill):
        abort(404)
    return render_template("exercises/console.html", drill=drill, state=conduct.live_state(current_user, drill))


@bp.get("/drills/<int:drill_id>/play")
@login_required
def play(drill_id: int):
    drill = visible_drill(drill_id)
    try:
        state = conduct.live_state(current_user, drill)
    except ServiceError:
        abort(404)
    if state["session"]["status"] == "not_started" and not state["controller"]:
        abort(404)
    return render_template("exercises/play.html", drill=drill, state=state)


@bp.get("/drills/<int:drill_id>/live.json")
@login_required
def live(drill_id: int):
    """Polled by the console and the players' screens: a 204 while nothing changed (`tick`), else the state.
    Each poll is one short request, so twenty screens never hold twenty workers."""
    drill = visible_drill(drill_id)
    try:
        tick = conduct.live_tick(current_user, drill)
        if request.args.get("tick") == str(tick):
            return "", 204
        return jsonify(conduct.live_state(current_user, drill))
    except ServiceError as error:
        return _json_error(error)


STEPS = {"pause": sessions.pause_session, "resume": sessions.resume_session, "end": sessions.end_session}


@bp.post("/drills/<int:drill_id>/session/<any(start, pause, resume, end):step>")
@login_required
def session_step(drill_id: int, step: str):
    drill = design_drill(drill_id)
    data = SessionStepForm().to_payload()
    try:
        if step == "start":
            sessions.start_session(current_user, drill)
        else:
            STEPS[step](current_user, drill, data)
    except ServiceError as error:
        flash_errors(error)
    return redirect(url_for("exercises.console", drill_id=drill.id), 303)


@bp.post("/injects/<int:inject_id>/release")
@login_required
def release(inject_id: int):
    inject = or_404(injects.get_inject, current_user, inject_id)
    try:
        conduct.release_inject(current_user, inject)
    except ServiceError as error:
        return _json_error(error)
    return jsonify(InjectSchema().dump(inject))


@bp.post("/drills/<int:drill_id>/release-due")
@login_required
def release_due(drill_id: int):
    drill = design_drill(drill_id)
    try:
        due = conduct.release_due(current_user, drill)
    except ServiceError as error:
        return _json_error(error)
    return jsonify({"released": [i.id for i in due]})


@bp.post("/drills/<int:drill_id>/unplanned")
@login_required
def unplanned(drill_id: int):
    drill = design_drill(drill_id)
    form = InjectForm()
    if validated(form):
        attempt(
            conduct.add_unplanned,
            current_user,
            drill,
            form.unplanned_payload(),
            success=_("Unplanned inject released."),
        )
    return redirect(url_for("exercises.console", drill_id=drill.id), 303)


@bp.post("/injects/<int:inject_id>/respond")
@login_required
def respond(inject_id: int):
    inject = or_404(injects.get_inject, current_user, inject_id)
    try:
        response = conduct.respond(current_user, inject, ResponseForm().to_payload())
    except ServiceError as error:
        return _json_error(error)
    return jsonify(InjectResponseSchema().dump(response)), 201
