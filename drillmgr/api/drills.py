"""Drills over the JSON API: list, plan, change, complete, cancel, recurring series, plans for many units,
attachments, and the calendar's weekends and holidays."""
from datetime import timedelta

from flask import jsonify, request, send_file, url_for
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.attachments import services as attachments
from drillmgr.drills import (bulk, key_links, lifecycle, participation, queries, serialise, series,
                             series_changes, workdays)
from drillmgr.drills.models import DrillSeries
from drillmgr.enums import AttachmentKind, Condition, DrillForm, DrillScope, DrillStatus, Focus, JointWith, OrgKind
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import api_datetime
from drillmgr.validation import Payload

_DATETIME = {"type": "string", "format": "date-time",
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
_DRILL_FIELDS = {
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
    "starts_at": _DATETIME,
    "ends_at": _DATETIME,
    "location": {"type": "string", "maxLength": 300},
    "public": {"type": "boolean"},
}
register_schema("Drill", {"type": "object", "properties": _DRILL_FIELDS | {
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
        "recorded_at": _DATETIME}},
    "series_id": {"type": ["integer", "null"]}, "occurrence_start": {"type": ["string", "null"]},
    "is_demo": {"type": "boolean"}, "created_at": _DATETIME, "updated_at": _DATETIME,
}})
register_schema("DrillInput", {
    "type": "object", "required": ["title", "form", "starts_at", "ends_at"],
    "description": "With `participation`, a drill held earlier is entered and completed at once.",
    "properties": _DRILL_FIELDS | {"participation": _PARTICIPATION_INPUT, "version": {"type": "integer"}},
})
register_schema("DrillInputPatch", {
    "type": "object", "required": ["version"],
    "description": "Any subset of the fields, and the drill's version. Participation is recorded by completing the "
                   "drill (POST /drills/{drill_id}/complete); sent here it is refused (422).",
    "properties": _DRILL_FIELDS | {"version": {"type": "integer", "minimum": 1}},
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
_RRULE = {"type": "string", "minLength": 1, "maxLength": 500,
          "description": "FREQ=DAILY|WEEKLY|MONTHLY|YEARLY; INTERVAL 1-1000; COUNT 1-1000 or UNTIL (a date such as "
                         "20270630 means to the end of that day, Beijing time); at most 366 combinations of BY-part "
                         "values and 60 drills a year. Refused otherwise with 422 naming `rrule`."}
register_schema("DrillSeriesInput", {
    "type": "object", "required": ["title", "form", "starts_at", "ends_at", "rrule"],
    "description": "The first occurrence's fields and an RFC 5545 RRULE (daily to yearly), expanded in "
                   "Beijing time; occurrences become drills up to a year ahead, at most 100 in one request (the "
                   "nightly job makes the rest).",
    "properties": _DRILL_FIELDS | {"rrule": _RRULE | {"examples": ["FREQ=MONTHLY;BYMONTHDAY=15",
                                                                   "FREQ=WEEKLY;BYDAY=MO;UNTIL=20270630"]}},
})
register_schema("DrillFollowingInput", {
    "type": "object", "required": ["version"],
    "description": "Changes this occurrence and all later ones of its series (the series is split).",
    "properties": _DRILL_FIELDS | {"rrule": _RRULE, "version": {"type": "integer", "minimum": 1}},
})
register_schema("DrillSeries", {"type": "object", "properties": {
    "id": {"type": "integer"}, "dtstart": _DATETIME,
    "rrule": {"type": ["string", "null"], "description": "null while double-blind occurrences the caller may "
                                                         "not see are still ahead (so is materialized_until)"},
    "duration_minutes": {"type": "integer"}, "materialized_until": {"type": ["string", "null"]},
    "occurrences": {"type": "array", "items": {"$ref": "#/components/schemas/Drill"}}}})
_FLAGS = {"type": "array", "description": "weekend, public holiday or adjusted working day (调休上班日) of the "
                                      "day in Beijing time, from the `holidays` package's China calendar",
          "items": {"type": "object", "properties": {"kind": {"enum": ["weekend", "holiday", "adjusted_workday"]},
                                                     "text": {"type": "string"}}}}
_OCCURRENCE = {"type": "object", "properties": {"starts_at": _DATETIME, "ends_at": _DATETIME, "flags": _FLAGS}}
register_schema("DrillSeriesPreview", {"type": "object", "description": "What POST /drill-series would make; "
                                       "nothing is made.", "properties": {
    "rrule": {"type": "string", "description": "the rule as it would be stored (UNTIL in UTC)"},
    "created_now": {"type": "integer", "description": "occurrences made at once (up to a year ahead, at most 100)"},
    "total": {"type": ["integer", "null"], "description": "all occurrences of an ending rule; null: it never ends"},
    "ends": {"type": "boolean"}, "flagged": {"type": "integer", "description": "occurrences with a flag"},
    "occurrences": {"type": "array", "items": _OCCURRENCE}}})
register_schema("SeriesEnd", {
    "type": "object", "required": ["version"],
    "properties": {"version": {"type": "integer", "minimum": 1, "description": "this drill's; a stale one is 409"},
                   "reason": {"type": "string", "maxLength": 1000,
                              "description": "required to cancel this and all following; optional to end here"}}})
register_schema("SeriesEndResult", {"type": "object", "properties": {
    "cancelled": {"type": "array", "items": {"type": "integer"}, "description": "ids of the drills cancelled"},
    "series": {"$ref": "#/components/schemas/DrillSeries"}}})
register_schema("DrillBatchInput", {
    "type": "object", "required": ["mode", "region_code", "kinds", "title", "form", "starts_at", "ends_at"],
    "description": "A plan for every unit of the chosen kinds in a region (within the caller's; coordinators and "
                   "admins only): `joint` makes one drill organised by the region with the units as participants, "
                   "`per_unit` one drill each, organised by the unit. With `rrule`, series instead of drills. At "
                   "most 300 units and 1,500 drills at once; all of it is made, or nothing (422 naming the field).",
    "properties": {k: v for k, v in _DRILL_FIELDS.items()
                   if k not in ("organizer_org_id", "organizer_region_code", "participant_org_ids", "region_code")}
    | {"mode": {"enum": ["joint", "per_unit"]},
       "region_code": {"type": "string", "description": "the region whose units are planned for (its subtree)"},
       "kinds": {"type": "array", "minItems": 1, "items": {"enum": OrgKind.values()}},
       "org_ids": {"type": "array", "items": {"type": "integer"},
                   "description": "only these of the matching units (each must match)"},
       "rrule": _RRULE}})
register_schema("DrillBatchPreview", {"type": "object", "description": "What POST /drill-batches would make.",
                                      "properties": {
    "mode": {"enum": ["joint", "per_unit"]}, "region_code": {"type": "string"}, "region_name": {"type": "string"},
    "kinds": {"type": "array", "items": {"type": "string"}},
    "units": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "kind": {"type": "string"},
        "region_code": {"type": "string"}}}},
    "rrule": {"type": ["string", "null"]}, "drills": {"type": "integer", "description": "drills made at once"},
    "series": {"type": "integer"}, "total_per_series": {"type": ["integer", "null"]},
    "occurrences": {"type": "array", "items": _OCCURRENCE,
                    "description": "the dates of each unit's drills (of the joint drill), with their flags"}}})
