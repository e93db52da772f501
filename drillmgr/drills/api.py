"""Drills over the JSON API: list, plan, change, complete and cancel (series and plans for many units:
drills/api_series.py)."""

from flask import jsonify, request, url_for

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import SCHEMAS, describe, register_schema
from drillmgr.drills import lifecycle, queries
from drillmgr.drills.schemas import DrillAnswerSchema, DrillCancellationSchema, DrillCompletionSchema, DrillSchema
from drillmgr.enums import DrillForm, DrillStatus
from drillmgr.extensions import db

register_schema("Drill", DrillSchema, output=True)
register_schema("Drill", DrillAnswerSchema, output=True)
register_schema("DrillInput", DrillSchema, output=False)
SCHEMAS["DrillInput"]["description"] = "With `participation`, a drill held earlier is entered and completed at once."
SCHEMAS["DrillInputPatch"] |= {
    "required": ["version"],
    "description": "Any subset of the fields, and the drill's version. Participation is recorded by completing the "
    "drill (POST /drills/{drill_id}/complete); sent here it is refused (422).",
}
register_schema("DrillCompletion", DrillCompletionSchema, output=False)
SCHEMAS["DrillCompletion"]["required"] = ["participation"]
SCHEMAS["DrillInput"]["properties"]["participation"] = SCHEMAS["DrillCompletion"]["properties"]["participation"]
register_schema("DrillCancellation", DrillCancellationSchema, output=False)

DRILL_FILTERS = [
    {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "region code (its subtree)"},
    {"name": "org", "in": "query", "schema": {"type": "integer"}, "description": "organiser or participant"},
    {"name": "form", "in": "query", "schema": {"enum": DrillForm.values()}},
    {"name": "status", "in": "query", "schema": {"enum": DrillStatus.values()}},
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
]


def visible_drill(drill_id: int):
    return access.get_visible_drill(current_api_user(), drill_id)


def _drill_response(drill, status=200):
    headers = {"Location": url_for("api.get_drill", drill_id=drill.id)} if status == 201 else {}
    return jsonify(DrillAnswerSchema().dump(drill)), status, headers


@bp.get("/drills")
@describe(
    "Drills the caller may see (double-blind ones only for insiders before they start)",
    response="Drill",
    paginated=True,
    params=DRILL_FILTERS,
)
@token_required
def list_drills():
    page, per_page = page_args()
    query = queries.drill_query(current_api_user(), queries.read_filters(request.args))
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False), DrillSchema().dump))


@bp.post("/drills")
@describe(
    "Plan a drill, or enter one held earlier and complete it at once (with `participation`)",
    request="DrillInput",
    response="Drill",
    created=True,
)
@token_required
def create_drill():
    return _drill_response(lifecycle.create_drill(current_api_user(), json_body()), 201)


@bp.get("/drills/<int:drill_id>")
@describe("One drill", response="Drill")
@token_required
def get_drill(drill_id: int):
    return _drill_response(visible_drill(drill_id))


@bp.patch("/drills/<int:drill_id>")
@describe(
    "Change or reschedule a drill (send its version; new times raise the sequence)",
    request="DrillInputPatch",
    response="Drill",
)
@token_required
def update_drill(drill_id: int):
    return _drill_response(lifecycle.update_drill(current_api_user(), visible_drill(drill_id), json_body()))


@bp.post("/drills/<int:drill_id>/complete")
@describe(
    "Complete a drill with its participation (again: correct the participation)",
    request="DrillCompletion",
    response="Drill",
    conflicts=True,
)
@token_required
def complete_drill(drill_id: int):
    return _drill_response(lifecycle.complete_drill(current_api_user(), visible_drill(drill_id), json_body()))


@bp.post("/drills/<int:drill_id>/cancel")
@describe("Cancel a drill with a reason", request="DrillCancellation", response="Drill", conflicts=True)
@token_required
def cancel_drill(drill_id: int):
    return _drill_response(lifecycle.cancel_drill(current_api_user(), visible_drill(drill_id), json_body()))
