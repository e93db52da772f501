"""Compliance pages: the dashboard, a county's units, the rules, and the half-year report."""

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from drillmgr.access import services as access
from drillmgr.compliance import dashboard as dash
from drillmgr.compliance import obligations, report_tables, reports
from drillmgr.compliance.labels import (
    counts_towards,
    describe_params,
    join_list,
    missing_label,
    period_label,
    reporting_period_name,
    slot_last_day,
    slot_period_name,
    status_label,
)
from drillmgr.compliance.periods import report_due_half
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.query_args import MAX_YEAR, MIN_YEAR
from drillmgr.compliance.rule_params import DrillParams
from drillmgr.compliance.rule_schemas import RULE_EDIT_SCHEMAS, Choices, choices_of
from drillmgr.compliance.schemas import DecisionSchema, ReminderSchema, text_limit
from drillmgr.compliance.rules import ensure_rules, evaluator_of, params_of, rule_title, update_rule
from drillmgr.compliance.sheets import xlsx_download
from drillmgr.db import utcnow
from drillmgr.enums import ComplianceStatus
from drillmgr.errors import ServiceError
from drillmgr.extensions import db
from drillmgr.forms import posted_version
from drillmgr.localtime import local_today
from drillmgr.regions.services import all_regions

bp = Blueprint("compliance", __name__, url_prefix="/compliance")
T = TypeVar("T")


# What the pages' inputs may hold, as the schemas read it.
LIMITS = {
    "min_year": MIN_YEAR,
    "max_year": MAX_YEAR,
    "message": text_limit(ReminderSchema, "message"),
    "reason": text_limit(DecisionSchema, "reason"),
}
bp.add_app_template_filter(missing_label, "missing_label")
bp.add_app_template_filter(join_list, "join_list")


@bp.app_context_processor
def compliance_helpers():
    return {
        "status_label": status_label,
        "missing_label": missing_label,
        "period_label": period_label,
        "slot_period_name": slot_period_name,
        "slot_last_day": slot_last_day,
        "counts_towards": counts_towards,
        "reporting_period_name": reporting_period_name,
        "drill_link": drill_link,
        "chart_ticks": dash.chart_ticks,
        "limits": LIMITS,
    }


def drill_link(drill_id: int) -> str | None:
    """The drill's page, from whichever feature provides one."""
    for endpoint in ("drills.detail", "findings.drill"):
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, drill_id=drill_id)
            except BuildError:
                continue
    return None


def _year() -> int:
    year = request.args.get("year", type=int) or local_today(utcnow()).year
    if not MIN_YEAR <= year <= MAX_YEAR:
        abort(404)
    return year


def _region() -> str:
    code = request.args.get("region") or dash.default_region(current_user)
    if not access.can_view_compliance(current_user, code):
        abort(403)
    return code


def _regions():
    return [
        r
        for r in all_regions()
        if r.level.value in ("prefecture", "county") and access.can_view_compliance(current_user, r.code)
    ]


def or_abort(call: Callable[[], T]) -> T:
    """What the service answers, or the error page of the status it refused with."""
    try:
        return call()
    except ServiceError as error:
        abort(error.status)


def _guard():
    if not access.can_view_compliance(current_user):
        abort(403)


@bp.get("/")
@login_required
def dashboard():
    _guard()
    year, region = _year(), _region()
    data = or_abort(lambda: dash.build_dashboard(current_user, year, region))
    return render_template(
        "compliance/dashboard.html",
        d=data,
        regions=_regions(),
        statuses=list(ComplianceStatus),
        today=local_today(utcnow()),
    )


@bp.get("/matrix.xlsx")
@login_required
def matrix_xlsx():
    _guard()
    year, region = _year(), _region()
    document = or_abort(lambda: dash.matrix_for(current_user, year, region))
    return xlsx_download(document.xlsx(), dash.matrix_filename(region, year))


@bp.get("/county/<code>")
@login_required
def county(code: str):
    _guard()
    detail = or_abort(lambda: dash.county_detail(current_user, _year(), code))
    return render_template("compliance/county.html", c=detail)


