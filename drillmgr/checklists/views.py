"""Readiness checklist pages: overview, template editing, filling in a run, and the panels that
the drill page and the unit page include."""

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr import unit_of_work
from drillmgr.access import services as access
from drillmgr.attachments.models import Attachment
from drillmgr.attachments.services import attachment_path
from drillmgr.checklists import readiness, runs, shortcomings
from drillmgr.checklists import templates as checklist_templates
from drillmgr.checklists.forms import ActionForm, ItemForm, MakeActionForm, TemplateForm
from drillmgr.drills.models import Drill
from drillmgr.enums import Answer, Role, Severity
from drillmgr.errors import ServiceError
from drillmgr.extensions import db
from drillmgr.findings.forms import apply_errors
from drillmgr.forms import apply_service_errors
from drillmgr.orgs.models import Organisation
from drillmgr.regions.services import PREFECTURE
from drillmgr.web import or_404
from drillmgr.validation import parse_id

bp = Blueprint("checklists", __name__, url_prefix="/checklists")


@bp.app_template_global()
def pre_drill_checklist(drill):
    """For templates/checklists/_drill_panel.html, included by the drill page."""
    return readiness.drill_checklist(current_user, drill) if current_user.is_authenticated else None


@bp.app_template_global()
def readiness_summary_for(region_code):
    """For templates/checklists/_readiness_summary.html (the compliance dashboard may include it)."""
    if not current_user.is_authenticated or not region_code:
        return []
    try:
        return readiness.readiness_for(current_user, region_code)
    except ServiceError:
        return []


@bp.app_template_global()
def unit_readiness(org):
    """For templates/checklists/_org_panel.html, included by the unit page."""
    return readiness.unit_readiness(current_user, org) if current_user.is_authenticated else None


def _flash_errors(error: ServiceError) -> None:
    for message in [m for ms in error.errors.values() for m in ms] or [error.detail]:
        flash(message, "danger")


def _fail(error: ServiceError) -> None:
    if error.status in (403, 404):
        abort(error.status)
    _flash_errors(error)


@bp.get("/")
@login_required
def index():
    org = (
        db.session.get(Organisation, current_user.org_id)
        if current_user.role == Role.ORG_STAFF and current_user.org_id
        else None
    )
    region_code = None
    if current_user.role != Role.ORG_STAFF:
        region_code = current_user.region_code if current_user.role in access.REGIONAL_ROLES else PREFECTURE[0]
    pagination = db.paginate(
        runs.run_query(current_user), page=request.args.get("page", 1, type=int), per_page=30, error_out=False
    )
    names = runs.run_subjects(pagination.items)
    return render_template(
        "checklists/index.html",
        org=org,
        region_code=region_code,
        pagination=pagination,
        subjects=names,
        action_form=ActionForm(),
        progress=runs.progress,
    )


# --- templates -------------------------------------------------------------------------------


@bp.get("/templates")
@login_required
def templates():
    return render_template(
        "checklists/templates.html",
        templates=checklist_templates.all_templates(),
        can_edit=access.can_edit_checklist_templates(current_user),
    )


@bp.route("/templates/new", methods=["GET", "POST"])
@login_required
def new_template():
    if not access.can_edit_checklist_templates(current_user):
        abort(403)
    form = TemplateForm()
    if form.validate_on_submit():
        try:
            template = checklist_templates.create_template(current_user, form.to_payload())
        except ServiceError as error:
            for message in apply_service_errors(form, error):
                flash(message, "danger")
        else:
            flash(_("Checklist “%(name)s” created; now add its items.", name=template.name), "success")
            return redirect(url_for("checklists.template", template_id=template.id))
    return render_template("checklists/template_form.html", form=form)


@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@login_required
def template(template_id: int):
    checklist = or_404(checklist_templates.get_template, template_id)
    can_edit = access.can_edit_checklist_templates(current_user)
    form = TemplateForm(obj=checklist)
    if request.method == "GET":
        form.drill_form.data = checklist.drill_form.value if checklist.drill_form else ""
        form.drill_scope.data = checklist.drill_scope.value if checklist.drill_scope else ""
        form.org_kind.data = checklist.org_kind.value if checklist.org_kind else ""
    if request.method == "POST":
        if not can_edit:
            abort(403)
        if form.validate_on_submit():
            try:
                checklist_templates.update_template(current_user, checklist, form.to_payload())
            except ServiceError as error:
                for message in apply_service_errors(form, error):
                    flash(message, "danger")
            else:
                flash(_("Checklist saved."), "success")
                return redirect(url_for("checklists.template", template_id=checklist.id))
    return render_template(
        "checklists/template.html",
        checklist=checklist,
        form=form,
        item_form=ItemForm(),
        action_form=ActionForm(),
        can_edit=can_edit,
    )


