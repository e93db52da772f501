"""Half-year report submissions: /reports/half-year/submissions (a county submits, the prefecture decides)."""

from flask import jsonify, request
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.compliance.api import (
    FORMAT_PARAM,
    HALF_PARAM,
    REGION_PARAM,
    YEAR_PARAM,
    region_arg,
    report_period_arg,
    xlsx_wanted,
)
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.api.fields import Boolean
from drillmgr.compliance import submissions
from drillmgr.compliance.schemas import DecisionSchema, Raw, ReportSubmissionSchema, SubmissionBoardSchema, SubmitSchema
from drillmgr.compliance.sheets import XLSX_TYPE, xlsx_download
from drillmgr.db import utcnow


class SubmissionDetailSchema(ReportSubmissionSchema):
    """A submission with its frozen report and whether today's figures differ."""

    derived = {**ReportSubmissionSchema.derived, "figures_changed": submissions.figures_changed}
    document = Raw(metadata={"description": "The frozen half-year report (as HalfYearReport)"})
    figures_changed = Boolean(dump_only=True)


register_schema("ReportSubmission", SubmissionDetailSchema, output=True)
register_schema("ReportSubmissionInput", SubmitSchema, output=False)
register_schema("ReportDecision", DecisionSchema, output=False)
register_schema("ReportSubmissionBoard", SubmissionBoardSchema, output=True)


@bp.post("/reports/half-year/submissions")
@token_required
@describe(
    "A county coordinator submits the county's half-year report: its figures are frozen as they are now",
    request="ReportSubmissionInput",
    response="ReportSubmission",
    created=True,
    conflicts=True,
)
def submit_half_year_report():
    values = SubmitSchema().load(json_body())
    submission = submissions.submit(current_api_user(), values["region"], values["year"], values["half"])
    return jsonify(ReportSubmissionSchema().dump(submission)), 201


@bp.get("/reports/half-year/submissions")
@token_required
@describe(
    "Each county's submission of a period's half-year report: not submitted, submitted (late?), accepted "
    "or returned; without year, the period last due or due within 30 days",
    response="ReportSubmissionBoard",
    params=[YEAR_PARAM, HALF_PARAM, REGION_PARAM],
)
def half_year_submissions():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    year, half = report_period_arg(utcnow())
    region = region_arg(user) if "region" in request.args else None
    rows = [
        row
        for row in submissions.board(user, year, half)
        if not region or access.region_in_subtree(row.region.code, region)
    ]
    return jsonify(SubmissionBoardSchema().dump({"year": year, "half": half, "counties": rows}))


@bp.get("/reports/half-year/submissions/<int:submission_id>")
@token_required
@describe(
    "One submission with its frozen report and whether today's figures differ (JSON), or the workbook "
    "as submitted (?format=xlsx or Accept)",
    response="ReportSubmission",
    content_types=[XLSX_TYPE],
    params=[FORMAT_PARAM],
)
def half_year_submission(submission_id: int):
    submission = submissions.get_visible(current_api_user(), submission_id)
    if xlsx_wanted():
        return xlsx_download(submission.xlsx, submissions.filename(submission))
    return jsonify(SubmissionDetailSchema().dump(submission))


@bp.post("/reports/half-year/submissions/<int:submission_id>/decision")
@token_required
@describe(
    "The prefecture accepts a submitted report, or returns it with a reason",
    request="ReportDecision",
    response="ReportSubmission",
    conflicts=True,
)
def decide_half_year_submission(submission_id: int):
    p = DecisionSchema().read(json_body())
    decision = p.values.get("decision", "")
    if decision not in ("accept", "return", ""):
        p.error("decision", _("Choose accept or return."))
    p.check()
    submission = submissions.decide(current_api_user(), submission_id, decision == "accept", p.values.get("reason", ""))
    return jsonify(ReportSubmissionSchema().dump(submission))
