"""API: exercise design and conduct — objective templates, objectives, the MSEL of injects (XLSX in and out), the
live session (start, pause, resume, end, release), players' responses, evaluations, feedback links and the
after-action report (JSON and DOCX)."""
from flask import Response, jsonify, request, url_for
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.enums import Focus
from drillmgr.errors import NotFound, ValidationError
from drillmgr.exercises import services
from drillmgr.exercises.enums import Rating, SessionStatus
from drillmgr.localtime import api_datetime

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_TEXT = {"type": "string", "maxLength": services.MAX_TEXT}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_FOCUS = {"type": "string", "enum": Focus.values()}

register_schema("ObjectiveTemplate", {"type": "object", "properties": {
    "id": {"type": "integer"}, "focus": _FOCUS, "text": {"type": "string"}, "position": {"type": "integer"},
    "active": {"type": "boolean"}, "version": {"type": "integer"}}})
register_schema("ObjectiveTemplateList", {"type": "object", "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/ObjectiveTemplate"}}}})
register_schema("ObjectiveTemplateInput", {
    "type": "object", "description": "Admins only. PATCH takes any subset with the version read.",
    "properties": {"focus": _FOCUS, "text": {"type": "string", "maxLength": 500},
                   "position": {"type": "integer", "minimum": 0, "maximum": 10000}, "active": {"type": "boolean"}},
    "required": ["focus", "text"]})
register_schema("Objective", {"type": "object", "properties": {
    "id": {"type": "integer"}, "drill_id": {"type": "integer"}, "position": {"type": "integer"},
    "text": {"type": "string"}, "measure": {"type": "string"}, "focus": {"type": "array", "items": _FOCUS},
    "plan": {"type": "string", "description": "the plan (预案) the objective tests"}, "version": {"type": "integer"}}})
register_schema("ObjectiveList", {"type": "object", "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Objective"}}}})
register_schema("ObjectiveInput", {
    "type": "object",
    "description": "`template_id` fills the text and focus link from an objective template when they are left out. "
                   "Only the drill's organisers; at most 50 objectives.",
    "properties": {"text": {"type": "string", "maxLength": 500}, "measure": _TEXT,
                   "focus": {"type": "array", "items": _FOCUS}, "plan": {"type": "string", "maxLength": 300},
                   "template_id": {"type": "integer"}}})
register_schema("ObjectivePatch", {
    "type": "object", "required": ["version"],
    "properties": {"text": {"type": "string", "maxLength": 500}, "measure": _TEXT,
                   "focus": {"type": "array", "items": _FOCUS, "minItems": 1},
                   "plan": {"type": "string", "maxLength": 300},
                   "version": {"type": "integer"}}})
_RESPONSE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "inject_id": {"type": "integer"}, "user_id": {"type": "integer"},
    "player": {"type": "string"}, "decision": {"type": "string"}, "responded_at": _TIME,
    "seconds_taken": {"type": "integer", "description": "seconds from the inject's release to the answer"}}}
register_schema("InjectResponse", _RESPONSE)
register_schema("Inject", {
    "type": "object",
    "description": "Players see only released injects, without `expected_action`, `objective_id` and `version`, "
                   "and only their own responses.",
    "properties": {"id": {"type": "integer"}, "drill_id": {"type": "integer"}, "number": {"type": "integer"},
                   "offset_minutes": {"type": "integer"}, "sender": {"type": "string"},
                   "recipient": {"type": "string"}, "message": {"type": "string"}, "unplanned": {"type": "boolean"},
                   "released_at": _TIME, "expected_action": {"type": "string"},
                   "objective_id": {"type": ["integer", "null"]}, "version": {"type": "integer"},
                   "responses": {"type": "array", "items": {"$ref": "#/components/schemas/InjectResponse"}},
                   "attachment": {"type": ["object", "null"], "description": "a map or photo: GET …/attachment",
                                  "properties": {"filename": {"type": "string"}, "content_type": {"type": "string"},
                                                 "size": {"type": "integer"}}}}})
