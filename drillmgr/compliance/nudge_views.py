"""A coordinator's reminder to one unit or to every unit of a list, from the compliance pages."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.compliance import nudges
from drillmgr.errors import ServiceError
from drillmgr.validation import parse_id

bp = Blueprint("nudges", __name__, url_prefix="/compliance/reminders")


@bp.app_context_processor
def nudge_helpers():
    return {"may_send_reminders": lambda: access.can_send_reminders(current_user)}


def _back() -> str:
    target = request.form.get("next", "")
    safe = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if safe else url_for("compliance.dashboard")


@bp.post("/")
@login_required
def remind():
    if not access.can_send_reminders(current_user):
        abort(403)
    raw_ids = request.form.getlist("org_id")
    org_ids = [parse_id(raw) for raw in raw_ids]
    if None in org_ids:
        abort(404)
    try:
        outcome = nudges.remind_units(
            current_user, org_ids, request.form.get("rule") or None, request.form.get("message", "")
        )
    except ServiceError as error:
        if error.status in (403, 404):
            abort(error.status)
        flash(error.detail, "danger")
        return redirect(_back())
    flash(_("%(n)d units reminded.", n=len(outcome.reminded)), "success")
    if outcome.already_reminded:
        flash(_("%(n)d units were already reminded of this today.", n=len(outcome.already_reminded)), "warning")
    if outcome.without_staff:
        flash(_("%(n)d units have no staff account to remind.", n=len(outcome.without_staff)), "warning")
    return redirect(_back())
