"""Drills over the JSON API: list, plan, change, complete and cancel (series and plans for many units:
drills/api_series.py)."""
from flask import jsonify, request, url_for

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import SCHEMAS, describe, register_schema
from drillmgr.drills import lifecycle, participation, queries
from drillmgr.drills.schemas import DrillAnswerSchema, DrillCancellationSchema, DrillSchema
from drillmgr.enums import DrillForm, DrillStatus
from drillmgr.extensions import db

DATETIME = {"type": "string", "format": "date-time",
             "description": "ISO 8601 with offset, e.g. 2026-05-12T10:00:00+08:00"}
_COUNTS = {"type": "object", "description": "at least one group above zero; none negative",
           "properties": {name: {"type": "integer", "minimum": 0} for name in participation.COUNT_FIELDS}}
_GROUP_COUNT = {"type": "object", "required": ["group_id", "present"], "properties": {
    "group_id": {"type": "integer", "description": "a group of the organiser or a participating unit"},
    "present": {"type": "integer", "minimum": 0}, "missing": {"type": "integer", "minimum": 0}}}
_PARTICIPATION_INPUT = {
    "type": "object",
    "description": "`counts` or `groups` (or both) is required (422 naming `participation.counts` otherwise). "
                   "Checked against the drill: the total against the headcounts recorded for the organiser and "
                   "the participating units, the evacuation time against the drill's own length (never longer) and "
                   "the unit's target (more than five times it is exceptional). Exceptional numbers answer 422 "
                   "naming the field and `participation.confirm_exceptional`; send them again with "
                   "`confirm_exceptional: true` and an `exceptional_reason`, which is kept and shown.",
    "properties": {"counts": _COUNTS,
                   "groups": {"type": "array", "maxItems": 500, "items": _GROUP_COUNT,
                              "description": "the roll call by the units' groups; the present of each unit's "
                                             "groups add up to its count (students for a school, patients for "
                                             "a hospital), which a count sent besides must equal"},
                   "notes": {"type": "string", "maxLength": 5000, "description": "what was noted during the drill"},
                   "evacuation_seconds": {"type": "integer", "minimum": 1,
                                          "description": "time to evacuate in seconds, for evacuation drills"},
                   "confirm_exceptional": {"type": "boolean",
                                           "description": "the numbers beyond the plausible are right"},
                   "exceptional_reason": {"type": "string", "maxLength": 2000,
                                          "description": "why they are right; required with confirm_exceptional"}},
}
# Both answer as "Drill" (a series' occurrences, a list's items); one drill's answer also has its warnings.
register_schema("Drill", DrillSchema, output=True)
register_schema("Drill", DrillAnswerSchema, output=True)
register_schema("DrillInput", DrillSchema, output=False)
SCHEMAS["DrillInput"]["description"] = "With `participation`, a drill held earlier is entered and completed at once."
SCHEMAS["DrillInputPatch"] |= {
    "required": ["version"],
    "description": "Any subset of the fields, and the drill's version. Participation is recorded by completing the "
                   "drill (POST /drills/{drill_id}/complete); sent here it is refused (422)."}
SCHEMAS["DrillInput"]["properties"]["participation"] = _PARTICIPATION_INPUT
register_schema("DrillCompletion", {
    "type": "object", "required": ["participation"],
    "properties": {"participation": _PARTICIPATION_INPUT,
                   "participant_org_ids": {"type": "array", "items": {"type": "integer"}},
                   "version": {"type": "integer", "minimum": 1, "description": "checked when given"}},
})
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
@describe("Drills the caller may see (double-blind ones only for insiders before they start)",
          response="Drill", paginated=True, params=DRILL_FILTERS)
@token_required
def list_drills():
    page, per_page = page_args()
    query = queries.drill_query(current_api_user(), queries.read_filters(request.args))
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False),
                             DrillSchema().dump))


@bp.post("/drills")
@describe("Plan a drill, or enter one held earlier and complete it at once (with `participation`)",
          request="DrillInput", response="Drill", created=True)
@token_required
def create_drill():
    return _drill_response(lifecycle.create_drill(current_api_user(), json_body()), 201)


@bp.get("/drills/<int:drill_id>")
@describe("One drill", response="Drill")
@token_required
def get_drill(drill_id: int):
    return _drill_response(visible_drill(drill_id))


@bp.patch("/drills/<int:drill_id>")
@describe("Change or reschedule a drill (send its version; new times raise the sequence)",
          request="DrillInputPatch", response="Drill")
@token_required
def update_drill(drill_id: int):
    return _drill_response(lifecycle.update_drill(current_api_user(), visible_drill(drill_id), json_body()))




@bp.post("/drills/<int:drill_id>/complete")
@describe("Complete a drill with its participation (again: correct the participation)",
          request="DrillCompletion", response="Drill", conflicts=True)
@token_required
def complete_drill(drill_id: int):
    return _drill_response(lifecycle.complete_drill(current_api_user(), visible_drill(drill_id), json_body()))


@bp.post("/drills/<int:drill_id>/cancel")
@describe("Cancel a drill with a reason", request="DrillCancellation", response="Drill", conflicts=True)
@token_required
def cancel_drill(drill_id: int):
    return _drill_response(lifecycle.cancel_drill(current_api_user(), visible_drill(drill_id), json_body()))