register_schema("DrillBatch", {"type": "object", "description": "What a plan for many units made.", "properties": {
    "key": {"type": "string"}, "created_at": _DATETIME, "mode": {"enum": ["joint", "per_unit"]},
    "region_code": {"type": ["string", "null"]}, "title": {"type": "string"}, "rrule": {"type": ["string", "null"]},
    "unit_ids": {"type": "array", "items": {"type": "integer"}}, "drills": {"type": "integer"},
    "series_ids": {"type": "array", "items": {"type": "integer"}},
    "drill_ids": {"type": "array", "items": {"type": "integer"}, "description": "those the caller may see"},
    "first_starts_at": {"type": ["string", "null"]}}})
register_schema("CalendarDays", {"type": "object", "properties": {"items": {"type": "array", "items": {
    "type": "object", "properties": {"date": {"type": "string", "format": "date"}, "flags": _FLAGS}}},
    "arrangement_known": {"type": "object", "additionalProperties": {"type": "boolean"},
                          "description": "per year: whether the State Council's arrangement (adjusted working "
                                         "days) is in the data; without it only the statutory holidays show"}}})
register_schema("Attachment", {"type": "object", "properties": {
    "id": {"type": "integer"}, "drill_id": {"type": "integer"}, "kind": {"enum": AttachmentKind.values()},
    "filename": {"type": "string"}, "content_type": {"type": "string"}, "size": {"type": "integer"},
    "sha256": {"type": "string"}, "uploaded_at": _DATETIME}})
