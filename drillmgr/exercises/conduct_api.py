"""API: the exercise as it runs and after — the live session (start, pause, resume, end, release), players'
responses, evaluations, feedback links and the after-action report (JSON and DOCX)."""

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request, url_for
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.errors import ValidationError
from drillmgr.exercises import aar, conduct, evaluations, injects, objectives, sessions
from drillmgr.exercises import feedback as participant_feedback
from drillmgr.exercises.api import design_drill
from drillmgr.exercises.downloads import DOCX, report_file_response
from drillmgr.exercises.schemas import (
    AfterActionSchema,
    EvaluationListSchema,
    EvaluationSchema,
    FeedbackLinkRequestSchema,
    FeedbackLinksSchema,
    FeedbackSummarySchema,
    InjectListSchema,
    InjectResponseSchema,
    InjectSchema,
    LiveExerciseSchema,
    SessionSchema,
    SessionStepSchema,
)
from drillmgr.findings.schemas import FINDING

register_schema("Session", SessionSchema, output=True)
register_schema("LiveExercise", LiveExerciseSchema, output=True)
register_schema("SessionStep", SessionStepSchema, output=False)
register_schema("ResponseInput", InjectResponseSchema, output=False)
register_schema("Evaluation", EvaluationSchema, output=True)
register_schema("EvaluationList", EvaluationListSchema, output=True)
register_schema("EvaluationInput", EvaluationSchema, output=False)
register_schema("FeedbackLinkRequest", FeedbackLinkRequestSchema, output=False)
register_schema("FeedbackLinks", FeedbackLinksSchema, output=True)
register_schema("FeedbackSummary", FeedbackSummarySchema, output=True)
register_schema("AfterActionReport", AfterActionSchema, output=True)


