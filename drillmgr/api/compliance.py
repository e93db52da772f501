"""GET /compliance and GET /reports/half-year (DESIGN §5)."""
from io import BytesIO

from flask import jsonify, request, send_file
from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.compliance import params, reports
from drillmgr.compliance.dashboard import compliance_matrix, default_region, matrix_filename
from drillmgr.compliance.periods import local_today, report_due_half
from drillmgr.compliance.kept import kept_evaluate
from drillmgr.compliance.services import results_to_dict
from drillmgr.compliance.sheets import XLSX_TYPE
from drillmgr.db import utcnow
from drillmgr.extensions import db
from drillmgr.regions.models import Region

SHEETS = {"type": "object", "description": "Tables as the page and the XLSX show them, labels in the caller's "
          "language (Accept-Language): a heading and, per table, its sheet name, column labels and rows of values",
          "properties": {
              "title": {"type": "string"},
              "sections": {"type": "array", "items": {"type": "object", "properties": {
                  "key": {"type": "string"}, "title": {"type": "string"}, "sheet": {"type": "string"},
                  "columns": {"type": "array", "items": {"type": "string"}},
                  "rows": {"type": "array", "items": {"type": "array", "items": {
                      "type": ["string", "number", "null"]}}}}}}},
          "required": ["title", "sections"]}
register_schema("Compliance", {
    "type": "object",
    "properties": {
        "year": {"type": "integer"},
        "as_of": {"type": "string", "format": "date-time",
                  "description": "When these statuses were evaluated (kept for every reader until a change, "
                                 "at most a minute)"},
        "matrix": {**SHEETS, "description": "The dashboard's county × rule matrix; " + SHEETS["description"]},
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
    "required": ["year", "rules", "matrix"],
})
register_schema("HalfYearReport", {"type": "object", "properties": {
    **SHEETS["properties"], "region": {"type": "object"}, "year": {"type": "integer"}, "half": {"type": "integer"},
    "period": {"type": "object", "properties": {"from": {"type": "string", "format": "date"},
                                                "to": {"type": "string", "format": "date"}}},
    "drills_by_form": {"type": "array"}, "joint_drills": {"type": "object"}, "drills_by_unit": {"type": "array"},
    "participation": {"type": "object"}, "key_county_obligations": {"type": "array"}, "findings": {"type": "object"},
    "outreach": {"type": "object"}}, "required": SHEETS["required"]})

YEAR_PARAM = {"name": "year", "in": "query", "schema": {"type": "integer", "minimum": 2000, "maximum": 2100}}
REGION_PARAM = {"name": "region", "in": "query", "schema": {"type": "string"},
                "description": "Region code; default: the caller's region"}


def _region_arg(user) -> str:
    code = request.args.get("region") or default_region(user)
    if db.session.get(Region, code) is None:
        raise params.unknown_region()
    access.require(access.can_view_compliance(user, code))
    return code


FORMAT_PARAM = {"name": "format", "in": "query", "schema": {"enum": ["json", "xlsx"]}}


def _wants_xlsx() -> bool:
    if params.format_arg(request.args.get("format")) == "xlsx":
        return True
    best = request.accept_mimetypes.best_match([XLSX_TYPE, "application/json"])
    return best == XLSX_TYPE and request.accept_mimetypes[XLSX_TYPE] > request.accept_mimetypes[
        "application/json"]


def _xlsx(content: bytes, filename: str):
    return send_file(BytesIO(content), mimetype=XLSX_TYPE, as_attachment=True, download_name=filename)


@bp.get("/compliance")
@token_required
@describe("Compliance of every rule and subject in a region for a year, with the dashboard's matrix (JSON, or the "
          "matrix as XLSX with ?format=xlsx or Accept)", response="Compliance", content_types=[XLSX_TYPE],
          params=[YEAR_PARAM, REGION_PARAM, FORMAT_PARAM])
def compliance():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    year = params.year_arg(request.args.get("year"), local_today(now).year)
    region = _region_arg(user)
    wants_xlsx = _wants_xlsx()
    results, as_of = kept_evaluate(year, region, now=now, user=user, evidence=not wants_xlsx)
    matrix = compliance_matrix(year, db.session.get(Region, region), results)
    if wants_xlsx:
        return _xlsx(matrix.xlsx(), matrix_filename(region, year))
    return jsonify({**results_to_dict(year, results), "matrix": matrix.to_dict(), "as_of": as_of.isoformat()})


@bp.get("/reports/half-year")
@token_required
@describe("The half-year report behind the 7 June / 8 November deadlines (JSON, or XLSX with ?format=xlsx "
          "or Accept); without year, the period last due or due within 30 days", response="HalfYearReport", content_types=[XLSX_TYPE],
          params=[YEAR_PARAM, {"name": "half", "in": "query", "schema": {"enum": [1, 2]}}, REGION_PARAM,
                  FORMAT_PARAM])
def half_year_report():
    user = current_api_user()
    access.require(access.can_view_compliance(user))
    now = utcnow()
    default_year, default_half = report_due_half(local_today(now))
    year = params.year_arg(request.args.get("year"), default_year)
    half = params.half_arg(request.args.get("half"), default_half if "year" not in request.args else 1)
    wants_xlsx = _wants_xlsx()
    report = reports.half_year_report(user, _region_arg(user), year, half, now=now)
    if wants_xlsx:
        return _xlsx(reports.report_xlsx(report), reports.report_filename(report))
    return jsonify(report.to_dict())
