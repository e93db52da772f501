from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from drillmgr import unit_of_work
from drillmgr.access import services as access
from drillmgr.attachments import services as attachments
from drillmgr.enums import ActionStatus, FindingCategory, Role, Severity
from drillmgr.errors import Conflict, Forbidden, NotFound, ServiceError, ValidationError
from drillmgr.findings import history, pages, queries, reviews
from drillmgr.findings.actions import add_drill_finding, update_finding
from drillmgr.findings.forms import ActionStepForm, FilingForm, FindingForm, ReopenForm, ReviewForm, apply_errors
from drillmgr.findings.models import Finding
from drillmgr.localtime import local_today
from drillmgr.regions.models import Region
from drillmgr.regions.services import all_regions
from drillmgr.web import or_404, page_arg

bp = Blueprint("findings", __name__, url_prefix="/findings")


# --- the panel on the drill page -------------------------------------------------------------


def _review_form(review) -> ReviewForm:
    form = ReviewForm(formdata=None, obj=review, prefix="review-")
    form.version.data = str(review.version if review is not None else 0)
    return form


def _finding_form(finding, owners) -> FindingForm:
    if finding is None:
        form = FindingForm(formdata=None, prefix="new-")
    else:
        action = finding.corrective_action
        form = FindingForm(
            formdata=None,
            prefix=f"f{finding.id}-",
            obj=finding,
            description=action.description,
            owner_id=action.owner_id,
            due_on=action.due_on,
        )
        form.version.data = str(finding.version)
    form.owner_id.choices = _owner_labels(owners, finding)
    return form


def _owner_labels(owners, finding=None) -> list[tuple[int, str]]:
    """The pick list; a finding's current owner stays on it even if no longer eligible, so that
    saving other changes never silently hands the action to someone else."""
    people = list(owners)
    if finding is not None and all(u.id != finding.corrective_action.owner_id for u in people):
        people.insert(0, finding.corrective_action.owner)
    choose = [] if finding is not None else [("", _("— choose who corrects it —"))]
    return choose + [(u.id, f"{u.display_name or u.username} · {u.role.label}") for u in people]


class PanelForms:
    """The panel's forms: fresh ones, except the one just posted with errors."""

    def __init__(self, panel, posted: dict | None):
        self.panel = panel
        self.posted = posted or {}

    @property
    def review(self):
        return self.posted.get("review") or _review_form(self.panel.review)

    @property
    def filing(self):
        form = self.posted.get("filing") or FilingForm(formdata=None, prefix="filing-")
        if not form.version.data:
            form.version.data = str(self.panel.review.version if self.panel.review is not None else 0)
        return form

    @property
    def new_finding(self):
        form = self.posted.get("new_finding")
        if form is None:
            return _finding_form(None, self.panel.owners)
        form.owner_id.choices = _owner_labels(self.panel.owners)
        return form

    def edit_finding(self, finding):
        form = self.posted.get(f"finding{finding.id}")
        if form is None:
            return _finding_form(finding, self.panel.owners)
        form.owner_id.choices = _owner_labels(self.panel.owners, finding)
        return form


def findings_panel(drill, posted: dict | None = None):
    """The review/findings panel data for `drill`, or None when the user may not see it."""
    if not current_user.is_authenticated or not access.can_view_drill(current_user, drill):
        return None
    panel = pages.drill_panel(current_user, drill)
    panel.forms = PanelForms(panel, posted)
    return panel


@bp.app_context_processor
def panel_helpers():
    return {
        "findings_panel": findings_panel,
        "findings_step_label": history.filing_step_label,
        "findings_audit_reason": history.audit_reason,
    }


# --- pages -----------------------------------------------------------------------------------


def _visible_drill(drill_id: int):
    return or_404(access.get_visible_drill, current_user, drill_id)


def _drill_page_url(drill) -> str:
    if "drills.detail" in current_app.view_functions:
        return url_for("drills.detail", drill_id=drill.id)
    return url_for("findings.drill", drill_id=drill.id)


@bp.get("/drills/<int:drill_id>")
@login_required
def drill(drill_id: int):
    drill = _visible_drill(drill_id)
    return render_template("findings/drill.html", drill=drill, drill_url=_drill_page_url(drill))