# --- the live session ----------------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>/session")
@describe(
    "The live exercise as the caller may see it: players get the released injects (404 before the start)",
    response="LiveExercise",
)
@token_required
def get_session(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    return jsonify(conduct.live_state(actor, drill))


@bp.post("/drills/<int:drill_id>/session/start")
@describe(
    "Start the exercise: the drill starts now, and a double-blind one is revealed to its players",
    response="LiveExercise",
    conflicts=True,
)
@token_required
def start_session(drill_id: int) -> Response:
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    sessions.start_session(actor, drill)
    return jsonify(conduct.live_state(actor, drill))


# The steps after the start, each a POST of the session's version (endpoints pause_session, resume_session and
# end_session).
SESSION_STEPS: dict[str, tuple[Callable[..., Any], str]] = {
    "pause": (sessions.pause_session, "Pause the running exercise"),
    "resume": (sessions.resume_session, "Resume the paused exercise"),
    "end": (sessions.end_session, "End the exercise"),
}


def _session_step_handler(step: Callable[..., Any]) -> Callable[[int], Response]:
    def session_step(drill_id: int) -> Response:
        actor = current_api_user()
        drill = access.get_visible_drill(actor, drill_id)
        step(actor, drill, SessionStepSchema().load(json_body()))  # an object: JSON null is not "no version"
        return jsonify(conduct.live_state(actor, drill))

    return session_step


for _name, (_step, _summary) in SESSION_STEPS.items():
    bp.add_url_rule(
        f"/drills/<int:drill_id>/session/{_name}",
        f"{_name}_session",
        describe(_summary, request="SessionStep", response="LiveExercise", conflicts=True)(
            token_required(_session_step_handler(_step))
        ),
        methods=["POST"],
    )


@bp.post("/drills/<int:drill_id>/session/release-due")
@describe(
    "Release every planned inject whose time (minutes after the start, pauses not counted) has come",
    response="InjectList",
    conflicts=True,
)
@token_required
def release_due(drill_id: int):
    actor, drill = design_drill(drill_id)
    return jsonify(InjectListSchema().dump({"items": conduct.release_due(actor, drill)}))


@bp.post("/drills/<int:drill_id>/injects/unplanned")
@describe(
    "Add an unplanned inject while the exercise runs; it is released at once",
    request="UnplannedInject",
    response="Inject",
    created=True,
    conflicts=True,
)
@token_required
def unplanned_inject(drill_id: int):
    actor, drill = design_drill(drill_id)
    return jsonify(InjectSchema().dump(conduct.add_unplanned(actor, drill, json_body()))), 201


@bp.post("/injects/<int:inject_id>/release")
@describe("Release an inject to the players", response="Inject", conflicts=True)
@token_required
def release_inject(inject_id: int):
    actor = current_api_user()
    inject = injects.get_inject(actor, inject_id)
    return jsonify(InjectSchema().dump(conduct.release_inject(actor, inject)))


@bp.post("/injects/<int:inject_id>/responses")
@describe(
    "A player answers a released inject (once); the time it took is kept",
    request="ResponseInput",
    response="InjectResponse",
    created=True,
    conflicts=True,
)
@token_required
def respond_to_inject(inject_id: int):
    actor = current_api_user()
    inject = injects.get_inject(actor, inject_id)
    return jsonify(InjectResponseSchema().dump(conduct.respond(actor, inject, json_body()))), 201


# --- evaluation, feedback, report ------------------------------------------------------------------------


@bp.get("/drills/<int:drill_id>/evaluations")
@describe("Every evaluator's rating and observations per objective", response="EvaluationList")
@token_required
def list_evaluations(drill_id: int):
    _actor, drill = design_drill(drill_id)
    return jsonify(EvaluationListSchema().dump({"items": evaluations.evaluations(drill)}))


@bp.put("/objectives/<int:objective_id>/evaluation")
@describe(
    "The caller's evaluation of an objective (P/S/M/U and observations); version 0 creates it",
    request="EvaluationInput",
    response="Evaluation",
)
@token_required
def put_evaluation(objective_id: int):
    actor = current_api_user()
    objective = objectives.get_objective(actor, objective_id)
    return jsonify(EvaluationSchema().dump(evaluations.save_evaluation(actor, objective, json_body())))


@bp.post("/evaluations/<int:evaluation_id>/finding")
@describe(
    "Turn an evaluation's observation into a finding of the (completed) drill, with its corrective action",
    request="FindingInput",
    response="Finding",
    created=True,
    conflicts=True,
)
@token_required
def evaluation_finding(evaluation_id: int):
    actor = current_api_user()
    evaluation = evaluations.get_evaluation(actor, evaluation_id)
    finding = evaluations.evaluation_to_finding(actor, evaluation, json_body())
    return (jsonify(FINDING.dump(finding)), 201, {"Location": url_for("api.get_finding", finding_id=finding.id)})


@bp.post("/drills/<int:drill_id>/feedback-links")
@describe(
    "Signed feedback links, one per participant, once the exercise has ended",
    request="FeedbackLinkRequest",
    response="FeedbackLinks",
    created=True,
    conflicts=True,
)
@token_required
def feedback_links(drill_id: int):
    actor, drill = design_drill(drill_id)
    tokens = participant_feedback.feedback_tokens(actor, drill, json_body())
    links = [url_for("exercises.feedback", token=t, _external=True) for t in tokens]
    return jsonify(FeedbackLinksSchema().dump({"links": links})), 201


@bp.get("/drills/<int:drill_id>/feedback")
@describe("The participants' feedback, summed up", response="FeedbackSummary")
@token_required
def feedback_summary(drill_id: int):
    _actor, drill = design_drill(drill_id)
    return jsonify(FeedbackSummarySchema().dump(participant_feedback.feedback_summary(drill)))


@bp.get("/drills/<int:drill_id>/after-action")
@describe(
    "The after-action report drafted from objectives, ratings, the inject timeline and feedback",
    response="AfterActionReport",
    content_types=[DOCX],
    params=[
        {
            "name": "format",
            "in": "query",
            "schema": {"type": "string", "enum": ["json", "docx"]},
            "description": "docx: the report as a Word document (or Accept it)",
        }
    ],
)
@token_required
def after_action(drill_id: int):
    actor, drill = design_drill(drill_id)
    formats = request.args.getlist("format")
    if any(value not in ("json", "docx") for value in formats) or len(set(formats)) > 1:
        message = _(
            "Unknown value %(value)s; allowed: %(allowed)s.", value=repr(",".join(formats))[:80], allowed="json, docx"
        )
        raise ValidationError(message, {"format": [message]})
    report = aar.after_action(actor, drill)
    wants_docx = formats == [] and request.accept_mimetypes.best_match(["application/json", DOCX]) == DOCX
    if wants_docx or "docx" in formats:
        return report_file_response(report)
    return jsonify(AfterActionSchema().dump(report))


@bp.post("/drills/<int:drill_id>/after-action/review")
@describe(
    "Write the draft into the drill's after-action review, in the fields still empty (completed drills)",
    response="AfterActionReport",
    conflicts=True,
)
@token_required
def fill_review(drill_id: int):
    actor, drill = design_drill(drill_id)
    aar.fill_review(actor, drill)
    return jsonify(AfterActionSchema().dump(aar.after_action(actor, drill)))
