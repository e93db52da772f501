"""Readiness checklists over the JSON API: pre-drill and standing checklist runs, their answers, the corrective
actions they raise, and readiness by county."""

from flask import jsonify, request, url_for

from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, region_and_year, token_required
from drillmgr.api.openapi import describe, query_params, register_schema
from drillmgr.checklists import readiness as readiness_of_units
from drillmgr.checklists import runs, shortcomings
from drillmgr.checklists.schemas import (
    ChecklistAnswerSchema,
    ChecklistRunSchema,
    ChecklistRunStartSchema,
    ReadinessSummarySchema,
    RunFilterSchema,
)
from drillmgr.enums import FindingCategory, Severity
from drillmgr.extensions import db
from drillmgr.findings.schemas import FINDING
from drillmgr.outreach.schemas import SummaryArgsSchema

register_schema("ChecklistRun", ChecklistRunSchema, output=True)
register_schema("ChecklistRunStart", ChecklistRunStartSchema, output=False)
register_schema("ChecklistAnswer", ChecklistAnswerSchema, output=False)
register_schema(
    "ChecklistAnswers",
    {
        "type": "object",
        "description": "keyed by item id",
        "additionalProperties": {"$ref": "#/components/schemas/ChecklistAnswer"},
    },
)
register_schema(
    "ChecklistCorrectiveAction",
    {
        "type": "object",
        "required": ["category", "corrective_action"],
        "properties": {
            "summary": {
                "type": "string",
                "maxLength": 500,
                "description": "default: the shortcoming drafted from the item",
            },
            "severity": {"enum": Severity.values(), "description": "default: major"},
            "category": {"enum": FindingCategory.values()},
            "corrective_action": {
                "type": "object",
                "required": ["owner"],
                "properties": {
                    "owner": {"type": "integer", "description": "user id"},
                    "description": {"type": "string", "description": "default: the answer's note"},
                    "due_on": {"type": "string", "format": "date"},
                },
            },
        },
    },
)
register_schema("ReadinessSummary", ReadinessSummarySchema, output=True)


@bp.get("/checklist-runs")
@describe(
    "Checklist runs the caller may see", response="ChecklistRun", paginated=True, params=query_params(RunFilterSchema)
)
@token_required
def list_checklist_runs():
    page, per_page = page_args()
    filters = RunFilterSchema().load(request.args.to_dict(), partial=True)
    query = runs.run_query(current_api_user(), org_id=filters.get("org"), drill_id=filters.get("drill"))
    return jsonify(
        paginated(db.paginate(query, page=page, per_page=per_page, error_out=False), ChecklistRunSchema().dump)
    )


@bp.post("/checklist-runs")
@describe(
    "Start a drill's pre-drill checklist or a unit's readiness checklist",
    request="ChecklistRunStart",
    response="ChecklistRun",
    created=True,
    conflicts=True,
)
@token_required
def start_checklist_run():
    run = runs.start_run(current_api_user(), json_body())
    return jsonify(ChecklistRunSchema().dump(run)), 201


@bp.get("/checklist-runs/<int:run_id>")
@describe("One checklist run with its answers", response="ChecklistRun")
@token_required
def get_checklist_run(run_id: int):
    return jsonify(ChecklistRunSchema().dump(runs.get_visible_run(current_api_user(), run_id)))


@bp.post("/checklist-runs/<int:run_id>/answers")
@describe(
    "Answer items (yes / no / na, with a note); all or nothing",
    request="ChecklistAnswers",
    response="ChecklistRun",
    conflicts=True,
)
@token_required
def answer_checklist_run(run_id: int):
    actor = current_api_user()
    run = runs.get_visible_run(actor, run_id)
    return jsonify(ChecklistRunSchema().dump(runs.save_answers(actor, run, json_body())))


@bp.post("/checklist-runs/<int:run_id>/complete")
@describe("Complete a run once every item is answered", response="ChecklistRun", conflicts=True)
@token_required
def complete_checklist_run(run_id: int):
    actor = current_api_user()
    run = runs.get_visible_run(actor, run_id)
    return jsonify(ChecklistRunSchema().dump(runs.complete_run(actor, run)))


@bp.post("/checklist-runs/<int:run_id>/items/<int:item_id>/corrective-action")
@describe(
    "Turn an item answered “no” into a finding with its corrective action. `category` and "
    "`corrective_action.owner` are required; summary (default: the item's shortcoming), severity, "
    "description and due date default to the draft. The answer's photo becomes the action's evidence.",
    request="ChecklistCorrectiveAction",
    response="Finding",
    created=True,
    conflicts=True,
)
@token_required
def checklist_corrective_action(run_id: int, item_id: int):
    actor = current_api_user()
    run = runs.get_visible_run(actor, run_id)
    finding = shortcomings.make_corrective_action(actor, run, item_id, json_body())
    return jsonify(FINDING.dump(finding)), 201, {"Location": url_for("api.get_finding", finding_id=finding.id)}


@bp.get("/readiness")
@describe(
    "Share of units with a standing readiness checklist completed this term, by county",
    response="ReadinessSummary",
    params=query_params(SummaryArgsSchema),
)
@token_required
def readiness():
    region, _year = region_and_year(SummaryArgsSchema)
    rows = readiness_of_units.readiness_for(current_api_user(), region)
    return jsonify(ReadinessSummarySchema().dump({"items": rows}))
