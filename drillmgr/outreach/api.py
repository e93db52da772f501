"""Public education (item 19) over the JSON API: activities, their files, six-into coverage, demonstration sites."""
import io
from datetime import date

from flask import jsonify, request, send_file, url_for

from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, region_and_year, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.attachments.models import Attachment
from drillmgr.attachments.services import FILE_TYPES, attachment_path
from drillmgr.enums import Channel, ObservanceDay, OutreachKind, SiteKind, SiteStatus, SixIntoSetting
from drillmgr.extensions import db
from drillmgr.outreach import activities, audience, coverage, observance, sites
from drillmgr.outreach.models import EARLIEST_YEAR
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
    "audience": {"type": "integer", "minimum": 0, "maximum": audience.MAX_AUDIENCE,
                 "description": f"refused above {audience.AUDIENCE_POPULATION_FACTOR}x a plausible population "
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
                "year": {"type": "integer", "minimum": EARLIEST_YEAR, "maximum": date.today().year + 5,
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
_YEAR = {"type": "integer", "minimum": EARLIEST_YEAR, "maximum": 2100}
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
    filters = activities.read_filters({k: v for k, v in request.args.items() if k in ("year", "region", "kind")})
    query = activities.activity_query(current_api_user(), **filters)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    verdicts = observance.verdicts(pagination.items)
    return jsonify(paginated(pagination, lambda a: activities.activity_to_dict(a, verdicts[a.id])))


@bp.post("/outreach")
@describe("Record an activity; a campaign outside its observance window is kept but not counted",
          request="OutreachActivityInput", response="OutreachActivity", created=True)
@token_required
def create_outreach():
    activity = activities.create_activity(current_api_user(), json_body())
    return (jsonify(activities.activity_to_dict(activity)), 201,
            {"Location": url_for("api.get_outreach", activity_id=activity.id)})


@bp.get("/outreach/<int:activity_id>")
@describe("One activity", response="OutreachActivity")
@token_required
def get_outreach(activity_id: int):
    return jsonify(activities.activity_to_dict(activities.get_visible_activity(current_api_user(), activity_id)))


@bp.patch("/outreach/<int:activity_id>")
@describe("Change an activity", request="OutreachActivityInput", response="OutreachActivity")
@token_required
def update_outreach(activity_id: int):
    actor = current_api_user()
    activity = activities.get_visible_activity(actor, activity_id)
    return jsonify(activities.activity_to_dict(activities.update_activity(actor, activity, json_body())))


def _attachment_dict(attachment: Attachment) -> dict:
    return {"id": attachment.id, "outreach_id": attachment.outreach_id, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size, "sha256": attachment.sha256,
            "url": url_for("api.get_outreach_attachment", attachment_id=attachment.id)}


@bp.get("/outreach/<int:activity_id>/attachments")
@describe("The activity's files")
@token_required
def list_outreach_attachments(activity_id: int):
    activity = activities.get_visible_activity(current_api_user(), activity_id)
    return jsonify({"items": [_attachment_dict(a) for a in activities.activity_attachments(activity)]})


@bp.post("/outreach/<int:activity_id>/attachments")
@describe("Attach a photo or document (multipart field `file`); size- and type-checked like drill files",
          request="OutreachAttachmentUpload", created=True, request_content_type="multipart/form-data")
@token_required
def add_outreach_attachment(activity_id: int):
    actor = current_api_user()
    activity = activities.get_visible_activity(actor, activity_id)
    upload = request.files.get("file")
    attachment = activities.attach_file(actor, activity, upload.stream if upload else io.BytesIO(),
                                      (upload.filename or "") if upload else "")
    return jsonify(_attachment_dict(attachment)), 201


@bp.get("/outreach/attachments/<int:attachment_id>")
@describe("Download an activity's file (only for those who may see the activity)",
          content_types=sorted({t.content_type for t in FILE_TYPES.values()}))
@token_required
def get_outreach_attachment(attachment_id: int):
    attachment = activities.get_visible_attachment(current_api_user(), attachment_id)
    return send_file(attachment_path(attachment), mimetype=attachment.content_type, as_attachment=True,
                     download_name=attachment.filename, max_age=0)


@bp.get("/outreach/coverage")
@describe("Six-into coverage: activities per setting for each county of the prefecture, or each township of "
          "a county", response="SixIntoCoverage",
          params=[{"name": "region", "in": "query", "schema": {"type": "string"}},
                  {"name": "year", "in": "query", "schema": _YEAR}])
@token_required
def outreach_coverage():
    region, year = region_and_year(EARLIEST_YEAR)
    rows = coverage.coverage_matrix(current_api_user(), region, year)
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
    query = sites.site_query(current_api_user(), kind=kind, status=status, region=region or None)
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False),
                             sites.site_to_dict))


@bp.post("/demonstration-sites")
@describe("Add a demonstration site (coordinators and admins)", request="DemonstrationSiteInput",
          response="DemonstrationSite", created=True)
@token_required
def create_site():
    site = sites.create_site(current_api_user(), json_body())
    return jsonify(sites.site_to_dict(site)), 201


@bp.patch("/demonstration-sites/<int:site_id>")
@describe("Change a demonstration site, e.g. its status", request="DemonstrationSiteInput",
          response="DemonstrationSite")
@token_required
def update_site(site_id: int):
    actor = current_api_user()
    site = sites.get_visible_site(actor, site_id)
    return jsonify(sites.site_to_dict(sites.update_site(actor, site, json_body())))