def _template_action(template_id: int, change) -> object:
    if not access.can_edit_checklist_templates(current_user):
        abort(403)
    checklist = or_404(checklist_templates.get_template, template_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        change(checklist)
    except ServiceError as error:
        _fail(error)
    return redirect(url_for("checklists.template", template_id=checklist.id) + "#items")


@bp.post("/templates/<int:template_id>/items")
@login_required
def add_item(template_id: int):
    return _template_action(
        template_id, lambda t: checklist_templates.add_item(current_user, t, {"text": request.form.get("text", "")})
    )


@bp.post("/templates/<int:template_id>/items/<int:item_id>")
@login_required
def update_item(template_id: int, item_id: int):
    data: dict[str, str | bool] = {}
    if "text" in request.form:
        data["text"] = request.form["text"]
    if "active" in request.form:
        data["active"] = request.form["active"] == "1"
    return _template_action(template_id, lambda t: checklist_templates.update_item(current_user, t, item_id, data))


@bp.post("/templates/<int:template_id>/items/<int:item_id>/move")
@login_required
def move_item(template_id: int, item_id: int):
    offset = -1 if request.form.get("direction") == "up" else 1
    return _template_action(template_id, lambda t: checklist_templates.move_item(current_user, t, item_id, offset))


# --- runs ------------------------------------------------------------------------------------


@bp.post("/drills/<int:drill_id>/start")
@login_required
def start_for_drill(drill_id: int):
    drill = or_404(access.get_visible_drill, current_user, drill_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        run = runs.start_drill_run(current_user, drill)
    except ServiceError as error:
        _fail(error)
        return redirect(url_for("drills.detail", drill_id=drill.id))
    return redirect(url_for("checklists.run", run_id=run.id))


@bp.post("/orgs/<int:org_id>/start")
@login_required
def start_for_org(org_id: int):
    org = or_404(access.get_visible_org, current_user, org_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        run = runs.start_readiness_run(current_user, org)
    except ServiceError as error:
        _fail(error)
        return redirect(url_for("orgs.detail", org_id=org.id))
    return redirect(url_for("checklists.run", run_id=run.id))


def _visible_run(run_id: int):
    return or_404(runs.get_visible_run, current_user, run_id)


def _answers_from_form(run) -> tuple[dict, dict]:
    answers, photos = {}, {}
    for line in runs.run_lines(run):
        key = str(line.item.id)
        if f"answer-{key}" in request.form or f"note-{key}" in request.form:
            answers[key] = {
                "answer": request.form.get(f"answer-{key}") or None,
                "note": request.form.get(f"note-{key}", ""),
            }
        upload = request.files.get(f"photo-{key}")
        if upload is not None and upload.filename:
            photos[line.item.id] = (upload.stream, upload.filename)
    return answers, photos


@bp.route("/runs/<int:run_id>", methods=["GET", "POST"])
@login_required
def run(run_id: int):
    checklist_run = _visible_run(run_id)
    can_fill = access.can_fill_checklist_run(current_user, checklist_run)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not can_fill:
            abort(403)
        if not ActionForm().validate_on_submit():
            abort(400)
        answers, photos = _answers_from_form(checklist_run)
        action_item = request.form.get("action_item", "")
        try:
            runs.save_answers(current_user, checklist_run, answers, photos)
            if item_id := parse_id(action_item):
                # "Make it a corrective action" first saves what was typed on the other items.
                return redirect(url_for("checklists.make_action", run_id=checklist_run.id, item_id=item_id))
            if request.form.get("complete"):
                unit_of_work.finish(True)  # the answers are kept (a unit of their own) even if completing is refused
                runs.complete_run(current_user, checklist_run)
        except ServiceError as error:
            if error.status in (403, 404):
                abort(error.status)
            errors = error.errors
            flash(error.detail, "danger")
            for message in errors.get("answers", []):
                flash(message, "warning")
        else:
            flash(_("Checklist completed.") if checklist_run.completed_at else _("Answers saved."), "success")
            return redirect(url_for("checklists.run", run_id=checklist_run.id))
    org = db.session.get(Organisation, checklist_run.org_id) if checklist_run.org_id else None
    drill = db.session.get(Drill, checklist_run.drill_id) if checklist_run.drill_id else None
    return render_template(
        "checklists/run.html",
        run=checklist_run,
        lines=runs.run_lines(checklist_run),
        progress=runs.progress(checklist_run),
        errors=errors,
        org=org,
        drill=drill,
        can_fill=can_fill,
        action_form=ActionForm(),
        answers=Answer,
        submitted=request.form,
    )


def _owner_label(user) -> str:
    return f"{user.display_name or user.username} · {user.role.label}"


@bp.route("/runs/<int:run_id>/items/<int:item_id>/action", methods=["GET", "POST"])
@login_required
def make_action(run_id: int, item_id: int):
    """An item answered "no" becomes a finding: the shortcoming drafted from the item, category and
    owner chosen by the user, the answer's photo carried over as the action's evidence."""
    checklist_run = _visible_run(run_id)
    back = url_for("checklists.run", run_id=checklist_run.id) + f"#item-{item_id}"
    try:
        draft = shortcomings.action_draft(current_user, checklist_run, item_id)
    except ServiceError as error:
        _fail(error)
        return redirect(back)
    form = MakeActionForm()
    form.owner_id.choices = [("", _("— choose who corrects it —"))] + [(u.id, _owner_label(u)) for u in draft.owners]
    if request.method == "GET":
        form.summary.data, form.description.data, form.due_on.data = draft.summary, draft.description, draft.due_on
        form.severity.data = Severity.MAJOR.value
    elif form.validate_on_submit():
        try:
            finding = shortcomings.make_corrective_action(current_user, checklist_run, item_id, form.to_payload())
        except ServiceError as error:
            if error.status in (403, 404):
                abort(error.status)
            for message in apply_errors(form, error):
                flash(message, "danger")
        else:
            flash(
                _(
                    "Corrective action created, due %(date)s; follow it under Corrective actions.",
                    date=finding.corrective_action.due_on.isoformat(),
                ),
                "success",
            )
            return redirect(back)
    drill = db.session.get(Drill, checklist_run.drill_id) if checklist_run.drill_id else None
    return render_template(
        "checklists/make_action.html", run=checklist_run, line=draft.line, form=form, drill=drill
    ), 422 if form.errors else 200


@bp.get("/photos/<int:attachment_id>")
@login_required
def photo(attachment_id: int):
    file = db.session.get(Attachment, attachment_id)
    if file is None or file.checklist_run_id is None:
        abort(404)
    _visible_run(file.checklist_run_id)
    return send_file(attachment_path(file), mimetype=file.content_type, download_name=file.filename)
