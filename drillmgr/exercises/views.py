"""Exercise pages: design (objectives, MSEL), the controller's console, the players' screen, evaluation, the
after-action report, the public feedback form and the admins' objective templates."""
from flask import (Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, send_file,
                   url_for)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.enums import Focus
from drillmgr.errors import ServiceError
from drillmgr.exercises import services
from drillmgr.exercises.enums import Rating, SessionStatus
from drillmgr.exercises.forms import (evaluation_payload, feedback_payload, flash_errors, inject_payload,
                                      objective_payload, template_payload)
from drillmgr.web import or_404

bp = Blueprint("exercises", __name__, url_prefix="/exercises")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _drill(drill_id: int):
    return or_404(access.get_visible_drill, current_user, drill_id)


def _design_drill(drill_id: int):
    drill = _drill(drill_id)
    if not access.can_see_exercise_design(current_user, drill):
        abort(404)
    return drill


def _design_url(drill) -> str:
    return url_for("exercises.design", drill_id=drill.id)


def _attempt(step, *args, success: str | None = None):
    """Runs a service step; its errors become flashed messages. Returns True when it succeeded."""
    try:
        step(*args)
    except ServiceError as error:
        flash_errors(error)
        return False
    if success:
        flash(success, "success")
    return True


@bp.app_context_processor
def exercise_helpers():
    def exercise_panel(drill):
        """What the drill page shows of the exercise, or None when the user may see none of it."""
        if not current_user.is_authenticated:
            return None
        session = services.session_of(drill)
        design = access.can_see_exercise_design(current_user, drill)
        live = access.can_view_live_exercise(current_user, drill, session)
        if not (design or (live and session is not None)):
            return None
        return {"design": design, "controller": access.can_design_exercise(current_user, drill),
                "session": session, "objectives": len(services.objectives(drill)) if design else 0,
                "injects": len(services.injects(drill)) if design else 0,
                "evaluator": access.can_evaluate_exercise(current_user, drill),
                "coverage": services.focus_coverage(drill) if design else []}

    return {"exercise_panel": exercise_panel, "SessionStatus": SessionStatus}


# --- design ------------------------------------------------------------------------------------------

@bp.get("/drills/<int:drill_id>")
@login_required
def design(drill_id: int):
    drill = _design_drill(drill_id)
    return render_template(
        "exercises/design.html", drill=drill, objectives=services.objectives(drill), injects=services.injects(drill),
        session=services.session_of(drill), templates=services.templates(), focus_choices=Focus,
        may_design=access.can_design_exercise(current_user, drill))


@bp.post("/drills/<int:drill_id>/objectives")
@login_required
def add_objective(drill_id: int):
    drill = _design_drill(drill_id)
    _attempt(services.add_objective, current_user, drill, objective_payload(request.form),
             success=_("Objective added."))
    return redirect(_design_url(drill) + "#objectives", 303)


@bp.post("/objectives/<int:objective_id>")
@login_required
def update_objective(objective_id: int):
    objective = or_404(services.get_objective, current_user, objective_id)
    data = objective_payload(request.form) | {"version": request.form.get("version", "")}
    _attempt(services.update_objective, current_user, objective, data, success=_("Objective saved."))
    return redirect(url_for("exercises.design", drill_id=objective.drill_id) + "#objectives", 303)


@bp.post("/objectives/<int:objective_id>/delete")
@login_required
def delete_objective(objective_id: int):
    objective = or_404(services.get_objective, current_user, objective_id)
    drill_id = objective.drill_id
    _attempt(services.delete_objective, current_user, objective, success=_("Objective deleted."))
    return redirect(url_for("exercises.design", drill_id=drill_id) + "#objectives", 303)


@bp.post("/drills/<int:drill_id>/injects")
@login_required
def add_inject(drill_id: int):
    drill = _design_drill(drill_id)
    _attempt(services.add_inject, current_user, drill, inject_payload(request.form), success=_("Inject added."))
    return redirect(_design_url(drill) + "#msel", 303)


@bp.post("/injects/<int:inject_id>/delete")
@login_required
def delete_inject(inject_id: int):
    inject = or_404(services.get_inject, current_user, inject_id)
    drill_id = inject.drill_id
    _attempt(services.delete_inject, current_user, inject, success=_("Inject deleted."))
    return redirect(url_for("exercises.design", drill_id=drill_id) + "#msel", 303)