register_schema("InjectList", {"type": "object", "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Inject"}}}})
_INJECT_PROPS = {"number": {"type": "integer", "minimum": 0, "maximum": 10000},
                 "offset_minutes": {"type": "integer", "minimum": 0, "maximum": services.MAX_OFFSET_MINUTES},
                 "sender": {"type": "string", "maxLength": 200}, "recipient": {"type": "string", "maxLength": 200},
                 "message": _TEXT, "expected_action": _TEXT, "objective_id": {"type": "integer"}}
register_schema("InjectInput", {"type": "object", "description": "Before release only (409 after).",
                                "properties": _INJECT_PROPS, "required": ["offset_minutes", "message"]})
register_schema("InjectPatch", {"type": "object", "required": ["version"],
                                "properties": _INJECT_PROPS | {"version": {"type": "integer"}}})
register_schema("UnplannedInject", {
    "type": "object", "description": "Made up by the controller while the exercise runs, released at once.",
    "properties": {k: v for k, v in _INJECT_PROPS.items() if k != "offset_minutes"}, "required": ["message"]})
register_schema("InjectFile", {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "a JPEG, PNG or PDF map or photo"}}})
register_schema("MselUpload", {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary",
             "description": "an .xlsx workbook whose first row names the columns (as the export writes them)"}}})
register_schema("Session", {"type": "object", "properties": {
    "drill_id": {"type": "integer"},
    "status": {"type": "string", "enum": ["not_started", *SessionStatus.values()]},
    "started_at": _TIME, "ended_at": _TIME, "elapsed_seconds": {"type": "integer"},
    "tick": {"type": "integer", "description": "raised by every change players see; poll it"},
    "run_blind": {"type": "boolean", "description": "a double-blind drill revealed by the console at its start"},
    "version": {"type": "integer"}}})
register_schema("LiveExercise", {"type": "object", "properties": {
    "session": {"$ref": "#/components/schemas/Session"}, "controller": {"type": "boolean"},
    "may_respond": {"type": "boolean"},
    "injects": {"type": "array", "items": {"$ref": "#/components/schemas/Inject"}}}})
register_schema("SessionStep", {"type": "object", "description": "The session's version, to be told of a concurrent "
                                "step (409); {} takes the current one.",
                                "properties": {"version": {"type": "integer"}}})
register_schema("ResponseInput", {"type": "object", "required": ["decision"],
                                  "properties": {"decision": _TEXT}})
register_schema("Evaluation", {"type": "object", "properties": {
    "id": {"type": "integer"}, "objective_id": {"type": "integer"}, "evaluator_id": {"type": "integer"},
    "evaluator": {"type": "string"}, "rating": {"type": "string", "enum": Rating.values()},
    "observations": {"type": "string"}, "strengths": {"type": "string"}, "improvements": {"type": "string"},
    "finding_id": {"type": ["integer", "null"]}, "version": {"type": "integer"}}})
register_schema("EvaluationList", {"type": "object", "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Evaluation"}}}})
register_schema("EvaluationInput", {
    "type": "object", "required": ["rating"],
    "description": "The caller's own evaluation of the objective (the drill's evaluators): version 0 creates it.",
    "properties": {"rating": {"type": "string", "enum": Rating.values()}, "observations": _TEXT,
                   "strengths": _TEXT, "improvements": _TEXT, "version": {"type": "integer"}}})
register_schema("FeedbackLinkRequest", {"type": "object", "properties": {
    "count": {"type": "integer", "minimum": 1, "maximum": 200}}})
register_schema("FeedbackLinks", {"type": "object", "properties": {
    "links": {"type": "array", "items": {"type": "string"},
              "description": f"signed, good for one answer each within {services.FEEDBACK_DAYS} days"}}})
register_schema("FeedbackSummary", {"type": "object", "properties": {
    "count": {"type": "integer"}, "overall_mean": {"type": ["number", "null"]},
    "realism_mean": {"type": ["number", "null"]}, "strengths": {"type": "array", "items": {"type": "string"}},
    "improvements": {"type": "array", "items": {"type": "string"}}}})
