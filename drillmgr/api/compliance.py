"""GET /compliance and GET /reports/half-year (DESIGN §5)."""
from io import BytesIO

from flask import jsonify, request, send_file
from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.compliance import params, reports
from drillmgr.compliance.dashboard import default_region
from drillmgr.compliance.periods import local_today, report_due_half
from drillmgr.compliance.services import evaluate, results_to_dict
from drillmgr.db import utcnow
from drillmgr.extensions import db
from drillmgr.regions.models import Region

register_schema("Compliance", {
    "type": "object",
    "properties": {
        "year": {"type": "integer"},
        "rules": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string", "description": "The rule's key, e.g. key-county-comprehensive-live"},
            "title": {"type": "string"},
            "results": {"type": "array", "items": {"type": "object", "properties": {
                "subject": {"type": "object", "properties": {
                    "type": {"enum": ["region", "org"]}, "id": {"type": "integer"}, "code": {"type": "string"},
                    "name": {"type": "string"}}},
                "status": {"enum": ["met", "on_track", "at_risk", "missed", "not_due"]},
                "required": {"type": "integer"}, "achieved": {"type": "integer"},
                "evidence": {"type": "array", "items": {"type": "object"}},
                "missing": {"type": "array", "items": {"type": "string"}},
            }}},
        }}},
    },
    "required": ["year", "rules"],
})
register_schema("HalfYearReport", {"type": "object", "properties": {
    "region": {"type": "object"}, "year": {"type": "integer"}, "half": {"type": "integer"},
    "period": {"type": "object", "properties": {"from": {"type": "string", "format": "date"},
                                                "to": {"type": "string", "format": "date"}}},
    "drills_by_form": {"type": "array"}, "joint_drills": {"type": "object"}, "drills_by_unit": {"type": "array"},
    "participation": {"type": "object"}, "key_county_obligations": {"type": "array"}, "findings": {"type": "object"},
    "outreach": {"type": "object"}}})

YEAR_PARAM = {"name": "year", "in": "query", "schema": {"type": "integer", "minimum": 2000, "maximum": 2100}}
REGION_PARAM = {"name": "region", "in": "query", "schema": {"type": "string"},
                "description": "Region code; default: the caller's region"}


def _region_arg(user) -> str:
    code = request.args.get("region") or default_region(user)
    if db.session.get(Region, code) is None:
        raise params.unknown_region()
    access.require(access.can_view_compliance(user, code))
    return code


@bp.get("/compliance")
@token_required
@describe("Compliance of every rule and subject in a region for a year", response="Compliance",
          params=[YEAR_PARAM, REGION_PARAM])
def compliance():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    year = params.year_arg(request.args.get("year"), local_today(now).year)
    region = _region_arg(user)
    return jsonify(results_to_dict(year, evaluate(year, region, now=now, user=user)))


def _wants_xlsx() -> bool:
    if request.args.get("format") == "xlsx":
        return True
    best = request.accept_mimetypes.best_match([reports.XLSX_TYPE, "application/json"])
    return best == reports.XLSX_TYPE and request.accept_mimetypes[reports.XLSX_TYPE] > request.accept_mimetypes[
        "application/json"]


@bp.get("/reports/half-year")
@token_required
@describe("The half-year report behind the 7 June / 8 November deadlines (JSON, or XLSX with ?format=xlsx "
          "or Accept); without year, the period last due or due within 30 days", response="HalfYearReport", content_types=[reports.XLSX_TYPE],
          params=[YEAR_PARAM, {"name": "half", "in": "query", "schema": {"enum": [1, 2]}}, REGION_PARAM,
                  {"name": "format", "in": "query", "schema": {"enum": ["json", "xlsx"]}}])
def half_year_report():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    default_year, default_half = report_due_half(local_today(now))
    year = params.year_arg(request.args.get("year"), default_year)
    half = params.half_arg(request.args.get("half"), default_half if "year" not in request.args else 1)
    params.format_arg(request.args.get("format"))
    report = reports.half_year_report(user, _region_arg(user), year, half, now=now)
    if _wants_xlsx():
        return send_file(BytesIO(reports.report_xlsx(report)), mimetype=reports.XLSX_TYPE, as_attachment=True,
                         download_name=reports.report_filename(report))
    return jsonify(report.to_dict())
