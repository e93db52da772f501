"""Public education (item 19) and readiness checklists over the JSON API."""
from datetime import date

import io

from flask import jsonify, request, send_file, url_for

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.attachments.services import FILE_TYPES, attachment_path
from drillmgr.checklists import readiness as checklist_readiness
from drillmgr.checklists import runs, shortcomings
from drillmgr.enums import (Answer, Channel, FindingCategory, ObservanceDay, OutreachKind, Severity, SiteKind,
                            SiteStatus, SixIntoSetting)
from drillmgr.extensions import db
from drillmgr.outreach import services
from drillmgr.regions.services import PREFECTURE
from drillmgr.validation import Payload

_ACTIVITY_FIELDS = {
    "kind": {"enum": OutreachKind.values()},
    "title": {"type": "string", "maxLength": 200},
    "observance_day": {"enum": [*ObservanceDay.values(), None],
                       "description": "required for observance_campaign, refused for other kinds"},
    "setting": {"enum": [*SixIntoSetting.values(), None], "description": "required for six_into, refused otherwise"},
    "held_on": {"type": "string", "format": "date", "description": "the day it was held: never in the future"},
    "region_code": {"type": "string"},
    "organizer_org_id": {"type": ["integer", "null"], "description": "unit staff: defaults to their unit"},
    "channels": {"type": "array", "items": {"enum": Channel.values()}},
    "audience": {"type": "integer", "minimum": 0, "maximum": services.MAX_AUDIENCE,
                 "description": f"refused above {services.AUDIENCE_POPULATION_FACTOR}x a plausible population "
                                "of the region's level (village 5 000, township 60 000, county 500 000). "
                                "On site only (no radio, TV or internet), more than the organising unit's "
                                "headcount (schools, hospitals, agencies, enterprises, venues) or, without one, "
                                "than a six-into setting's venue holds (agency 2 000, school 5 000, enterprise "
                                "5 000, community 10 000, village 5 000, family 2 000) is exceptional: 422 naming "
                                "`audience` and `confirm_exceptional` until confirmed with a reason"},
    "description": {"type": "string", "maxLength": 5000},
    "confirm_exceptional": {"type": "boolean", "description": "the exceptional audience is right"},
    "exceptional_reason": {"type": ["string", "null"], "maxLength": 2000,
                           "description": "why it is right: required with confirm_exceptional; kept and shown"},
}
register_schema("OutreachActivity", {"type": "object", "properties": _ACTIVITY_FIELDS | {
    "id": {"type": "integer"},
    "counts_toward_observance": {"type": ["boolean", "null"], "description": (
        "campaigns only: held within the window around its day (±OUTREACH_OBSERVANCE_WINDOW_DAYS, default 3); "
        "a campaign outside it is kept but not counted")},
    "observance_note": {"type": ["string", "null"], "description": "why it counts or not"},
    "is_demo": {"type": "boolean"},
}})
register_schema("OutreachAttachmentUpload", {
    "type": "object", "required": ["file"],
    "description": "multipart/form-data; pdf, doc, docx, xls, xlsx, jpg, png, checked by extension and content",
    "properties": {"file": {"type": "string", "format": "binary"}}})
register_schema("OutreachActivityInput", {"type": "object", "required": ["kind", "title", "held_on", "region_code"],
                                          "description": "PATCH takes any subset.", "properties": _ACTIVITY_FIELDS})
_SITE_FIELDS = {"kind": {"enum": SiteKind.values()}, "name": {"type": "string", "maxLength": 200},
                "region_code": {"type": "string"}, "org_id": {"type": ["integer", "null"]},
                "status": {"enum": SiteStatus.values()},
                "year": {"type": "integer", "minimum": services.EARLIEST_YEAR, "maximum": date.today().year + 5,
                         "description": "at most five years ahead"}}
register_schema("DemonstrationSite", {"type": "object", "properties": _SITE_FIELDS | {
    "id": {"type": "integer"}, "is_demo": {"type": "boolean"}}})
register_schema("DemonstrationSiteInput", {"type": "object", "required": ["kind", "name", "region_code", "year"],
                                           "properties": _SITE_FIELDS})
register_schema("SixIntoCoverage", {"type": "object", "properties": {
    "year": {"type": "integer"}, "region_code": {"type": "string"},
    "rows": {"type": "array", "items": {"type": "object", "properties": {
        "region_code": {"type": "string"}, "name": {"type": "string"},
        "direct": {"type": "boolean", "description": "activities recorded at the region itself"},
        "counts": {"type": "object", "properties": {s: {"type": "integer"} for s in SixIntoSetting.values()}},
        "gaps": {"type": "array", "items": {"enum": SixIntoSetting.values()}}}}}}})
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