@bp.post("/injects/<int:inject_id>/attachment")
@login_required
def attach(inject_id: int):
    inject = or_404(services.get_inject, current_user, inject_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a map or photo."), "danger")
    else:
        _attempt(services.attach_file, current_user, inject, upload.stream, upload.filename,
                 success=_("Map or photo attached."))
    return redirect(url_for("exercises.design", drill_id=inject.drill_id) + "#msel", 303)


def inject_file_response(inject):
    """The inject's map or photo, to whoever may see the inject (players: once released); never cached."""
    from drillmgr.attachments.services import attachment_path

    attachment = inject.attachment
    if attachment is None:
        abort(404)
    response = send_file(attachment_path(attachment), mimetype=attachment.content_type,
                         as_attachment=attachment.content_type == "application/pdf",
                         download_name=attachment.filename, max_age=0)
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/injects/<int:inject_id>/attachment")
@login_required
def inject_file(inject_id: int):
    return inject_file_response(or_404(services.get_inject, current_user, inject_id))


@bp.post("/drills/<int:drill_id>/seed")
@login_required
def seed(drill_id: int):
    drill = _design_drill(drill_id)
    _attempt(services.seed_from_scenario, current_user, drill, success=_("Injects added from the scenario."))
    return redirect(_design_url(drill) + "#msel", 303)


@bp.get("/drills/<int:drill_id>/msel.xlsx")
@login_required
def export_msel(drill_id: int):
    drill = _design_drill(drill_id)
    return Response(services.msel_xlsx(drill), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="msel-{drill.id}.xlsx"'})


@bp.post("/drills/<int:drill_id>/msel")
@login_required
def import_msel(drill_id: int):
    drill = _design_drill(drill_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file."), "danger")
    else:
        content = upload.stream.read(services.MAX_MSEL_BYTES + 1)
        _attempt(services.import_msel, current_user, drill, content, success=_("The MSEL was imported."))
    return redirect(_design_url(drill) + "#msel", 303)


# --- the live console and the players' screen ---------------------------------------------------------

def _json_error(error: ServiceError):
    return jsonify({"status": error.status, "detail": error.detail, "errors": error.errors}), error.status


@bp.get("/drills/<int:drill_id>/console")
@login_required
def console(drill_id: int):
    drill = _design_drill(drill_id)
    if not access.can_design_exercise(current_user, drill):
        abort(404)
    return render_template("exercises/console.html", drill=drill, state=services.live_state(current_user, drill))


@bp.get("/drills/<int:drill_id>/play")
@login_required
def play(drill_id: int):
    drill = _drill(drill_id)
    try:
        state = services.live_state(current_user, drill)
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
    drill = _drill(drill_id)
    try:
        tick = services.live_tick(current_user, drill)
        if request.args.get("tick") == str(tick):
            return "", 204
        return jsonify(services.live_state(current_user, drill))
    except ServiceError as error:
        return _json_error(error)


@bp.post("/drills/<int:drill_id>/session/<any(start, pause, resume, end):step>")
@login_required
def session_step(drill_id: int, step: str):
    drill = _design_drill(drill_id)
    version = request.form.get("version", "")
    data = {"version": int(version)} if version.isdigit() else {}
    try:
        if step == "start":
            services.start_session(current_user, drill)
        else:
            getattr(services, f"{step}_session")(current_user, drill, data)
    except ServiceError as error:
        flash_errors(error)
    return redirect(url_for("exercises.console", drill_id=drill.id), 303)


@bp.post("/injects/<int:inject_id>/release")
@login_required
def release(inject_id: int):
    inject = or_404(services.get_inject, current_user, inject_id)
    try:
        services.release_inject(current_user, inject)
    except ServiceError as error:
        return _json_error(error)
    return jsonify(services.inject_to_dict(inject))


@bp.post("/drills/<int:drill_id>/release-due")
@login_required
def release_due(drill_id: int):
    drill = _design_drill(drill_id)
    try:
        due = services.release_due(current_user, drill)
    except ServiceError as error:
        return _json_error(error)
    return jsonify({"released": [i.id for i in due]})


@bp.post("/drills/<int:drill_id>/unplanned")
@login_required
def unplanned(drill_id: int):
    drill = _design_drill(drill_id)
    data = {k: v for k, v in inject_payload(request.form).items() if k != "offset_minutes"}
    _attempt(services.add_unplanned, current_user, drill, data, success=_("Unplanned inject released."))
    return redirect(url_for("exercises.console", drill_id=drill.id), 303)


@bp.post("/injects/<int:inject_id>/respond")
@login_required
def respond(inject_id: int):
    inject = or_404(services.get_inject, current_user, inject_id)
    try:
        response = services.respond(current_user, inject, {"decision": request.form.get("decision", "")})
    except ServiceError as error:
        return _json_error(error)
    return jsonify(services.response_to_dict(response)), 201


# --- evaluation ------------------------------------------------------------------------------------------

@bp.route("/drills/<int:drill_id>/evaluate", methods=["GET", "POST"])
@login_required
def evaluate(drill_id: int):
    drill = _design_drill(drill_id)
    if not access.can_evaluate_exercise(current_user, drill):
        abort(404)
    if request.method == "POST":
        objective = or_404(services.get_objective, current_user, request.form.get("objective_id", type=int) or 0)
        if objective.drill_id != drill.id:
            abort(404)
        _attempt(services.save_evaluation, current_user, objective, evaluation_payload(request.form),
                 success=_("Evaluation saved."))
        return redirect(url_for("exercises.evaluate", drill_id=drill.id) + f"#objective-{objective.id}", 303)
    mine = {e.objective_id: e for e in services.evaluations(drill) if e.evaluator_id == current_user.id}
    timeline: dict[int | None, list] = {}
    for row in services.after_action(current_user, drill).timeline:
        timeline.setdefault(row.inject.objective_id, []).append(row)
    return render_template("exercises/evaluate.html", drill=drill, objectives=services.objectives(drill), mine=mine,
                           ratings=Rating, session=services.session_of(drill), timeline=timeline)


# --- report and feedback ----------------------------------------------------------------------------------

@bp.get("/drills/<int:drill_id>/report")
@login_required
def report(drill_id: int):
    drill = _design_drill(drill_id)
    result = services.after_action(current_user, drill)
    return render_template("exercises/report.html", drill=drill, report=result, draft=services.review_draft(result),
                           may_design=access.can_design_exercise(current_user, drill))


@bp.get("/drills/<int:drill_id>/report.docx")
@login_required
def report_docx(drill_id: int):
    drill = _design_drill(drill_id)
    return Response(services.report_docx(services.after_action(current_user, drill)), mimetype=DOCX,
                    headers={"Content-Disposition": f'attachment; filename="aar-{drill.id}.docx"'})


@bp.post("/drills/<int:drill_id>/report/review")
@login_required
def fill_review(drill_id: int):
    drill = _design_drill(drill_id)
    if _attempt(services.fill_review, current_user, drill,
                success=_("The draft was written into the after-action review; edit it and file it there.")):
        return redirect(url_for("drills.detail", drill_id=drill.id) + "#review", 303)
    return redirect(url_for("exercises.report", drill_id=drill.id), 303)


@bp.post("/drills/<int:drill_id>/feedback-links")
@login_required
def feedback_links(drill_id: int):
    drill = _design_drill(drill_id)
    try:
        tokens = services.feedback_tokens(current_user, drill, {"count": request.form.get("count", "1")})
    except ServiceError as error:
        flash_errors(error)
        return redirect(url_for("exercises.report", drill_id=drill.id), 303)
    links = [url_for("exercises.feedback", token=t, _external=True) for t in tokens]
    return render_template("exercises/links.html", drill=drill, links=links)


@bp.route("/feedback/<token>", methods=["GET", "POST"])
def feedback(token: str):
    """The participants' feedback form: no account, a signed expiring link, one answer per link."""
    try:
        drill, respondent = services.read_feedback_token(token)
    except ServiceError:
        abort(404)
    errors = {}
    done = services.feedback_given(drill, respondent)
    if request.method == "POST" and not done:
        try:
            services.submit_feedback(token, feedback_payload(request.form))
            done = True
        except ServiceError as error:
            errors = error.errors or {"": [error.detail]}
            done = services.feedback_given(drill, respondent)
    return render_template("exercises/feedback.html", drill=drill, done=done, errors=errors, form=request.form)


# --- objective templates (admins) -------------------------------------------------------------------------

@bp.route("/templates", methods=["GET", "POST"])
@login_required
def templates():
    if request.method == "POST":
        if not access.can_edit_objective_templates(current_user):
            abort(403)
        template_id = request.form.get("template_id", type=int)
        data = template_payload(request.form)
        if template_id:
            template = or_404(services.get_template, template_id)
            _attempt(services.update_template, current_user, template,
                     data | {"version": request.form.get("version", "")},
                     success=_("Template saved."))
        else:
            _attempt(services.create_template, current_user, data, success=_("Template added."))
        return redirect(url_for("exercises.templates"), 303)
    return render_template("exercises/templates.html", templates=services.templates(active_only=False),
                           focus_choices=Focus, may_edit=access.can_edit_objective_templates(current_user))
