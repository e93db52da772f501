import tempfile
from pathlib import Path

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.enums import OrgKind, Role
from drillmgr.errors import ServiceError
from drillmgr.extensions import db
from drillmgr.forms import apply_service_errors, posted_version
from drillmgr.orgs import services
from drillmgr.orgs.forms import GroupImportForm, GroupsForm, ImportForm, OrgForm
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.regions.services import all_regions, counties
from drillmgr.web import or_404

bp = Blueprint("orgs", __name__, url_prefix="/orgs")


def _region_choices() -> list[tuple[str, str]]:
    return [(r.code, r.indented_name) for r in all_regions(access.manage_region_clause(current_user, Region.code))]


@bp.get("/")
@login_required
def index():
    args = request.args
    kind = args.get("kind") if args.get("kind") in OrgKind.values() else None
    query = services.org_query(current_user, region=args.get("region") or None, kind=kind, q=args.get("q") or None)
    pagination = db.paginate(
        query.options(selectinload(Organisation.region)),
        page=args.get("page", 1, type=int),
        per_page=50,
        error_out=False,
    )
    regions = (
        all_regions(access.region_clause(current_user, Region.code)) if current_user.role != Role.ORG_STAFF else []
    )
    return render_template(
        "orgs/index.html",
        pagination=pagination,
        regions=regions,
        kinds=OrgKind,
        can_add=access.can_manage_people_and_units(current_user),
    )


@bp.get("/<int:org_id>")
@login_required
def detail(org_id: int):
    org = or_404(access.get_visible_org, current_user, org_id)
    return render_template(
        "orgs/detail.html",
        org=org,
        can_edit=access.can_manage_org(current_user, org),
        can_edit_groups=access.can_edit_org_groups(current_user, org),
    )


def _errors_of(error: ServiceError) -> list[str]:
    return [error.detail] + [m for messages in error.errors.values() for m in messages]


@bp.route("/<int:org_id>/groups", methods=["GET", "POST"])
@login_required
def groups(org_id: int):
    org = or_404(access.get_visible_org, current_user, org_id)
    if not access.can_edit_org_groups(current_user, org):
        abort(403)
    form, import_form = GroupsForm(), GroupImportForm()
    errors: list[str] = []
    if request.method == "GET":
        form.lines.data = "\n".join(f"{g.name}, {g.expected}" for g in org.groups)
        form.version.data = str(org.version)
    if form.validate_on_submit():
        # A missing version never matches either: a Conflict, nothing saved.
        version = posted_version(str(form.version.data or "")) or 0
        try:
            services.set_groups(current_user, org, form.to_items(), version)
        except ServiceError as error:
            errors = _errors_of(error)
        else:
            flash(_("The groups of %(name)s are saved.", name=org.name), "success")
            return redirect(url_for("orgs.detail", org_id=org.id))
    return render_template("orgs/groups.html", org=org, form=form, import_form=import_form, errors=errors)


@bp.post("/<int:org_id>/groups/import")
@login_required
def import_groups(org_id: int):
    org = or_404(access.get_visible_org, current_user, org_id)
    if not access.can_edit_org_groups(current_user, org):
        abort(403)
    form, import_form = GroupsForm(formdata=None), GroupImportForm()
    form.lines.data = "\n".join(f"{g.name}, {g.expected}" for g in org.groups)
    form.version.data = str(org.version)
    errors: list[str] = []
    if import_form.validate_on_submit():
        upload = import_form.file.data
        suffix = Path(upload.filename or "").suffix.lower()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            upload.save(path)
            try:
                created = services.import_groups(current_user, org, services.read_group_rows(path))
            except ServiceError as error:
                errors = _errors_of(error)
            else:
                flash(_("%(n)d groups imported.", n=len(created)), "success")
                return redirect(url_for("orgs.detail", org_id=org.id))
    else:
        errors = [m for messages in import_form.errors.values() for m in messages]
    return render_template("orgs/groups.html", org=org, form=form, import_form=import_form, errors=errors), 422


def _save(form: OrgForm, org=None):
    try:
        if org is None:
            return services.create_org(current_user, form.to_payload())
        return services.update_org(current_user, org, form.to_payload())
    except ServiceError as error:
        for message in apply_service_errors(form, error):
            flash(message, "danger")
        return None


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    if not access.can_manage_people_and_units(current_user):
        abort(403)
    form = OrgForm()
    form.region_code.choices = _region_choices()
    if form.validate_on_submit() and (org := _save(form)) is not None:
        flash(_("Organisation %(name)s created.", name=org.name), "success")
        return redirect(url_for("orgs.detail", org_id=org.id))
    return render_template("orgs/form.html", form=form, org=None)


@bp.route("/<int:org_id>/edit", methods=["GET", "POST"])
@login_required
def edit(org_id: int):
    org = or_404(access.get_visible_org, current_user, org_id)
    if not access.can_manage_org(current_user, org):
        abort(403)
    form = OrgForm(obj=org)
    form.region_code.choices = _region_choices()
    if request.method == "GET":
        form.version.data = str(org.version)
    if form.validate_on_submit() and _save(form, org) is not None:
        flash(_("Organisation %(name)s saved.", name=org.name), "success")
        return redirect(url_for("orgs.detail", org_id=org.id))
    return render_template("orgs/form.html", form=form, org=org)


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_file():
    if not access.can_manage_people_and_units(current_user):
        abort(403)
    form = ImportForm()
    errors: list[str] = []
    if form.validate_on_submit():
        upload = form.file.data
        suffix = Path(upload.filename or "").suffix.lower()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"upload{suffix}"
            upload.save(path)
            try:
                created = services.import_orgs(current_user, services.read_rows(path))
            except ServiceError as error:
                errors = [error.detail] + [m for messages in error.errors.values() for m in messages]
            else:
                flash(_("%(n)d organisations imported.", n=len(created)), "success")
                return redirect(url_for("orgs.index"))
    return render_template(
        "orgs/import.html",
        form=form,
        errors=errors,
        kinds=OrgKind,
        counties=counties(within=access.home_region(current_user)),
    )