_YEAR = {"type": "integer", "minimum": services.EARLIEST_YEAR, "maximum": 2100}
OUTREACH_FILTERS = [
    {"name": "year", "in": "query", "schema": _YEAR},
    {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "a region and everything below"},
    {"name": "kind", "in": "query", "schema": {"enum": OutreachKind.values()}},
]


@bp.get("/outreach")
@describe("Public education activities (item 19) the caller may see, newest first", response="OutreachActivity",
          paginated=True, params=OUTREACH_FILTERS)
@token_required
def list_outreach():
    page, per_page = page_args()
    filters = services.read_filters({k: v for k, v in request.args.items() if k in ("year", "region", "kind")})
    query = services.activity_query(current_api_user(), **filters)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    verdicts = services.verdicts(pagination.items)
    return jsonify(paginated(pagination, lambda a: services.activity_to_dict(a, verdicts[a.id])))


@bp.post("/outreach")
@describe("Record an activity; a campaign outside its observance window is kept but not counted",
          request="OutreachActivityInput", response="OutreachActivity", created=True)
@token_required
def create_outreach():
    activity = services.create_activity(current_api_user(), json_body())
    return (jsonify(services.activity_to_dict(activity)), 201,
            {"Location": url_for("api.get_outreach", activity_id=activity.id)})


@bp.get("/outreach/<int:activity_id>")
@describe("One activity", response="OutreachActivity")
@token_required
def get_outreach(activity_id: int):
    return jsonify(services.activity_to_dict(services.get_visible_activity(current_api_user(), activity_id)))


@bp.patch("/outreach/<int:activity_id>")
@describe("Change an activity", request="OutreachActivityInput", response="OutreachActivity")
@token_required
def update_outreach(activity_id: int):
    actor = current_api_user()
    activity = services.get_visible_activity(actor, activity_id)
    return jsonify(services.activity_to_dict(services.update_activity(actor, activity, json_body())))


def _attachment_dict(attachment) -> dict:
    return {"id": attachment.id, "outreach_id": attachment.outreach_id, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size, "sha256": attachment.sha256,
            "url": url_for("api.get_outreach_attachment", attachment_id=attachment.id)}


@bp.get("/outreach/<int:activity_id>/attachments")
@describe("The activity's files")
@token_required
def list_outreach_attachments(activity_id: int):
    activity = services.get_visible_activity(current_api_user(), activity_id)
    return jsonify({"items": [_attachment_dict(a) for a in services.activity_attachments(activity)]})


@bp.post("/outreach/<int:activity_id>/attachments")
@describe("Attach a photo or document (multipart field `file`); size- and type-checked like drill files",
          request="OutreachAttachmentUpload", created=True, request_content_type="multipart/form-data")
@token_required
def add_outreach_attachment(activity_id: int):
    actor = current_api_user()
    activity = services.get_visible_activity(actor, activity_id)
    upload = request.files.get("file")
    attachment = services.attach_file(actor, activity, upload.stream if upload else io.BytesIO(),
                                      (upload.filename or "") if upload else "")
    return jsonify(_attachment_dict(attachment)), 201


@bp.get("/outreach/attachments/<int:attachment_id>")
@describe("Download an activity's file (only for those who may see the activity)",
          content_types=sorted({t.content_type for t in FILE_TYPES.values()}))
@token_required
def get_outreach_attachment(attachment_id: int):
    attachment = services.get_visible_attachment(current_api_user(), attachment_id)
    return send_file(attachment_path(attachment), mimetype=attachment.content_type, as_attachment=True,
                     download_name=attachment.filename, max_age=0)


def _region_and_year() -> tuple[str, int]:
    """`region` (default: the caller's region, else the prefecture) and `year` (default: this year)."""
    actor = current_api_user()
    p = Payload(dict(request.args))
    default = actor.region_code if actor.role in access.REGIONAL_ROLES else PREFECTURE[0]
    region = p.string("region", max_length=12, default=default) or default
    year = p.integer("year", minimum=services.EARLIEST_YEAR, maximum=2100, default=date.today().year)
    p.check()
    services.ensure_valid_region(region)
    return region, year


@bp.get("/outreach/coverage")
@describe("Six-into coverage: activities per setting for each county of the prefecture, or each township of "
          "a county", response="SixIntoCoverage",
          params=[{"name": "region", "in": "query", "schema": {"type": "string"}},
                  {"name": "year", "in": "query", "schema": _YEAR}])
