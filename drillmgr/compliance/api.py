"""GET /compliance and GET /reports/half-year (DESIGN §5)."""

from datetime import datetime

from flask import current_app, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, page_args, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.compliance import obligations, query_args, report_tables, reports
from drillmgr.compliance.dashboard import compliance_matrix, default_region, matrix_filename
from drillmgr.compliance.periods import report_due_half
from drillmgr.compliance.kept import kept_evaluate, kept_value
from drillmgr.compliance.schemas import (
    ComplianceSchema,
    HalfYearReportSchema,
    LateReviewSchema,
    LateReviewsSchema,
    RuleSubjectsSchema,
    UnitObligationsSchema,
)
from drillmgr.compliance.sheets import XLSX_TYPE, xlsx_download
from drillmgr.db import utcnow
from drillmgr.enums import ComplianceStatus
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import local_today
from drillmgr.regions.models import Region

register_schema("Compliance", ComplianceSchema, output=True)
register_schema("HalfYearReport", HalfYearReportSchema, output=True)
register_schema("UnitObligations", UnitObligationsSchema, output=True)
register_schema("RuleSubjects", RuleSubjectsSchema, output=True)
register_schema("LateReview", LateReviewSchema, output=True)

YEAR_PARAM = {
    "name": "year",
    "in": "query",
    "schema": {"type": "integer", "minimum": query_args.MIN_YEAR, "maximum": query_args.MAX_YEAR},
}
REGION_PARAM = {
    "name": "region",
    "in": "query",
    "schema": {"type": "string"},
    "description": "Region code; default: the caller's region",
}


def region_arg(user) -> str:
    code = request.args.get("region") or default_region(user)
    if db.session.get(Region, code) is None:
        raise query_args.unknown_region()
    access.require(access.can_view_compliance(user, code))
    return code


FORMAT_PARAM = {"name": "format", "in": "query", "schema": {"enum": ["json", "xlsx"]}}
HALF_PARAM = {"name": "half", "in": "query", "schema": {"enum": [1, 2]}}


def report_period_arg(now: datetime) -> tuple[int, int]:
    """The (year, half) asked for; without a year, the period last due or due within 30 days."""
    default_year, default_half = report_due_half(local_today(now))
    year = query_args.year_arg(request.args.get("year"), default_year)
    return year, query_args.half_arg(request.args.get("half"), default_half if "year" not in request.args else 1)


def xlsx_wanted() -> bool:
    if query_args.format_arg(request.args.get("format")) == "xlsx":
        return True
    best = request.accept_mimetypes.best_match([XLSX_TYPE, "application/json"])
    return best == XLSX_TYPE and request.accept_mimetypes[XLSX_TYPE] > request.accept_mimetypes["application/json"]


@bp.get("/compliance")
@token_required
@describe(
    "Compliance of every rule and subject in a region for a year, with the dashboard's matrix (JSON, or the "
    "matrix as XLSX with ?format=xlsx or Accept)",
    response="Compliance",
    content_types=[XLSX_TYPE],
    params=[YEAR_PARAM, REGION_PARAM, FORMAT_PARAM],
)
def compliance():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    year = query_args.year_arg(request.args.get("year"), local_today(now).year)
    region = region_arg(user)
    place = db.session.get(Region, region)
    assert place is not None  # region_arg refused any other
    if xlsx_wanted():
        results, _as_of = kept_evaluate(year, region, actor=user, now=now, evidence=False)
        return xlsx_download(compliance_matrix(year, place, results).xlsx(), matrix_filename(region, year))

    def answer() -> tuple[str, datetime]:
        results, as_of = kept_evaluate(year, region, actor=user, now=now, evidence=True)
        matrix = compliance_matrix(year, place, results)
        body = ComplianceSchema().dump({"year": year, "rules": results, "matrix": matrix, "as_of": as_of})
        return current_app.json.dumps(body), as_of

    # The answer itself is kept (per language: the matrix's labels are translated), as the statuses are.
    body, _as_of = kept_value(
        f"compliance-api:{year}:{region}:{get_locale()}", region_code=region, actor=user, now=now, build=answer
    )
    return current_app.response_class(body + "\n", mimetype="application/json")