register_schema("AfterActionReport", {"type": "object", "properties": {
    "drill_id": {"type": "integer"}, "session": {"$ref": "#/components/schemas/Session"},
    "objectives": {"type": "array", "items": {"type": "object", "properties": {
        "objective": {"$ref": "#/components/schemas/Objective"},
        "rating": {"type": ["string", "null"], "enum": [*Rating.values(), None]},
        "evaluations": {"type": "array", "items": {"$ref": "#/components/schemas/Evaluation"}}}}},
    "timeline": {"type": "array", "items": {"type": "object", "properties": {
        "inject_id": {"type": "integer"}, "number": {"type": "integer"}, "released_at": _TIME,
        "responses": {"type": "integer"}, "first_seconds": {"type": ["integer", "null"]},
        "median_seconds": {"type": ["integer", "null"]}}}},
    "feedback": {"$ref": "#/components/schemas/FeedbackSummary"},
    "focus_coverage": {"type": "array", "description": "each focus link of the drill: planned (an objective names "
                       "it) and exercised (such an objective was answered or rated)", "items": {
        "type": "object", "properties": {"focus": _FOCUS, "planned": {"type": "boolean"},
                                         "exercised": {"type": "boolean"}}}},
    "improvement_plan": {"type": "array", "items": {"type": "object", "properties": {
        name: {"type": "string"} for name in ("objective", "capability", "rating", "strengths", "improvements",
                                              "corrective_action", "owner", "due_on")}}},
    "draft": {"type": "object", "description": "review texts drafted from the above",
              "additionalProperties": {"type": "string"}}}})


def _design_drill(drill_id: int):
    """A drill whose exercise design the caller may read; else 404 (never confirm what is out of sight)."""
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    if not access.can_see_exercise_design(actor, drill):
        raise NotFound(_("No such drill."))
    return actor, drill


# --- templates -----------------------------------------------------------------------------------

@bp.get("/objective-templates")
@describe("Typical objectives per focus link (admins edit them)", response="ObjectiveTemplateList")
@token_required
def list_objective_templates():
    return jsonify({"items": [services.template_to_dict(t) for t in services.templates()]})


@bp.post("/objective-templates")
@describe("Add an objective template (admins)", request="ObjectiveTemplateInput", response="ObjectiveTemplate",
          created=True)
@token_required
def create_objective_template():
    template = services.create_template(current_api_user(), json_body())
    return jsonify(services.template_to_dict(template)), 201


@bp.patch("/objective-templates/<int:template_id>")
@describe("Change an objective template (admins)", request="ObjectiveTemplateInput", response="ObjectiveTemplate")
@token_required
def update_objective_template(template_id: int):
    actor = current_api_user()
    data = json_body()
    access.require(access.can_edit_objective_templates(actor), _("Only prefecture officers edit objective templates."))
    template = services.update_template(actor, services.get_template(template_id), data)
    return jsonify(services.template_to_dict(template))


# --- objectives ------------------------------------------------------------------------------------

@bp.get("/drills/<int:drill_id>/objectives")
@describe("The exercise's objectives (its organisers and evaluators)", response="ObjectiveList")
@token_required
def list_objectives(drill_id: int):
    _actor, drill = _design_drill(drill_id)
    return jsonify({"items": [services.objective_to_dict(o) for o in services.objectives(drill)]})


@bp.post("/drills/<int:drill_id>/objectives")
@describe("Add an objective, tied to focus links and to the plan it tests", request="ObjectiveInput",
          response="Objective", created=True, conflicts=True)
@token_required
def create_objective(drill_id: int):
    actor, drill = _design_drill(drill_id)
    objective = services.add_objective(actor, drill, json_body())
    return jsonify(services.objective_to_dict(objective)), 201


@bp.patch("/objectives/<int:objective_id>")
@describe("Change an objective", request="ObjectivePatch", response="Objective")
@token_required
def update_objective(objective_id: int):
    actor = current_api_user()
    objective = services.get_objective(actor, objective_id)
    return jsonify(services.objective_to_dict(services.update_objective(actor, objective, json_body())))