@bp.get("/actions")
@login_required
def actions():
    try:
        filters = queries.read_action_filters(request.args.to_dict())
    except ValidationError as error:
        for messages in error.errors.values():
            for message in messages:
                flash(message, "danger")
        filters = {}
    today = local_today()
    pagination = queries.open_actions_page(current_user, today, filters, page=page_arg())
    regions = (
        all_regions(access.region_clause(current_user, Region.code)) if current_user.role != Role.ORG_STAFF else []
    )
    drill_endpoint = "drills.detail" if "drills.detail" in current_app.view_functions else "findings.drill"
    return render_template(
        "findings/actions.html",
        pagination=pagination,
        today=today,
        regions=regions,
        drill_endpoint=drill_endpoint,
        severities=Severity,
        categories=FindingCategory,
        statuses=queries.OPEN_STATUSES,
        filters=filters,
    )


# --- changes from the panel's forms ----------------------------------------------------------
# A form is posted from the drill's page, or from a finding's own page (checklist findings); `source`
# is the drill, or the finding when it has no drill.


def _own_page(source) -> str:
    if isinstance(source, Finding):
        return url_for("findings.finding", finding_id=source.id)
    return url_for("findings.drill", drill_id=source.id)


def _next_url(source) -> str:
    """Where the forms return to: the page that showed them (a local path), else our own page."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return _own_page(source)


def _back(source):
    return redirect(_next_url(source))


def _show_again(source, status: int, key: str | None, form, conflict: bool = False):
    """The page again, with the posted form and its errors; nothing was changed."""
    posted = {key: form} if form is not None else None
    if isinstance(source, Finding):
        return _finding_page(source, posted, panel_next=_next_url(source), conflict=conflict), status
    return render_template(
        "findings/drill.html",
        drill=source,
        drill_url=_drill_page_url(source),
        panel_forms=posted,
        panel_next=_next_url(source),
        conflict=conflict,
    ), status


def _failed(source, error: ServiceError, key: str | None = None, form=None):
    """Without a form to carry them, every message is flashed."""
    if isinstance(error, Forbidden):
        abort(403)
    if isinstance(error, NotFound):
        abort(404)
    if form is None:
        messages = [m for field_messages in error.errors.values() for m in field_messages] or [error.detail]
    else:
        messages = apply_errors(form, error)
    for message in messages:
        flash(message, "danger")
    if isinstance(error, Conflict):
        flash(_("Nothing was saved. Reload the page to see the current state, then try again."), "warning")
    return _show_again(source, error.status, key, form, conflict=isinstance(error, Conflict))


def _form_invalid(source, key: str, form):
    # The form may sit far down a long page: the flash at the top names the field each message is about.
    for name, messages in form.errors.items():
        field = form._fields.get(name)
        label = field.label.text if field is not None and field.type not in ("HiddenField", "CSRFTokenField") else ""
        for message in messages:
            flash(_("%(field)s: %(message)s", field=label, message=message) if label else message, "danger")
    return _show_again(source, 422, key, form)


@bp.post("/drills/<int:drill_id>/review")
@login_required
def save_review(drill_id: int):
    drill = _visible_drill(drill_id)
    form = ReviewForm(prefix="review-")
    if not form.validate():
        return _form_invalid(drill, "review", form)
    try:
        review = reviews.save_review(current_user, drill, form.to_payload())
    except ServiceError as error:
        return _failed(drill, error, "review", form)
    if request.form.get("then") != "submit":
        flash(_("After-action review saved."), "success")
        return _back(drill)
    # Filing files what is on the screen: the text saved above is kept (a unit of its own), then submitted as
    # one click; a refused submission keeps the text.
    unit_of_work.finish(True)
    try:
        reviews.submit_review(current_user, drill, {"version": review.version})
    except ServiceError as error:
        flash(_("After-action review saved."), "success")
        return _failed(drill, error, "filing", FilingForm(prefix="filing-"))
    flash(_("After-action review saved and submitted for filing."), "success")
    return _back(drill)


FILING_STEPS = {
    "submit": (reviews.submit_review, _l("Review submitted for filing.")),
    "accept": (reviews.accept_review, _l("Review accepted and filed.")),
    "return": (reviews.return_review, _l("Review returned to the organiser.")),
}


@bp.post("/drills/<int:drill_id>/review/<any(submit, accept, return):step>")
@login_required
def filing(drill_id: int, step: str):
    drill = _visible_drill(drill_id)
    form = FilingForm(prefix="filing-")
    if not form.validate():
        return _form_invalid(drill, "filing", form)
    change, done = FILING_STEPS[step]
    try:
        change(current_user, drill, form.to_payload())
    except ServiceError as error:
        return _failed(drill, error, "filing", form)
    flash(str(done), "success")
    return _back(drill)


@bp.route("/drills/<int:drill_id>/review/reopen", methods=["GET", "POST"])
@login_required
def reopen(drill_id: int):
    """A page of its own: reopening unlocks a filed record, so it asks for the reason before anything."""
    drill = _visible_drill(drill_id)
    if not access.can_reopen_filing(current_user, drill):
        abort(403)
    review = reviews.review_of(drill)
    form = ReopenForm()
    if request.method == "GET":
        form.version.data = str(review.version if review is not None else 0)
    elif form.validate_on_submit():
        try:
            reviews.reopen_review(current_user, drill, form.to_payload())
        except ServiceError as error:
            if isinstance(error, Forbidden):
                abort(403)
            for message in apply_errors(form, error):
                flash(message, "danger")
            return render_template(
                "findings/reopen.html", drill=drill, review=review, form=form, drill_url=_drill_page_url(drill)
            ), error.status
        flash(
            _("The filing is reopened; the organiser has been told to correct the record and submit it again."),
            "success",
        )
        return redirect(_drill_page_url(drill))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "findings/reopen.html", drill=drill, review=review, form=form, drill_url=_drill_page_url(drill)
    ), status


@bp.post("/drills/<int:drill_id>/findings")
@login_required
def add_finding(drill_id: int):
    drill = _visible_drill(drill_id)
    form = FindingForm(prefix="new-")
    form.owner_id.choices = []
    if not form.validate():
        return _form_invalid(drill, "new_finding", form)
    try:
        add_drill_finding(current_user, drill, form.to_payload())
    except ServiceError as error:
        return _failed(drill, error, "new_finding", form)
    flash(_("Finding recorded."), "success")
    return _back(drill)


def _visible_finding(finding_id: int) -> Finding:
    return or_404(access.get_visible_finding, current_user, finding_id)


def _finding_page(finding: Finding, posted: dict | None = None, **extra):
    view = pages.finding_view(current_user, finding)
    view.forms = PanelForms(view, posted)
    drill_url = _drill_page_url(finding.drill) if finding.drill is not None else None
    return render_template(
        "findings/finding.html",
        finding=finding,
        view=view,
        drill_url=drill_url,
        checklist_run_url=_checklist_run_url(finding),
        **extra,
    )


def _checklist_run_url(finding: Finding) -> str | None:
    if finding.checklist_run_id is None or "checklists.run" not in current_app.view_functions:
        return None
    return url_for("checklists.run", run_id=finding.checklist_run_id)


@bp.get("/<int:finding_id>")
@login_required
def finding(finding_id: int):
    return _finding_page(_visible_finding(finding_id))


@bp.post("/<int:finding_id>/edit")
@login_required
def edit_finding(finding_id: int):
    finding = _visible_finding(finding_id)
    source = finding.drill or finding
    key = f"finding{finding.id}"
    form = FindingForm(prefix=f"f{finding.id}-")
    if not form.validate():
        return _form_invalid(source, key, form)
    try:
        update_finding(current_user, finding, form.to_payload())
    except ServiceError as error:
        return _failed(source, error, key, form)
    flash(_("Finding saved."), "success")
    return _back(source)


@bp.post("/<int:finding_id>/step")
@login_required
def action_step(finding_id: int):
    finding = _visible_finding(finding_id)
    source = finding.drill or finding
    form = ActionStepForm()
    if not form.validate() or form.status.data not in ActionStatus.values():
        abort(400)
    try:
        update_finding(current_user, finding, form.to_payload())
    except ServiceError as error:
        return _failed(source, error)
    flash(_("Corrective action is now “%(status)s”.", status=ActionStatus(form.status.data).label), "success")
    return _back(source)


@bp.post("/<int:finding_id>/evidence")
@login_required
def add_evidence(finding_id: int):
    """Photos and files showing the correction: several at once, and a photo from the phone's camera."""
    finding = _visible_finding(finding_id)
    source = finding.drill or finding
    files = [(f.stream, f.filename or "") for name in ("files", "camera") for f in request.files.getlist(name)]
    try:
        added = attachments.add_evidence(current_user, finding, files)
    except ServiceError as error:
        return _failed(source, error)
    flash(_("Evidence added: %(names)s", names="、".join(a.filename for a in added)), "success")
    return _back(source)