@bp.get("/reports/half-year")
@token_required
@describe(
    "The half-year report behind the 7 June / 8 November deadlines (JSON, or XLSX with ?format=xlsx "
    "or Accept); without year, the period last due or due within 30 days",
    response="HalfYearReport",
    content_types=[XLSX_TYPE],
    params=[YEAR_PARAM, HALF_PARAM, REGION_PARAM, FORMAT_PARAM],
)
def half_year_report():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    year, half = report_period_arg(now)
    wants_xlsx = xlsx_wanted()
    report = reports.half_year_report(user, region_arg(user), year, half, now=now)
    if wants_xlsx:
        return xlsx_download(report_tables.report_xlsx(report), report_tables.report_filename(report))
    return jsonify(HalfYearReportSchema().dump(report))


@bp.get("/compliance/units/<int:org_id>")
@token_required
@describe(
    "A unit's own obligations: each unit rule that applies to it, its status, what counts as evidence, "
    "the next due date and what is missing (unit staff: their own unit only)",
    response="UnitObligations",
    params=[YEAR_PARAM],
    errors={403: "Not the caller's unit, nor in the caller's region", 404: "No such unit"},
)
def unit_obligations(org_id: int):
    user = current_api_user()
    now = utcnow()
    year = query_args.year_arg(request.args.get("year"), local_today(now).year)
    return jsonify(UnitObligationsSchema().dump(obligations.unit_obligations(user, year, org_id, now=now)))


def _status_arg() -> ComplianceStatus | None:
    raw = request.args.get("status")
    if not raw:
        return None
    if raw not in [s.value for s in obligations.BREAKDOWN]:
        message = _("Choose one of %(values)s.", values=", ".join(s.value for s in obligations.BREAKDOWN))
        raise ValidationError(message, {"status": [message]})
    return ComplianceStatus(raw)


def _sort_arg() -> str:
    raw = request.args.get("sort") or "status"
    if raw not in obligations.SORTS:
        message = _("Choose one of %(values)s.", values=", ".join(obligations.SORTS))
        raise ValidationError(message, {"sort": [message]})
    return raw


@bp.get("/compliance/rules/<key>/subjects")
@token_required
@describe(
    "One rule's units (or counties) in a region: met, on track, at risk or missed, with the reason and the "
    "date by which it must be put right (JSON, or XLSX with ?format=xlsx or Accept)",
    response="RuleSubjects",
    content_types=[XLSX_TYPE],
    params=[
        YEAR_PARAM,
        REGION_PARAM,
        FORMAT_PARAM,
        {
            "name": "status",
            "in": "query",
            "schema": {"enum": [s.value for s in obligations.BREAKDOWN]},
            "description": "Only this group (on_track includes not_due)",
        },
        {"name": "sort", "in": "query", "schema": {"enum": list(obligations.SORTS)}},
    ],
    errors={404: "No such rule"},
)
def rule_subjects(key: str):
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    year = query_args.year_arg(request.args.get("year"), local_today(now).year)
    region = region_arg(user)
    status, sort, wants_xlsx = _status_arg(), _sort_arg(), xlsx_wanted()
    result = obligations.rule_list(user, year, region, key, status, sort, now=now)
    if wants_xlsx:
        return xlsx_download(result.document().xlsx(), result.filename())
    return jsonify(RuleSubjectsSchema().dump(result))


@bp.get("/compliance/reviews/late")
@token_required
@describe(
    "Completed drills of the year in a region whose after-action review was not submitted by its deadline, "
    "deadline first",
    response="LateReview",
    paginated=True,
    params=[YEAR_PARAM, REGION_PARAM],
)
def late_reviews():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    year = query_args.year_arg(request.args.get("year"), local_today(now).year)
    page, per_page = page_args()
    return jsonify(
        LateReviewsSchema().dump(obligations.review_gaps(user, year, region_arg(user), page, per_page, now=now))
    )
