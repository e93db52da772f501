"""Planning one drill for many units at once: the bulk plan (filled in, previewed, then made) and the summary of
what a bulk plan made."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.drills import bulk
from drillmgr.drills.blueprint import bp, preview_token, rule_errors_on_repeat, show_errors
from drillmgr.drills.forms import BulkPlanForm
from drillmgr.errors import ServiceError
from drillmgr.web import or_404


def _bulk_form() -> BulkPlanForm:
    form = BulkPlanForm()
    form.region_code.choices = [(r.code, r.indented_name) for r in bulk.region_choices(current_user)]
    if request.method == "GET" and current_user.region_code:
        form.region_code.data = current_user.region_code
    return form


def _show_bulk_errors(form: BulkPlanForm, error: ServiceError) -> None:
    """Units the plan would cover are chosen by kind: their errors show under the kinds."""
    error = rule_errors_on_repeat(form, error)
    show_errors(
        form, type(error)(error.detail, {("kinds" if k == "org_ids" else k): v for k, v in error.errors.items()})
    )


@bp.route("/bulk", methods=["GET", "POST"])
@login_required
def bulk_plan():
    """One plan for every unit of chosen kinds in a region: fill in, preview, create, see the summary."""
    if not bulk.may_plan_for_many(current_user):
        abort(403)
    form = _bulk_form()
    preview = token = None
    if form.validate_on_submit():
        data = form.to_payload()
        try:
            token = preview_token(data)
            if request.form.get("preview_token") != token:
                preview = bulk.read_plan(current_user, data)
            else:
                key, plan = bulk.make_plan(current_user, data)
                flash(
                    _("Planned: %(n)d drills for %(units)d units.", n=plan.drill_count, units=len(plan.units)),
                    "success",
                )
                return redirect(url_for("drills.batch", key=key))
        except ServiceError as error:
            token = None
            _show_bulk_errors(form, error)
    return render_template(
        "drills/bulk.html",
        plan=form,
        preview=preview,
        preview_token=token,
        max_units=bulk.MAX_UNITS,
        max_drills=bulk.MAX_DRILLS,
    )


@bp.get("/batches/<key>")
@login_required
def batch(key: str):
    summary = or_404(bulk.batch_summary, current_user, key)
    return render_template("drills/batch.html", summary=summary)