# --- a unit's obligations, a rule's list, late reviews --------------------------------------------


@bp.get("/unit")
@login_required
def own_unit():
    if current_user.org_id is None:
        abort(404)
    return unit(current_user.org_id)


@bp.get("/unit/<int:org_id>")
@login_required
def unit(org_id: int):
    data = or_abort(lambda: obligations.unit_obligations(current_user, _year(), org_id))
    return render_template("compliance/unit.html", u=data)


def _rule_list():
    _guard()
    status = request.args.get("status")
    if status and status not in [s.value for s in obligations.BREAKDOWN]:
        abort(404)
    chosen = ComplianceStatus(status) if status else None
    return or_abort(
        lambda: obligations.rule_list(
            current_user, _year(), _region(), request.args.get("rule", ""), chosen, request.args.get("sort", "status")
        )
    )


@bp.get("/list")
@login_required
def rule_list():
    return render_template("compliance/list.html", l=_rule_list(), breakdown=obligations.BREAKDOWN)


@bp.get("/list.xlsx")
@login_required
def rule_list_xlsx():
    data = _rule_list()
    return xlsx_download(data.document().xlsx(), data.filename())


@bp.get("/reviews")
@login_required
def review_gaps():
    _guard()
    page = request.args.get("page", 1, type=int) or 1
    data = or_abort(lambda: obligations.review_gaps(current_user, _year(), _region(), page))
    return render_template("compliance/reviews.html", g=data)


# --- rules ---------------------------------------------------------------------------------------


@bp.get("/rules")
@login_required
def rules():
    _guard()
    year = _year()
    return render_template(
        "compliance/rules.html",
        year=year,
        rules=ensure_rules(year),
        title_of=rule_title,
        describe=describe_params,
        params_of=params_of,
        can_edit=access.can_edit_compliance_rules(current_user),
    )


@bp.route("/rules/<int:rule_id>", methods=["GET", "POST"])
@login_required
def edit_rule(rule_id: int):
    if not access.can_edit_compliance_rules(current_user):
        abort(403)
    rule = db.get_or_404(ComplianceRule, rule_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        data = {
            key: (request.form.getlist(key) if key in _LIST_FIELDS else request.form.get(key)) for key in request.form
        }
        try:
            update_rule(current_user, rule, data, version=posted_version(request.form.get("version")))
        except ServiceError as error:
            flash(error.detail, "danger")
            errors = error.errors
        else:
            flash(_("Rule saved."), "success")
            return redirect(url_for("compliance.rules", year=rule.year))
    params, schema = params_of(rule), RULE_EDIT_SCHEMAS[evaluator_of(rule)]
    return render_template(
        "compliance/rule_form.html",
        rule=rule,
        title=rule_title(rule),
        errors=errors,
        evaluator=evaluator_of(rule),
        choices_of=partial(choices_of, schema),
        run_blind_required=isinstance(params, DrillParams) and params.run_blind_required,
        form=request.form if request.method == "POST" else None,
    )


_LIST_FIELDS = {
    name
    for schema in RULE_EDIT_SCHEMAS.values()
    for name, field in schema._declared_fields.items()
    if isinstance(field, Choices) and not field.single
}


# --- half-year report ----------------------------------------------------------------------------


def _report():
    _guard()
    if "year" in request.args:
        year, half = _year(), request.args.get("half", 1, type=int)
    else:
        year, half = report_due_half(local_today(utcnow()))
    if half not in (1, 2):
        abort(404)
    return or_abort(lambda: reports.half_year_report(current_user, _region(), year, half))


@bp.get("/report")
@login_required
def report():
    data = _report()
    template = "compliance/report_print.html" if request.args.get("print") else "compliance/report.html"
    return render_template(template, r=data, regions=_regions(), statuses=ComplianceStatus)


@bp.get("/report.xlsx")
@login_required
def report_xlsx():
    data = _report()
    return xlsx_download(report_tables.report_xlsx(data), report_tables.report_filename(data))