@token_required
def outreach_coverage():
    region, year = _region_and_year()
    rows = services.coverage_matrix(current_api_user(), region, year)
    return jsonify({"year": year, "region_code": region, "rows": [
        {"region_code": row.region.code, "name": row.region.name, "direct": row.direct,
         "counts": {s.value: row.counts.get(s, 0) for s in SixIntoSetting}, "gaps": [s.value for s in row.gaps]}
        for row in rows]})


@bp.get("/demonstration-sites")
@describe("Demonstration communities, science education bases and schools", response="DemonstrationSite",
          paginated=True, params=[{"name": "kind", "in": "query", "schema": {"enum": SiteKind.values()}},
                                  {"name": "status", "in": "query", "schema": {"enum": SiteStatus.values()}},
                                  {"name": "region", "in": "query", "schema": {"type": "string"}}])
@token_required
def list_sites():
    page, per_page = page_args()
    p = Payload(dict(request.args))
    kind, status = p.choice("kind", SiteKind, default=None), p.choice("status", SiteStatus, default=None)
    region = p.string("region", max_length=12, default=None)
    p.check()
    query = services.site_query(current_api_user(), kind=kind, status=status, region=region or None)
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False),
                             services.site_to_dict))


@bp.post("/demonstration-sites")
@describe("Add a demonstration site (coordinators and admins)", request="DemonstrationSiteInput",
          response="DemonstrationSite", created=True)
@token_required
def create_site():
    site = services.create_site(current_api_user(), json_body())
    return jsonify(services.site_to_dict(site)), 201


@bp.patch("/demonstration-sites/<int:site_id>")
@describe("Change a demonstration site, e.g. its status", request="DemonstrationSiteInput",
          response="DemonstrationSite")
@token_required
def update_site(site_id: int):
    actor = current_api_user()
    site = services.get_visible_site(actor, site_id)
    return jsonify(services.site_to_dict(services.update_site(actor, site, json_body())))


# --- readiness checklists ------------------------------------------------------------------------

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
    query = runs.run_query(current_api_user(), org_id=org_id, drill_id=drill_id)
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False),
                             runs.run_to_dict))


@bp.post("/checklist-runs")
@describe("Start a drill's pre-drill checklist or a unit's readiness checklist", request="ChecklistRunStart",
          response="ChecklistRun", created=True, conflicts=True)
@token_required
def start_checklist_run():
    run = runs.start_run(current_api_user(), json_body())
    return jsonify(runs.run_to_dict(run)), 201


@bp.get("/checklist-runs/<int:run_id>")
@describe("One checklist run with its answers", response="ChecklistRun")
@token_required
def get_checklist_run(run_id: int):
    return jsonify(runs.run_to_dict(runs.get_visible_run(current_api_user(), run_id)))


@bp.post("/checklist-runs/<int:run_id>/answers")
@describe("Answer items (yes / no / na, with a note); all or nothing", request="ChecklistAnswers",
          response="ChecklistRun", conflicts=True)
@token_required
def answer_checklist_run(run_id: int):
    actor = current_api_user()
    run = runs.get_visible_run(actor, run_id)
    return jsonify(runs.run_to_dict(runs.save_answers(actor, run, json_body())))


@bp.post("/checklist-runs/<int:run_id>/complete")
@describe("Complete a run once every item is answered", response="ChecklistRun", conflicts=True)
@token_required
def complete_checklist_run(run_id: int):
    actor = current_api_user()
    run = runs.get_visible_run(actor, run_id)
    return jsonify(runs.run_to_dict(runs.complete_run(actor, run)))


@bp.post("/checklist-runs/<int:run_id>/items/<int:item_id>/corrective-action")
@describe("Turn an item answered “no” into a finding with its corrective action. `category` and "
          "`corrective_action.owner` are required; summary (default: the item's shortcoming), severity, "
          "description and due date default to the draft. The answer's photo becomes the action's evidence.",
          request="ChecklistCorrectiveAction", response="Finding", created=True, conflicts=True)
@token_required
def checklist_corrective_action(run_id: int, item_id: int):
    from drillmgr.findings.schemas import FINDING

    actor = current_api_user()
    run = runs.get_visible_run(actor, run_id)
    finding = shortcomings.make_corrective_action(actor, run, item_id, json_body())
    return jsonify(FINDING.dump(finding)), 201, {
        "Location": url_for("api.get_finding", finding_id=finding.id)}


@bp.get("/readiness")
@describe("Share of units with a standing readiness checklist completed this term, by county",
          response="ReadinessSummary", params=[{"name": "region", "in": "query", "schema": {"type": "string"}}])
@token_required
def readiness():
    region, _year = _region_and_year()
    rows = checklist_readiness.readiness_for(current_api_user(), region)
    return jsonify({"items": [row | {"term": [d.isoformat() for d in row["term"]]} for row in rows]})

