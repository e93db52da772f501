"""Exercise pages: design (objectives, MSEL), the controller's console, the players' screen, evaluation, the
after-action report, the public feedback form and the admins' objective templates."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from drillmgr.access import services as access
from drillmgr.enums import Focus
from drillmgr.errors import ServiceError
from drillmgr.exercises import (
    aar,
    conduct,
    evaluations,
    inject_files,
    injects,
    msel,
    objective_templates,
    objectives,
    sessions,
)
from drillmgr.exercises import feedback as participant_feedback
from drillmgr.exercises.downloads import inject_file_response, msel_file_response, report_file_response
from drillmgr.exercises.enums import Rating, SessionStatus
from drillmgr.exercises.forms import (
    EvaluationForm,
    FeedbackForm,
    FeedbackLinksForm,
    InjectForm,
    ObjectiveForm,
    ResponseForm,
    SessionStepForm,
    TemplateForm,
    exercise_limit,
    flash_errors,
    validated,
)
from drillmgr.exercises.schemas import InjectResponseSchema, InjectSchema
from drillmgr.web import or_404

bp = Blueprint("exercises", __name__, url_prefix="/exercises")


def _drill(drill_id: int):
    return or_404(access.get_visible_drill, current_user, drill_id)


def _design_drill(drill_id: int):
    drill = _drill(drill_id)
    if not access.can_see_exercise_design(current_user, drill):
        abort(404)
    return drill


def _back_to_design(drill_id: int, part: str) -> WerkzeugResponse:
    """The design page again, at its `part` (objectives, msel)."""
    return redirect(url_for("exercises.design", drill_id=drill_id) + f"#{part}", 303)


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
        session = sessions.session_of(drill)
        design = access.can_see_exercise_design(current_user, drill)
        live = access.can_view_live_exercise(current_user, drill, session)
        if not (design or (live and session is not None)):
            return None
        return {
            "design": design,
            "controller": access.can_design_exercise(current_user, drill),
            "session": session,
            "objectives": len(objectives.objectives(drill)) if design else 0,
            "injects": len(injects.injects(drill)) if design else 0,
            "evaluator": access.can_evaluate_exercise(current_user, drill),
            "coverage": aar.focus_coverage(drill) if design else [],
        }

    return {"exercise_panel": exercise_panel, "exercise_limit": exercise_limit, "SessionStatus": SessionStatus}


# --- design ------------------------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>")
@login_required
def design(drill_id: int):
    drill = _design_drill(drill_id)
    return render_template(
        "exercises/design.html",
        drill=drill,
        objectives=objectives.objectives(drill),
        injects=injects.injects(drill),
        session=sessions.session_of(drill),
        templates=objective_templates.templates(),
        focus_choices=Focus,
        may_design=access.can_design_exercise(current_user, drill),
    )


@bp.post("/drills/<int:drill_id>/objectives")
@login_required
def add_objective(drill_id: int):
    drill = _design_drill(drill_id)
    form = ObjectiveForm()
    if validated(form):
        _attempt(objectives.add_objective, current_user, drill, form.to_payload(), success=_("Objective added."))
    return _back_to_design(drill.id, "objectives")


@bp.post("/objectives/<int:objective_id>")
@login_required
def update_objective(objective_id: int):
    objective = or_404(objectives.get_objective, current_user, objective_id)
    form = ObjectiveForm()
    if validated(form):
        _attempt(
            objectives.update_objective,
            current_user,
            objective,
            form.versioned_payload(),
            success=_("Objective saved."),
        )
    return _back_to_design(objective.drill_id, "objectives")


@bp.post("/objectives/<int:objective_id>/delete")
@login_required
def delete_objective(objective_id: int):
    objective = or_404(objectives.get_objective, current_user, objective_id)
    drill_id = objective.drill_id
    _attempt(objectives.delete_objective, current_user, objective, success=_("Objective deleted."))
    return _back_to_design(drill_id, "objectives")


@bp.post("/drills/<int:drill_id>/injects")
@login_required
def add_inject(drill_id: int):
    drill = _design_drill(drill_id)
    form = InjectForm()
    if validated(form):
        _attempt(injects.add_inject, current_user, drill, form.to_payload(), success=_("Inject added."))
    return _back_to_design(drill.id, "msel")


@bp.post("/injects/<int:inject_id>/delete")
@login_required
def delete_inject(inject_id: int):
    inject = or_404(injects.get_inject, current_user, inject_id)
    drill_id = inject.drill_id
    _attempt(injects.delete_inject, current_user, inject, success=_("Inject deleted."))
    return _back_to_design(drill_id, "msel")


@bp.post("/injects/<int:inject_id>/attachment")
@login_required
def attach(inject_id: int):
    inject = or_404(injects.get_inject, current_user, inject_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a map or photo."), "danger")
    else:
        _attempt(
            inject_files.attach_file,
            current_user,
            inject,
            upload.stream,
            upload.filename,
            success=_("Map or photo attached."),
        )
    return _back_to_design(inject.drill_id, "msel")


@bp.get("/injects/<int:inject_id>/attachment")
@login_required
def inject_file(inject_id: int):
    return inject_file_response(or_404(injects.get_inject, current_user, inject_id))


@bp.post("/drills/<int:drill_id>/seed")
@login_required
def seed(drill_id: int):
    drill = _design_drill(drill_id)
    _attempt(injects.seed_from_scenario, current_user, drill, success=_("Injects added from the scenario."))
    return _back_to_design(drill.id, "msel")


@bp.get("/drills/<int:drill_id>/msel.xlsx")
@login_required
def export_msel(drill_id: int):
    drill = _design_drill(drill_id)
    return msel_file_response(drill)


@bp.post("/drills/<int:drill_id>/msel")
@login_required
def import_msel(drill_id: int):
    drill = _design_drill(drill_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel (.xlsx) file."), "danger")
    else:
        content = upload.stream.read(msel.MAX_MSEL_BYTES + 1)
        _attempt(msel.import_msel, current_user, drill, content, success=_("The MSEL was imported."))
    return _back_to_design(drill.id, "msel")


# --- the live console and the players' screen ---------------------------------------------------------


def _json_error(error: ServiceError):
    return jsonify({"status": error.status, "detail": error.detail, "errors": error.errors}), error.status


@bp.get("/drills/<int:drill_id>/console")
@login_required
def console(drill_id: int):
    drill = _design_drill(drill_id)
    if not access.can_design_exercise(current_user, drill):
        abort(404)
    return render_template("exercises/console.html", drill=drill, state=conduct.live_state(current_user, drill))


@bp.get("/drills/<int:drill_id>/play")
@login_required
def play(drill_id: int):
    drill = _drill(drill_id)
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
    drill = _drill(drill_id)
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
    drill = _design_drill(drill_id)
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
    drill = _design_drill(drill_id)
    try:
        due = conduct.release_due(current_user, drill)
    except ServiceError as error:
        return _json_error(error)
    return jsonify({"released": [i.id for i in due]})


@bp.post("/drills/<int:drill_id>/unplanned")
@login_required
def unplanned(drill_id: int):
    drill = _design_drill(drill_id)
    form = InjectForm()
    if validated(form):
        _attempt(
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


# --- evaluation ------------------------------------------------------------------------------------------


@bp.route("/drills/<int:drill_id>/evaluate", methods=["GET", "POST"])
@login_required
def evaluate(drill_id: int):
    drill = _design_drill(drill_id)
    if not access.can_evaluate_exercise(current_user, drill):
        abort(404)
    if request.method == "POST":
        form = EvaluationForm()
        objective_id = form.objective_id.data or ""
        objective = or_404(objectives.get_objective, current_user, int(objective_id) if objective_id.isdigit() else 0)
        if objective.drill_id != drill.id:
            abort(404)
        if validated(form):
            _attempt(
                evaluations.save_evaluation, current_user, objective, form.to_payload(), success=_("Evaluation saved.")
            )
        return redirect(url_for("exercises.evaluate", drill_id=drill.id) + f"#objective-{objective.id}", 303)
    mine = {e.objective_id: e for e in evaluations.evaluations(drill) if e.evaluator_id == current_user.id}
    timeline: dict[int | None, list] = {}
    for row in aar.after_action(current_user, drill).timeline:
        timeline.setdefault(row.inject.objective_id, []).append(row)
    return render_template(
        "exercises/evaluate.html",
        drill=drill,
        objectives=objectives.objectives(drill),
        mine=mine,
        ratings=Rating,
        session=sessions.session_of(drill),
        timeline=timeline,
    )


# --- report and feedback ----------------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>/report")
@login_required
def report(drill_id: int):
    drill = _design_drill(drill_id)
    result = aar.after_action(current_user, drill)
    return render_template(
        "exercises/report.html",
        drill=drill,
        report=result,
        draft=aar.review_draft(result),
        may_design=access.can_design_exercise(current_user, drill),
    )


@bp.get("/drills/<int:drill_id>/report.docx")
@login_required
def report_docx(drill_id: int):
    drill = _design_drill(drill_id)
    return report_file_response(aar.after_action(current_user, drill))


@bp.post("/drills/<int:drill_id>/report/review")
@login_required
def fill_review(drill_id: int):
    drill = _design_drill(drill_id)
    if _attempt(
        aar.fill_review,
        current_user,
        drill,
        success=_("The draft was written into the after-action review; edit it and file it there."),
    ):
        return redirect(url_for("drills.detail", drill_id=drill.id) + "#review", 303)
    return redirect(url_for("exercises.report", drill_id=drill.id), 303)


@bp.post("/drills/<int:drill_id>/feedback-links")
@login_required
def feedback_links(drill_id: int):
    drill = _design_drill(drill_id)
    try:
        tokens = participant_feedback.feedback_tokens(current_user, drill, FeedbackLinksForm().to_payload())
    except ServiceError as error:
        flash_errors(error)
        return redirect(url_for("exercises.report", drill_id=drill.id), 303)
    links = [url_for("exercises.feedback", token=t, _external=True) for t in tokens]
    return render_template("exercises/links.html", drill=drill, links=links)


@bp.route("/feedback/<token>", methods=["GET", "POST"])
def feedback(token: str):
    """The participants' feedback form: no account, a signed expiring link, one answer per link."""
    try:
        drill, respondent = participant_feedback.read_feedback_token(token)
    except ServiceError:
        abort(404)
    form = FeedbackForm()
    errors: dict[str, list[str]] = {}
    done = participant_feedback.feedback_given(drill, respondent)
    if request.method == "POST" and not done and not form.validate():
        errors = form.errors
    elif request.method == "POST" and not done:
        try:
            participant_feedback.submit_feedback(token, form.to_payload())
            done = True
        except ServiceError as error:
            errors = error.errors or {"": [error.detail]}
            done = participant_feedback.feedback_given(drill, respondent)
    return render_template("exercises/feedback.html", drill=drill, done=done, errors=errors, form=form)


# --- objective templates (admins) -------------------------------------------------------------------------


def _save_template(form: TemplateForm) -> None:
    if not validated(form):
        return
    template_id = form.template_id.data or ""
    if template_id.isdigit() and int(template_id):
        template = or_404(objective_templates.get_template, int(template_id))
        _attempt(
            objective_templates.update_template,
            current_user,
            template,
            form.to_payload() | {"version": form.version.data or ""},
            success=_("Template saved."),
        )
    else:
        _attempt(objective_templates.create_template, current_user, form.to_payload(), success=_("Template added."))


@bp.route("/templates", methods=["GET", "POST"])
@login_required
def templates():
    if request.method == "POST":
        if not access.can_edit_objective_templates(current_user):
            abort(403)
        _save_template(TemplateForm())
        return redirect(url_for("exercises.templates"), 303)
    return render_template(
        "exercises/templates.html",
        templates=objective_templates.templates(active_only=False),
        focus_choices=Focus,
        may_edit=access.can_edit_objective_templates(current_user),
    )
