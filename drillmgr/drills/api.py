"""Drills over the JSON API: list, plan, change, complete and cancel (series and plans for many units:
drills/api_series.py)."""
from flask import jsonify, request, url_for

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.drills import key_links, lifecycle, participation, queries, serialise
from drillmgr.enums import Condition, DrillForm, DrillScope, DrillStatus, Focus, JointWith
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
DRILL_FIELDS = {
    "title": {"type": "string", "maxLength": 200},
    "description": {"type": "string"},
    "form": {"enum": DrillForm.values()},
    "scope": {"enum": DrillScope.values()},
    "double_blind": {"type": "boolean"},
    "joint_with": {"enum": JointWith.values()},
    "focus": {"type": "array", "items": {"enum": Focus.values()},
              "description": "defaults to the three key links for a comprehensive live drill of a key county"},
    "scenario": {"type": "object", "properties": {
        "magnitude": {"type": ["number", "null"], "minimum": 0, "maximum": 9.9},
        "conditions": {"type": "array", "items": {"enum": Condition.values()}}}},
    "organizer_org_id": {"type": ["integer", "null"], "description": "exactly one of organizer_org_id, "
                                                                     "organizer_region_code"},
    "organizer_region_code": {"type": ["string", "null"]},
    "region_code": {"type": "string", "description": "defaults to the organiser's region"},
    "participant_org_ids": {"type": "array", "items": {"type": "integer"}},
    "evaluator_ids": {"type": "array", "items": {"type": "integer"},
                      "description": "users, possibly of other units; they see the drill even when double-blind"},
    "starts_at": DATETIME,
    "ends_at": DATETIME,
    "location": {"type": "string", "maxLength": 300},
    "public": {"type": "boolean"},
}
register_schema("Drill", {"type": "object", "properties": DRILL_FIELDS | {
    "id": {"type": "integer"},
    "status": {"enum": DrillStatus.values()},
    "warnings": {"type": "array", "items": {"type": "string"},
                 "description": "On one drill's answer (get, create, change): what will keep it from counting, e.g. a "
                                "planned comprehensive live drill of a key county without all three key links, "
                                "naming the missing link, in the caller's language"},
    "version": {"type": "integer", "description": "send it back with every change; a stale one answers 409"},
    "sequence": {"type": "integer", "description": "the calendar SEQUENCE; rises when the drill is moved"},
    "cancel_reason": {"type": ["string", "null"]}, "cancelled_at": {"type": ["string", "null"]},
    "completed_at": {"type": ["string", "null"]},
    "participation": {"type": ["object", "null"], "properties": {
        "counts": _COUNTS, "total": {"type": "integer"},
        "groups": {"type": "array", "items": {"type": "object", "properties": {
            "group_id": {"type": ["integer", "null"]}, "name": {"type": "string"}, "expected": {"type": "integer"},
            "present": {"type": "integer"}, "missing": {"type": "integer"}}}},
        "evacuation_seconds": {"type": ["integer", "null"]},
        "evacuation_target_seconds": {"type": ["integer", "null"]}, "notes": {"type": ["string", "null"]},
        "exceptional_reason": {"type": ["string", "null"],
                               "description": "the reason given when exceptional numbers were confirmed"},
        "recorded_at": DATETIME}},
    "series_id": {"type": ["integer", "null"]}, "occurrence_start": {"type": ["string", "null"]},
    "is_demo": {"type": "boolean"}, "created_at": DATETIME, "updated_at": DATETIME,
}})
register_schema("DrillInput", {
    "type": "object", "required": ["title", "form", "starts_at", "ends_at"],
    "description": "With `participation`, a drill held earlier is entered and completed at once.",
    "properties": DRILL_FIELDS | {"participation": _PARTICIPATION_INPUT, "version": {"type": "integer"}},
})
register_schema("DrillInputPatch", {
    "type": "object", "required": ["version"],
    "description": "Any subset of the fields, and the drill's version. Participation is recorded by completing the "
                   "drill (POST /drills/{drill_id}/complete); sent here it is refused (422).",
    "properties": DRILL_FIELDS | {"version": {"type": "integer", "minimum": 1}},
})
register_schema("DrillCompletion", {
    "type": "object", "required": ["participation"],
    "properties": {"participation": _PARTICIPATION_INPUT,
                   "participant_org_ids": {"type": "array", "items": {"type": "integer"}},
                   "version": {"type": "integer", "minimum": 1, "description": "checked when given"}},
})
register_schema("DrillCancellation", {
    "type": "object", "required": ["reason"],
    "properties": {"reason": {"type": "string", "maxLength": 1000},
                   "version": {"type": "integer", "minimum": 1, "description": "checked when given"}},
})

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
    return jsonify(serialise.drill_to_dict(drill) | {"warnings": key_links.planning_warnings(drill)}), status, headers



@bp.get("/drills")
@describe("Drills the caller may see (double-blind ones only for insiders before they start)",
          response="Drill", paginated=True, params=DRILL_FILTERS)
@token_required
def list_drills():
    page, per_page = page_args()
    query = queries.drill_query(current_api_user(), queries.read_filters(request.args))
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False),
                             serialise.drill_to_dict))


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


