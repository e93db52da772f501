"""Half-year report submissions: /reports/half-year/submissions (a county submits, the prefecture decides)."""

from flask import jsonify, request
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.compliance.api import FORMAT_PARAM, REGION_PARAM, YEAR_PARAM, region_arg, xlsx_wanted
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.compliance import query_args, submissions
from drillmgr.compliance.periods import report_due_half
from drillmgr.compliance.sheets import XLSX_TYPE, xlsx_download
from drillmgr.db import utcnow
from drillmgr.localtime import local_today
from drillmgr.validation import Payload

STATES = ["not_submitted", "submitted", "accepted", "returned"]
SUBMISSION_PROPERTIES = {
    "id": {"type": "integer"}, "region": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"}}},
    "year": {"type": "integer"}, "half": {"enum": [1, 2]}, "version": {"type": "integer"},
    "status": {"enum": STATES[1:]}, "late": {"type": "boolean", "description": "Submitted after the deadline"},
    "submitted_at": {"type": "string", "format": "date-time"}, "submitted_by": {"type": ["string", "null"]},
    "decided_at": {"type": ["string", "null"], "format": "date-time"}, "decided_by": {"type": ["string", "null"]},
    "reason": {"type": "string", "description": "Why the prefecture returned it"},
}
register_schema("ReportSubmission", {
    "type": "object", "required": ["id", "region", "year", "half", "version", "status", "late"],
    "properties": {**SUBMISSION_PROPERTIES, "figures_changed": {"type": "boolean"},
                   "document": {"type": "object", "description": "The frozen half-year report (as HalfYearReport)"}},
})
register_schema("ReportSubmissionInput", {
    "type": "object", "required": ["region", "year", "half"],
    "properties": {"region": {"type": "string", "maxLength": 12}, "year": {"type": "integer", "minimum": 2000,
                                                                           "maximum": 2100},
                   "half": {"enum": [1, 2]}},
})
register_schema("ReportDecision", {
    "type": "object", "required": ["decision"],
    "properties": {"decision": {"enum": ["accept", "return"]},
                   "reason": {"type": "string", "maxLength": 2000, "description": "Required to return"}},
})
register_schema("ReportSubmissionBoard", {
    "type": "object", "properties": {
        "year": {"type": "integer"}, "half": {"enum": [1, 2]},
        "counties": {"type": "array", "items": {"type": "object", "properties": {
            "code": {"type": "string"}, "name": {"type": "string"}, "state": {"enum": STATES},
            "submission": {"oneOf": [{"type": "null"}, {"type": "object", "properties": SUBMISSION_PROPERTIES}]}}}},
    }, "required": ["year", "half", "counties"]})


@bp.post("/reports/half-year/submissions")
@token_required
@describe("A county coordinator submits the county's half-year report: its figures are frozen as they are now",
          request="ReportSubmissionInput", response="ReportSubmission", created=True, conflicts=True)
def submit_half_year_report():
    p = Payload(json_body())
    region = p.string("region", required=True, max_length=12)
    year = p.integer("year", required=True, minimum=query_args.MIN_YEAR, maximum=query_args.MAX_YEAR)
    half = p.integer("half", required=True, minimum=1, maximum=2)
    p.check()
    submission = submissions.submit(current_api_user(), region, year, half)
    return jsonify(submissions.to_dict(submission)), 201


@bp.get("/reports/half-year/submissions")
@token_required
@describe("Each county's submission of a period's half-year report: not submitted, submitted (late?), accepted "
          "or returned; without year, the period last due or due within 30 days", response="ReportSubmissionBoard",
          params=[YEAR_PARAM, {"name": "half", "in": "query", "schema": {"enum": [1, 2]}}, REGION_PARAM])
def half_year_submissions():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    default_year, default_half = report_due_half(local_today(utcnow()))
    year = query_args.year_arg(request.args.get("year"), default_year)
    half = query_args.half_arg(request.args.get("half"), default_half if "year" not in request.args else 1)
    region = region_arg(user) if "region" in request.args else None
    rows = [row for row in submissions.board(user, year, half)
            if not region or access.region_in_subtree(row.region.code, region)]
    return jsonify({"year": year, "half": half, "counties": [
        {"code": row.region.code, "name": row.region.name, "state": row.status,
         "submission": submissions.to_dict(row.submission) if row.submission else None} for row in rows]})


@bp.get("/reports/half-year/submissions/<int:submission_id>")
@token_required
@describe("One submission with its frozen report and whether today's figures differ (JSON), or the workbook "
          "as submitted (?format=xlsx or Accept)", response="ReportSubmission", content_types=[XLSX_TYPE],
          params=[FORMAT_PARAM])
def half_year_submission(submission_id: int):
    submission = submissions.get_visible(current_api_user(), submission_id)
    if xlsx_wanted():
        return xlsx_download(submission.xlsx, submissions.filename(submission))
    return jsonify({**submissions.to_dict(submission, with_document=True),
                    "figures_changed": submissions.figures_changed(submission)})


@bp.post("/reports/half-year/submissions/<int:submission_id>/decision")
@token_required
@describe("The prefecture accepts a submitted report, or returns it with a reason", request="ReportDecision",
          response="ReportSubmission", conflicts=True)
def decide_half_year_submission(submission_id: int):
    p = Payload(json_body())
    decision = p.string("decision", required=True, max_length=10)
    if decision not in ("accept", "return", ""):
        p.error("decision", _("Choose accept or return."))
    reason = p.string("reason", max_length=2000, default="")
    p.check()
    submission = submissions.decide(current_api_user(), submission_id, decision == "accept", reason)
    return jsonify(submissions.to_dict(submission))
