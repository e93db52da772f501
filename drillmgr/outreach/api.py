"""Public education (item 19) over the JSON API: activities, their files, six-into coverage, demonstration sites."""

import io

from flask import jsonify, request, send_file, url_for

from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, region_and_year, token_required
from drillmgr.api.openapi import describe, query_params, register_schema
from drillmgr.attachments.services import FILE_TYPES, attachment_path
from drillmgr.extensions import db
from drillmgr.outreach import activities, coverage, observance, sites
from drillmgr.outreach.schemas import (
    ActivityFilterSchema,
    DemonstrationSiteSchema,
    OutreachActivitySchema,
    OutreachAttachmentSchema,
    SiteFilterSchema,
    SixIntoCoverageSchema,
    SummaryArgsSchema,
)

register_schema("OutreachActivity", OutreachActivitySchema, output=True)
register_schema("OutreachActivityInput", OutreachActivitySchema, output=False)
register_schema(
    "OutreachAttachmentUpload",
    {
        "type": "object",
        "required": ["file"],
        "description": "multipart/form-data; pdf, doc, docx, xls, xlsx, jpg, png, checked by extension and content",
        "properties": {"file": {"type": "string", "format": "binary"}},
    },
)
register_schema("DemonstrationSite", DemonstrationSiteSchema, output=True)
register_schema("DemonstrationSiteInput", DemonstrationSiteSchema, output=False)
register_schema("SixIntoCoverage", SixIntoCoverageSchema, output=True)


@bp.get("/outreach")
@describe(
    "Public education activities (item 19) the caller may see, newest first",
    response="OutreachActivity",
    paginated=True,
    params=query_params(ActivityFilterSchema),
)
@token_required
def list_outreach():
    page, per_page = page_args()
    filters = activities.read_filters(request.args.to_dict())
    query = activities.activity_query(current_api_user(), **filters)
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    verdicts = observance.verdicts(pagination.items)
    return jsonify(paginated(pagination, OutreachActivitySchema(verdicts=verdicts).dump))


@bp.post("/outreach")
@describe(
    "Record an activity; a campaign outside its observance window is kept but not counted",
    request="OutreachActivityInput",
    response="OutreachActivity",
    created=True,
)
@token_required
def create_outreach():
    activity = activities.create_activity(current_api_user(), json_body())
    return (
        jsonify(OutreachActivitySchema().dump(activity)),
        201,
        {"Location": url_for("api.get_outreach", activity_id=activity.id)},
    )


@bp.get("/outreach/<int:activity_id>")
@describe("One activity", response="OutreachActivity")
@token_required
def get_outreach(activity_id: int):
    return jsonify(OutreachActivitySchema().dump(activities.get_visible_activity(current_api_user(), activity_id)))


@bp.patch("/outreach/<int:activity_id>")
@describe("Change an activity", request="OutreachActivityInput", response="OutreachActivity")
@token_required
def update_outreach(activity_id: int):
    actor = current_api_user()
    activity = activities.get_visible_activity(actor, activity_id)
    return jsonify(OutreachActivitySchema().dump(activities.update_activity(actor, activity, json_body())))


@bp.get("/outreach/<int:activity_id>/attachments")
@describe("The activity's files")
@token_required
def list_outreach_attachments(activity_id: int):
    activity = activities.get_visible_activity(current_api_user(), activity_id)
    return jsonify({"items": OutreachAttachmentSchema(many=True).dump(activities.activity_attachments(activity))})


@bp.post("/outreach/<int:activity_id>/attachments")
@describe(
    "Attach a photo or document (multipart field `file`); size- and type-checked like drill files",
    request="OutreachAttachmentUpload",
    created=True,
    request_content_type="multipart/form-data",
)
@token_required
def add_outreach_attachment(activity_id: int):
    actor = current_api_user()
    activity = activities.get_visible_activity(actor, activity_id)
    upload = request.files.get("file")
    attachment = activities.attach_file(
        actor, activity, upload.stream if upload else io.BytesIO(), (upload.filename or "") if upload else ""
    )
    return jsonify(OutreachAttachmentSchema().dump(attachment)), 201


@bp.get("/outreach/attachments/<int:attachment_id>")
@describe(
    "Download an activity's file (only for those who may see the activity)",
    content_types=sorted({t.content_type for t in FILE_TYPES.values()}),
)
@token_required
def get_outreach_attachment(attachment_id: int):
    attachment = activities.get_visible_attachment(current_api_user(), attachment_id)
    return send_file(
        attachment_path(attachment),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )


@bp.get("/outreach/coverage")
@describe(
    "Six-into coverage: activities per setting for each county of the prefecture, or each township of a county",
    response="SixIntoCoverage",
    params=query_params(SummaryArgsSchema),
)
@token_required
def outreach_coverage():
    region, year = region_and_year(SummaryArgsSchema)
    rows = coverage.coverage_matrix(current_api_user(), region, year)
    return jsonify(SixIntoCoverageSchema().dump({"year": year, "region_code": region, "rows": rows}))


@bp.get("/demonstration-sites")
@describe(
    "Demonstration communities, science education bases and schools",
    response="DemonstrationSite",
    paginated=True,
    params=query_params(SiteFilterSchema),
)
@token_required
def list_sites():
    page, per_page = page_args()
    filters = SiteFilterSchema().load(request.args.to_dict(), partial=True)
    query = sites.site_query(current_api_user(), **{k: v for k, v in filters.items() if v})
    return jsonify(
        paginated(db.paginate(query, page=page, per_page=per_page, error_out=False), DemonstrationSiteSchema().dump)
    )


@bp.post("/demonstration-sites")
@describe(
    "Add a demonstration site (coordinators and admins)",
    request="DemonstrationSiteInput",
    response="DemonstrationSite",
    created=True,
)
@token_required
def create_site():
    site = sites.create_site(current_api_user(), json_body())
    return jsonify(DemonstrationSiteSchema().dump(site)), 201


@bp.patch("/demonstration-sites/<int:site_id>")
@describe(
    "Change a demonstration site, e.g. its status", request="DemonstrationSiteInput", response="DemonstrationSite"
)
@token_required
def update_site(site_id: int):
    actor = current_api_user()
    site = sites.get_visible_site(actor, site_id)
    return jsonify(DemonstrationSiteSchema().dump(sites.update_site(actor, site, json_body())))