register_schema("AttachmentList", {"type": "object", "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}}})
register_schema("AttachmentUpload", {
    "type": "object", "required": ["file"],
    "description": "multipart/form-data; pdf, doc, docx, xls, xlsx, jpg, png, checked by extension and content",
    "properties": {"file": {"type": "string", "format": "binary"}, "kind": {"enum": AttachmentKind.values()}}})

DRILL_FILTERS = [
    {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "region code (its subtree)"},
    {"name": "org", "in": "query", "schema": {"type": "integer"}, "description": "organiser or participant"},
    {"name": "form", "in": "query", "schema": {"enum": DrillForm.values()}},
    {"name": "status", "in": "query", "schema": {"enum": DrillStatus.values()}},
    {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
]


def _drill(drill_id: int):
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
    return _drill_response(_drill(drill_id))


@bp.patch("/drills/<int:drill_id>")
@describe("Change or reschedule a drill (send its version; new times raise the sequence)",
          request="DrillInputPatch", response="Drill")
@token_required
def update_drill(drill_id: int):
    return _drill_response(lifecycle.update_drill(current_api_user(), _drill(drill_id), json_body()))


@bp.patch("/drills/<int:drill_id>/following")
@describe("Change this occurrence and every later one of its recurring series", request="DrillFollowingInput",
          response="DrillSeries", conflicts=True)
@token_required
def update_following(drill_id: int):
    actor = current_api_user()
    changed = series_changes.update_following(actor, _drill(drill_id), json_body())
    return jsonify(_series_dict(actor, changed))


@bp.post("/drills/<int:drill_id>/complete")
@describe("Complete a drill with its participation (again: correct the participation)",
          request="DrillCompletion", response="Drill", conflicts=True)
@token_required
def complete_drill(drill_id: int):
    return _drill_response(lifecycle.complete_drill(current_api_user(), _drill(drill_id), json_body()))


@bp.post("/drills/<int:drill_id>/cancel")
@describe("Cancel a drill with a reason", request="DrillCancellation", response="Drill", conflicts=True)
@token_required
def cancel_drill(drill_id: int):
    return _drill_response(lifecycle.cancel_drill(current_api_user(), _drill(drill_id), json_body()))


def _series_dict(actor, drill_series) -> dict:
    plan = access.can_see_series_plan(actor, drill_series)
    return {"id": drill_series.id, "rrule": drill_series.rrule if plan else None,
            "dtstart": api_datetime(drill_series.dtstart), "duration_minutes": drill_series.duration_minutes,
            "materialized_until": api_datetime(drill_series.materialized_until) if plan else None,
            "occurrences": [serialise.drill_to_dict(d) for d in queries.series_occurrences(actor, drill_series.id)]}


@bp.post("/drill-series")
@describe("Create a recurring drill (RFC 5545 RRULE); its occurrences are real drills",
          request="DrillSeriesInput", response="DrillSeries", created=True)
@token_required
def create_series():
    actor = current_api_user()
    created = series.create_series(actor, json_body())
    return jsonify(_series_dict(actor, created)), 201, {"Location": url_for("api.get_series", series_id=created.id)}


@bp.post("/drill-series/preview")
@describe("Preview a recurring drill: the occurrences it would make, with weekend and holiday flags; makes nothing",
          request="DrillSeriesInput", response="DrillSeriesPreview")
@token_required
def preview_series():
    return jsonify(series.preview_series(current_api_user(), json_body()).to_dict())


def _series_end(drill_id: int, include_this: bool):
    actor = current_api_user()
    drill = _drill(drill_id)
    cancelled = series_changes.end_series(actor, drill, json_body(), include_this=include_this)
    return jsonify({"cancelled": [d.id for d in cancelled], "series": _series_dict(actor, drill.series)})


@bp.post("/drills/<int:drill_id>/cancel-following")
@describe("Cancel this occurrence and all following ones of its series; the series ends before it",
          request="SeriesEnd", response="SeriesEndResult", conflicts=True)
@token_required
def cancel_following(drill_id: int):
    return _series_end(drill_id, include_this=True)


@bp.post("/drills/<int:drill_id>/end-series")
@describe("End the series with this occurrence: the later ones are cancelled, none is made any more",
          request="SeriesEnd", response="SeriesEndResult", conflicts=True)
@token_required
def end_series_here(drill_id: int):
    return _series_end(drill_id, include_this=False)


@bp.post("/drill-batch-preview")
@describe("Preview a plan for many units: the units, the dates with their flags, how many drills; makes nothing",
          request="DrillBatchInput", response="DrillBatchPreview")
@token_required
def preview_batch():
    return jsonify(bulk.read_plan(current_api_user(), json_body()).to_dict())


@bp.post("/drill-batches")
@describe("Plan for many units at once (every school of a county…): one joint drill, or one drill or series per "
          "unit; all or nothing. Send an Idempotency-Key so that a retry does not plan twice.",
          request="DrillBatchInput", response="DrillBatch", created=True)
@token_required
def create_batch():
    actor = current_api_user()
    key, _plan = bulk.make_plan(actor, json_body())
    return jsonify(bulk.batch_summary(actor, key).to_dict()), 201, {
        "Location": url_for("api.get_batch", key=key)}


@bp.get("/drill-batches/<key>")
@describe("What a plan for many units made (for its author and the region's coordinators)", response="DrillBatch")
@token_required
def get_batch(key: str):
    return jsonify(bulk.batch_summary(current_api_user(), key).to_dict())


CALENDAR_DAYS_MAX = 366


@bp.get("/calendar-days")
@describe("Weekends, China's public holidays and adjusted working days between two dates (at most 366 days)",
          response="CalendarDays", params=[
              {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
              {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}}])
@token_required
def calendar_days():
    p = Payload(dict(request.args))
    first, last = p.date("from", required=True), p.date("to", required=True)
    p.check()
    if last < first or (last - first).days >= CALENDAR_DAYS_MAX:
        message = _("Give a range of 1 to %(n)d days, `to` not before `from`.", n=CALENDAR_DAYS_MAX)
        raise ValidationError(message, {"to": [message]})
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return jsonify({"items": [{"date": d.isoformat(), "flags": workdays.flags_to_dicts(d)} for d in days],
                    "arrangement_known": {str(y): workdays.arrangement_known(y)
                                          for y in sorted({d.year for d in days})}})


@bp.get("/drill-series/<int:series_id>")
@describe("A recurring drill and the occurrences the caller may see", response="DrillSeries")
@token_required
def get_series(series_id: int):
    actor = current_api_user()
    found = db.session.get(DrillSeries, series_id)
    if found is None or not queries.series_occurrences(actor, series_id):
        access.not_found(_("No such series."))
    return jsonify(_series_dict(actor, found))


@bp.get("/drills/<int:drill_id>/attachments")
@describe("The drill's files", response="AttachmentList")
@token_required
def list_attachments(drill_id: int):
    drill = _drill(drill_id)
    return jsonify({"items": [attachments.attachment_to_dict(a) for a in attachments.drill_attachments(drill)]})


@bp.post("/drills/<int:drill_id>/attachments")
@describe("Attach a file (plan, script, sign-in sheet, photo); size- and type-checked",
          request="AttachmentUpload", response="Attachment", created=True,
          request_content_type="multipart/form-data", conflicts=True)
@token_required
def add_attachment(drill_id: int):
    drill = _drill(drill_id)
    upload = request.files.get("file")
    if upload is None:
        message = _("Send the file as multipart/form-data in the field `file`.")
        raise ValidationError(message, {"file": [message]})
    attachment = attachments.add_attachment(current_api_user(), drill, request.form.get("kind"), upload.stream,
                                            upload.filename or "")
    return jsonify(attachments.attachment_to_dict(attachment)), 201, {
        "Location": url_for("api.get_attachment", attachment_id=attachment.id)}


@bp.get("/attachments/<int:attachment_id>")
@describe("Download a file (only for those who may see its drill)",
          content_types=sorted({t.content_type for t in attachments.FILE_TYPES.values()}))
@token_required
def get_attachment(attachment_id: int):
    attachment = attachments.get_visible_attachment(current_api_user(), attachment_id)
    return send_file(attachments.attachment_path(attachment), mimetype=attachment.content_type,
                     as_attachment=True, download_name=attachment.filename, max_age=0)


@bp.delete("/attachments/<int:attachment_id>")
@describe("Remove a file (409 once the drill's review is filed)", conflicts=True)
@token_required
def delete_attachment(attachment_id: int):
    actor = current_api_user()
    attachments.delete_attachment(actor, attachments.get_visible_attachment(actor, attachment_id))
    return "", 204