@bp.delete("/objectives/<int:objective_id>")
@describe("Delete an objective not yet evaluated", conflicts=True)
@token_required
def delete_objective(objective_id: int):
    actor = current_api_user()
    services.delete_objective(actor, services.get_objective(actor, objective_id))
    return "", 204


# --- injects (MSEL) ----------------------------------------------------------------------------------

@bp.get("/drills/<int:drill_id>/injects")
@describe("The MSEL: every inject with its expected action (organisers and evaluators)", response="InjectList")
@token_required
def list_injects(drill_id: int):
    _actor, drill = _design_drill(drill_id)
    return jsonify({"items": [services.inject_to_dict(i) for i in services.injects(drill)]})


@bp.post("/drills/<int:drill_id>/injects")
@describe("Add an inject to the MSEL", request="InjectInput", response="Inject", created=True, conflicts=True)
@token_required
def create_inject(drill_id: int):
    actor, drill = _design_drill(drill_id)
    return jsonify(services.inject_to_dict(services.add_inject(actor, drill, json_body()))), 201


@bp.post("/drills/<int:drill_id>/injects/seed")
@describe("Add the first injects from the drill's scenario (magnitude and conditions)", response="InjectList",
          created=True, conflicts=True)
@token_required
def seed_injects(drill_id: int):
    actor, drill = _design_drill(drill_id)
    made = services.seed_from_scenario(actor, drill)
    return jsonify({"items": [services.inject_to_dict(i) for i in made]}), 201


