"""Pages of the half-year report submissions: submit, the frozen snapshot with its workbook and
printable view, the prefecture's decision, and the panels on the report page and the dashboard."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.compliance import submissions
from drillmgr.compliance.models import ReportSubmission, SubmissionStatus
from drillmgr.compliance.periods import report_due_half, reporting_half
from drillmgr.compliance.sheets import xlsx_download
from drillmgr.compliance.views import or_abort
from drillmgr.db import utcnow
from drillmgr.enums import RegionLevel
from drillmgr.errors import ServiceError
from drillmgr.extensions import db
from drillmgr.localtime import local_today
from drillmgr.regions.models import Region

bp = Blueprint("submissions", __name__, url_prefix="/compliance/submissions")


@bp.app_context_processor
def submission_helpers():
    return {"submission_panel": _panel, "submission_board": _board}


def _panel(region, year: int, half: int) -> dict:
    """What the report page shows about the county's submission of the period."""
    opens_on = submissions.opens_on(year, half)
    return {
        "current": submissions.latest(region.code, year, half),
        "may_submit": submissions.may_submit(current_user, region, year, half),
        "opens_on": opens_on if local_today(utcnow()) < opens_on else None,
        "county": region.level == RegionLevel.COUNTY,
    }


def _board(region_code: str | None = None) -> dict:
    """The prefecture's view of who submitted the report currently due."""
    year, half = report_due_half(local_today(utcnow()))
    rows = [
        row
        for row in submissions.board(current_user, year, half)
        if region_code is None or access.region_in_subtree(row.region.code, region_code)
    ]
    return {"year": year, "half": half, "period": reporting_half(year, half), "rows": rows}


def _fail(error: ServiceError) -> None:
    if error.status in (403, 404):
        abort(error.status)
    flash(error.detail, "danger")


@bp.post("/")
@login_required
def submit():
    region_code = request.form.get("region", "")
    year, half = request.form.get("year", type=int), request.form.get("half", type=int)
    try:
        submission = submissions.submit(current_user, region_code, year, half)
    except ServiceError as error:
        _fail(error)
        if db.session.get(Region, region_code) is None or year is None or half is None:
            abort(404)
        return redirect(url_for("compliance.report", region=region_code, year=year, half=half))
    flash(_("Half-year report submitted to the prefecture."), "success")
    return redirect(url_for("submissions.detail", submission_id=submission.id))


def _visible(submission_id: int) -> ReportSubmission:
    return or_abort(lambda: submissions.get_visible(current_user, submission_id))


@bp.get("/<int:submission_id>")
@login_required
def detail(submission_id: int):
    submission = _visible(submission_id)
    template = "compliance/submission_print.html" if request.args.get("print") else "compliance/submission.html"
    return render_template(
        template,
        s=submission,
        document=submissions.frozen_document(submission),
        history=submissions.history(submission),
        changed=submissions.figures_changed(submission),
        period=reporting_half(submission.year, submission.half),
        may_decide=access.can_decide_half_year_report(current_user) and submission.status == SubmissionStatus.SUBMITTED,
    )


@bp.get("/<int:submission_id>.xlsx")
@login_required
def xlsx(submission_id: int):
    submission = _visible(submission_id)
    return xlsx_download(submission.xlsx, submissions.filename(submission))


@bp.post("/<int:submission_id>/decision")
@login_required
def decide(submission_id: int):
    accept = request.form.get("decision") == "accept"
    try:
        submissions.decide(current_user, submission_id, accept, request.form.get("reason", ""))
    except ServiceError as error:
        _fail(error)
    else:
        flash(_("Report accepted.") if accept else _("Report returned to the county."), "success")
    return redirect(url_for("submissions.detail", submission_id=submission_id))
