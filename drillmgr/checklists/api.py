"""Readiness checklists over the JSON API: pre-drill and standing checklist runs, their answers, the corrective
actions they raise, and readiness by county."""
from flask import jsonify, request, url_for

from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, region_and_year, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.checklists import services as checklists
from drillmgr.enums import Answer, FindingCategory, Severity
from drillmgr.extensions import db
from drillmgr.findings.services import finding_to_dict
from drillmgr.localtime import local_today
from drillmgr.outreach.schemas import SummaryArgsSchema
from drillmgr.validation import Payload

register_schema("ChecklistRun", {"type": "object", "properties": {
    "id": {"type": "integer"}, "template_id": {"type": "integer"}, "template": {"type": "string"},
    "drill_id": {"type": ["integer", "null"]}, "org_id": {"type": ["integer", "null"]},
    "region_code": {"type": "string"}, "started_at": {"type": "string", "format": "date-time"},
    "completed_at": {"type": ["string", "null"], "format": "date-time"},
    "answered": {"type": "integer"}, "total": {"type": "integer"}, "no": {"type": "integer"},
    "answers": {"type": "array", "items": {"type": "object", "properties": {
        "item_id": {"type": "integer"}, "text": {"type": "string"}, "answer": {"enum": [*Answer.values(), None]},
        "note": {"type": "string"}, "photo_id": {"type": ["integer", "null"]},
        "finding_id": {"type": ["integer", "null"]}}}}}})
register_schema("ChecklistRunStart", {"type": "object", "description": "exactly one of drill_id (pre-drill) and "
                                      "org_id (standing readiness); an unfinished run is returned as it is",
                                      "properties": {"drill_id": {"type": "integer"}, "org_id": {"type": "integer"}}})
register_schema("ChecklistAnswers", {"type": "object", "description": "keyed by item id",
                                     "additionalProperties": {"type": "object", "properties": {
                                         "answer": {"enum": [*Answer.values(), None]},
                                         "note": {"type": "string", "maxLength": 2000}}}})
register_schema("ChecklistCorrectiveAction", {
    "type": "object", "required": ["category", "corrective_action"],
    "properties": {
        "summary": {"type": "string", "maxLength": 500,
                    "description": "default: the shortcoming drafted from the item"},
        "severity": {"enum": Severity.values(), "description": "default: major"},
        "category": {"enum": FindingCategory.values()},
        "corrective_action": {"type": "object", "required": ["owner"], "properties": {
            "owner": {"type": "integer", "description": "user id"},
            "description": {"type": "string", "description": "default: the answer's note"},
            "due_on": {"type": "string", "format": "date"}}}}})
register_schema("ReadinessSummary", {"type": "object", "properties": {"items": {"type": "array", "items": {
    "type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                                     "units": {"type": "integer"}, "ready": {"type": "integer"},
                                     "share": {"type": ["number", "null"]},
                                     "term": {"type": "array", "items": {"type": "string", "format": "date"}}}}}}})


@bp.get("/checklist-runs")
@describe("Checklist runs the caller may see", response="ChecklistRun", paginated=True,
          params=[{"name": "org", "in": "query", "schema": {"type": "integer"}},
                  {"name": "drill", "in": "query", "schema": {"type": "integer"}}])
@token_required
def list_checklist_runs():
    page, per_page = page_args()
    p = Payload(dict(request.args))
    org_id, drill_id = p.integer("org", minimum=1, default=None), p.integer("drill", minimum=1, default=None)
    p.check()
    query = checklists.run_query(current_api_user(), org_id=org_id, drill_id=drill_id)
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False),
                             checklists.run_to_dict))


@bp.post("/checklist-runs")
@describe("Start a drill's pre-drill checklist or a unit's readiness checklist", request="ChecklistRunStart",
          response="ChecklistRun", created=True, conflicts=True)
@token_required
def start_checklist_run():
    run = checklists.start_run(current_api_user(), json_body())
    return jsonify(checklists.run_to_dict(run)), 201


@bp.get("/checklist-runs/<int:run_id>")
@describe("One checklist run with its answers", response="ChecklistRun")
@token_required
def get_checklist_run(run_id: int):
    return jsonify(checklists.run_to_dict(checklists.get_visible_run(current_api_user(), run_id)))


@bp.post("/checklist-runs/<int:run_id>/answers")
@describe("Answer items (yes / no / na, with a note); all or nothing", request="ChecklistAnswers",
          response="ChecklistRun", conflicts=True)
@token_required
def answer_checklist_run(run_id: int):
    actor = current_api_user()
    run = checklists.get_visible_run(actor, run_id)
    return jsonify(checklists.run_to_dict(checklists.save_answers(actor, run, json_body())))


@bp.post("/checklist-runs/<int:run_id>/complete")
@describe("Complete a run once every item is answered", response="ChecklistRun", conflicts=True)
@token_required
def complete_checklist_run(run_id: int):
    actor = current_api_user()
    run = checklists.get_visible_run(actor, run_id)
    return jsonify(checklists.run_to_dict(checklists.complete_run(actor, run)))


@bp.post("/checklist-runs/<int:run_id>/items/<int:item_id>/corrective-action")
@describe("Turn an item answered “no” into a finding with its corrective action. `category` and "
          "`corrective_action.owner` are required; summary (default: the item's shortcoming), severity, "
          "description and due date default to the draft. The answer's photo becomes the action's evidence.",
          request="ChecklistCorrectiveAction", response="Finding", created=True, conflicts=True)
@token_required
def checklist_corrective_action(run_id: int, item_id: int):
    actor = current_api_user()
    run = checklists.get_visible_run(actor, run_id)
    finding = checklists.make_corrective_action(actor, run, item_id, json_body())
    return jsonify(finding_to_dict(finding, local_today())), 201, {
        "Location": url_for("api.get_finding", finding_id=finding.id)}


@bp.get("/readiness")
@describe("Share of units with a standing readiness checklist completed this term, by county",
          response="ReadinessSummary", params=[{"name": "region", "in": "query", "schema": {"type": "string"}}])
@token_required
def readiness():
    region, _year = region_and_year(SummaryArgsSchema)
    rows = checklists.readiness_for(current_api_user(), region)
    return jsonify({"items": [row | {"term": [d.isoformat() for d in row["term"]]} for row in rows]})

