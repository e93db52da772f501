"""After the exercise: the evaluators' ratings, the after-action report (page, .docx, draft for the drill's
review) and the participants' feedback (signed links and the form they open, without an account)."""

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.errors import ServiceError
from drillmgr.exercises import aar, evaluations, objectives, sessions
from drillmgr.exercises import feedback as participant_feedback
from drillmgr.exercises.blueprint import attempt, bp, design_drill
from drillmgr.exercises.downloads import report_file_response
from drillmgr.exercises.enums import Rating
from drillmgr.exercises.forms import EvaluationForm, FeedbackForm, FeedbackLinksForm, flash_errors, validated
from drillmgr.web import or_404
from drillmgr.validation import parse_id


# --- evaluation ------------------------------------------------------------------------------------------


@bp.route("/drills/<int:drill_id>/evaluate", methods=["GET", "POST"])
@login_required
def evaluate(drill_id: int):
    drill = design_drill(drill_id)
    if not access.can_evaluate_exercise(current_user, drill):
        abort(404)
    if request.method == "POST":
        form = EvaluationForm()
        objective_id = form.objective_id.data or ""
        objective = or_404(objectives.get_objective, current_user, parse_id(objective_id) or 0)
        if objective.drill_id != drill.id:
            abort(404)
        if validated(form):
            attempt(
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
    drill = design_drill(drill_id)
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
    drill = design_drill(drill_id)
    return report_file_response(aar.after_action(current_user, drill))


@bp.post("/drills/<int:drill_id>/report/review")
@login_required
def fill_review(drill_id: int):
    drill = design_drill(drill_id)
    if attempt(
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
    drill = design_drill(drill_id)
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