@bp.get("/drills/<int:drill_id>/msel.xlsx")
@describe("The MSEL as an Excel workbook", content_types=[XLSX])
@token_required
def export_msel(drill_id: int):
    _actor, drill = _design_drill(drill_id)
    return Response(services.msel_xlsx(drill), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="msel-{drill.id}.xlsx"'})


@bp.post("/drills/<int:drill_id>/msel")
@describe("Replace the MSEL from an Excel workbook: all rows or none, errors by line (before the start only)",
          request="MselUpload", response="InjectList", conflicts=True, request_content_type="multipart/form-data")
@token_required
def import_msel(drill_id: int):
    actor, drill = _design_drill(drill_id)
    upload = request.files.get("file")
    if upload is None:
        message = _("Send the workbook as multipart/form-data in the field `file`.")
        raise ValidationError(message, {"file": [message]})
    made = services.import_msel(actor, drill, upload.stream.read(services.MAX_MSEL_BYTES + 1))
    return jsonify({"items": [services.inject_to_dict(i) for i in made]})


@bp.post("/injects/<int:inject_id>/attachment")
@describe("Attach a map or photo (JPEG, PNG or PDF) to an inject not yet released, replacing any before",
          request="InjectFile", response="Inject", conflicts=True, request_content_type="multipart/form-data")
@token_required
def attach_inject_file(inject_id: int):
    actor = current_api_user()
    inject = services.get_inject(actor, inject_id)
    upload = request.files.get("file")
    if upload is None:
        message = _("Send the file as multipart/form-data in the field `file`.")
        raise ValidationError(message, {"file": [message]})
    return jsonify(services.inject_to_dict(services.attach_file(actor, inject, upload.stream, upload.filename or "")))


@bp.get("/injects/<int:inject_id>/attachment")
@describe("The inject's map or photo (players: once the inject is released)",
          content_types=["image/jpeg", "image/png", "application/pdf"])
@token_required
def get_inject_file(inject_id: int):
    from drillmgr.exercises.views import inject_file_response

    inject = services.get_inject(current_api_user(), inject_id)
    if inject.attachment is None:
        raise NotFound(_("This inject has no map or photo."))
    return inject_file_response(inject)


@bp.patch("/injects/<int:inject_id>")
@describe("Change an inject not yet released", request="InjectPatch", response="Inject")
@token_required
def update_inject(inject_id: int):
    actor = current_api_user()
    inject = services.get_inject(actor, inject_id)
    return jsonify(services.inject_to_dict(services.update_inject(actor, inject, json_body())))


@bp.delete("/injects/<int:inject_id>")
@describe("Delete an inject not yet released", conflicts=True)
@token_required
def delete_inject(inject_id: int):
    actor = current_api_user()
    services.delete_inject(actor, services.get_inject(actor, inject_id))
    return "", 204


# --- the live session ----------------------------------------------------------------------------------

@bp.get("/drills/<int:drill_id>/session")
@describe("The live exercise as the caller may see it: players get the released injects (404 before the start)",
          response="LiveExercise")
@token_required
def get_session(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    return jsonify(services.live_state(actor, drill))


def _session_step(drill_id: int, step):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    if step is services.start_session:
        step(actor, drill)
    else:
        step(actor, drill, json_body())
    return jsonify(services.live_state(actor, drill))


@bp.post("/drills/<int:drill_id>/session/start")
@describe("Start the exercise: the drill starts now, and a double-blind one is revealed to its players",
          response="LiveExercise", conflicts=True)
@token_required
def start_session(drill_id: int):
    return _session_step(drill_id, services.start_session)


@bp.post("/drills/<int:drill_id>/session/pause")
@describe("Pause the running exercise", request="SessionStep", response="LiveExercise", conflicts=True)
@token_required
def pause_session(drill_id: int):
    return _session_step(drill_id, services.pause_session)


@bp.post("/drills/<int:drill_id>/session/resume")
@describe("Resume the paused exercise", request="SessionStep", response="LiveExercise", conflicts=True)
@token_required
def resume_session(drill_id: int):
    return _session_step(drill_id, services.resume_session)


@bp.post("/drills/<int:drill_id>/session/end")
@describe("End the exercise", request="SessionStep", response="LiveExercise", conflicts=True)
@token_required
def end_session(drill_id: int):
    return _session_step(drill_id, services.end_session)


@bp.post("/drills/<int:drill_id>/session/release-due")
@describe("Release every planned inject whose time (minutes after the start, pauses not counted) has come",
          response="InjectList", conflicts=True)
@token_required
def release_due(drill_id: int):
    actor, drill = _design_drill(drill_id)
    return jsonify({"items": [services.inject_to_dict(i) for i in services.release_due(actor, drill)]})


@bp.post("/drills/<int:drill_id>/injects/unplanned")
@describe("Add an unplanned inject while the exercise runs; it is released at once", request="UnplannedInject",
          response="Inject", created=True, conflicts=True)
@token_required
def unplanned_inject(drill_id: int):
    actor, drill = _design_drill(drill_id)
    return jsonify(services.inject_to_dict(services.add_unplanned(actor, drill, json_body()))), 201


@bp.post("/injects/<int:inject_id>/release")
@describe("Release an inject to the players", response="Inject", conflicts=True)
@token_required
def release_inject(inject_id: int):
    actor = current_api_user()
    inject = services.get_inject(actor, inject_id)
    return jsonify(services.inject_to_dict(services.release_inject(actor, inject)))


@bp.post("/injects/<int:inject_id>/responses")
@describe("A player answers a released inject (once); the time it took is kept", request="ResponseInput",
          response="InjectResponse", created=True, conflicts=True)
@token_required
def respond_to_inject(inject_id: int):
    actor = current_api_user()
    inject = services.get_inject(actor, inject_id)
    return jsonify(services.response_to_dict(services.respond(actor, inject, json_body()))), 201


# --- evaluation, feedback, report ------------------------------------------------------------------------

@bp.get("/drills/<int:drill_id>/evaluations")
@describe("Every evaluator's rating and observations per objective", response="EvaluationList")
@token_required
def list_evaluations(drill_id: int):
    _actor, drill = _design_drill(drill_id)
    return jsonify({"items": [services.evaluation_to_dict(e) for e in services.evaluations(drill)]})


@bp.put("/objectives/<int:objective_id>/evaluation")
@describe("The caller's evaluation of an objective (P/S/M/U and observations); version 0 creates it",
          request="EvaluationInput", response="Evaluation")
@token_required
def put_evaluation(objective_id: int):
    actor = current_api_user()
    objective = services.get_objective(actor, objective_id)
    return jsonify(services.evaluation_to_dict(services.save_evaluation(actor, objective, json_body())))


@bp.post("/evaluations/<int:evaluation_id>/finding")
@describe("Turn an evaluation's observation into a finding of the (completed) drill, with its corrective action",
          request="FindingInput", response="Finding", created=True, conflicts=True)
@token_required
def evaluation_finding(evaluation_id: int):
    from drillmgr.findings.schemas import FINDING

    actor = current_api_user()
    evaluation = services.get_evaluation(actor, evaluation_id)
    finding = services.evaluation_to_finding(actor, evaluation, json_body())
    return (jsonify(FINDING.dump(finding)), 201,
            {"Location": url_for("api.get_finding", finding_id=finding.id)})


@bp.post("/drills/<int:drill_id>/feedback-links")
@describe("Signed feedback links, one per participant, once the exercise has ended", request="FeedbackLinkRequest",
          response="FeedbackLinks", created=True, conflicts=True)
@token_required
def feedback_links(drill_id: int):
    actor, drill = _design_drill(drill_id)
    tokens = services.feedback_tokens(actor, drill, json_body())
    return jsonify({"links": [url_for("exercises.feedback", token=t, _external=True) for t in tokens]}), 201


@bp.get("/drills/<int:drill_id>/feedback")
@describe("The participants' feedback, summed up", response="FeedbackSummary")
@token_required
def feedback_summary(drill_id: int):
    _actor, drill = _design_drill(drill_id)
    return jsonify(services.feedback_summary(drill))


def report_to_dict(report) -> dict:
    return {"drill_id": report.drill.id, "session": services.session_to_dict(report.drill, report.session),
            "objectives": [{"objective": services.objective_to_dict(r.objective),
                            "rating": r.rating.value if r.rating else None,
                            "evaluations": [services.evaluation_to_dict(e) for e in r.evaluations]}
                           for r in report.objectives],
            "timeline": [{"inject_id": r.inject.id, "number": r.inject.number,
                          "released_at": api_datetime(r.inject.released_at), "responses": r.responses,
                          "first_seconds": r.first_seconds, "median_seconds": r.median_seconds}
                         for r in report.timeline],
            "feedback": report.feedback, "improvement_plan": report.improvement_plan,
            "focus_coverage": [{k: c[k] for k in ("focus", "planned", "exercised")}
                               for c in services.focus_coverage(report.drill)],
            "draft": services.review_draft(report)}


@bp.get("/drills/<int:drill_id>/after-action")
@describe("The after-action report drafted from objectives, ratings, the inject timeline and feedback",
          response="AfterActionReport", content_types=[DOCX],
          params=[{"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "docx"]},
                   "description": "docx: the report as a Word document (or Accept it)"}])
@token_required
def after_action(drill_id: int):
    actor, drill = _design_drill(drill_id)
    formats = request.args.getlist("format")
    if any(value not in ("json", "docx") for value in formats) or len(set(formats)) > 1:
        message = _("Unknown value %(value)s; allowed: %(allowed)s.", value=repr(",".join(formats))[:80],
                    allowed="json, docx")
        raise ValidationError(message, {"format": [message]})
    report = services.after_action(actor, drill)
    wants_docx = formats == [] and request.accept_mimetypes.best_match(["application/json", DOCX]) == DOCX
    if wants_docx or "docx" in formats:
        return Response(services.report_docx(report), mimetype=DOCX,
                        headers={"Content-Disposition": f'attachment; filename="aar-{drill.id}.docx"'})
    return jsonify(report_to_dict(report))


@bp.post("/drills/<int:drill_id>/after-action/review")
@describe("Write the draft into the drill's after-action review, in the fields still empty (completed drills)",
          response="AfterActionReport", conflicts=True)
@token_required
def fill_review(drill_id: int):
    actor, drill = _design_drill(drill_id)
    services.fill_review(actor, drill)
    return jsonify(report_to_dict(services.after_action(actor, drill)))
