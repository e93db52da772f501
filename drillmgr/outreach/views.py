"""Public education pages (item 19): activities, six-into coverage, demonstration sites."""

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from drillmgr.access import services as access
from drillmgr.attachments.services import attachment_path
from drillmgr.enums import Channel, OutreachKind, Role, SiteKind, SiteStatus, SixIntoSetting
from drillmgr.errors import ServiceError
from drillmgr.extensions import db
from drillmgr.forms import apply_service_errors
from drillmgr.localtime import local_today
from drillmgr.orgs.models import Organisation
from drillmgr.outreach import activities, observance
from drillmgr.outreach.coverage import coverage_matrix
from drillmgr.outreach.forms import ActivityForm, AttachmentForm, SiteForm
from drillmgr.outreach.models import EARLIEST_YEAR, DemonstrationSite, OutreachActivity
from drillmgr.outreach.sites import create_site, get_visible_site, manageable_sites, site_query, update_site
from drillmgr.regions.models import Region
from drillmgr.regions.services import PREFECTURE, all_regions
from drillmgr.web import or_404

bp = Blueprint("outreach", __name__, url_prefix="/outreach")
T = TypeVar("T")


def _visible_regions() -> list[Region]:
    return all_regions(access.region_clause(current_user, Region.code))


def _org_choices(blank: bool = True) -> list[tuple[str, str]]:
    orgs = db.session.execute(
        sa.select(Organisation.id, Organisation.name)
        .where(access.org_clause(current_user))
        .order_by(Organisation.region_code, Organisation.name)
    ).all()
    choices = [(str(i), name) for i, name in orgs]
    if current_user.role == Role.ORG_STAFF:
        return choices
    return [("", _("— none: organised by the region —")), *choices] if blank else choices


def _activity_region_choices() -> list[tuple[str, str]]:
    if current_user.role == Role.ORG_STAFF:
        org = db.session.get(Organisation, current_user.org_id)
        regions = all_regions(Region.code.in_(access.subtree_codes(org.region_code))) if org else []
    else:
        regions = all_regions(access.manage_region_clause(current_user, Region.code))
    return [(r.code, r.indented_name) for r in regions]


def _can_record() -> bool:
    return current_user.role in (Role.ADMIN, Role.COORDINATOR) or (
        current_user.role == Role.ORG_STAFF and current_user.org_id is not None
    )


def _region_names(codes: set[str]) -> dict[str, str]:
    return dict(db.session.execute(sa.select(Region.code, Region.name).where(Region.code.in_(codes))).tuples().all())


def _filters() -> dict:
    try:
        return activities.read_filters({k: v for k, v in request.args.items() if k in ("year", "region", "kind") and v})
    except ServiceError as error:
        for messages in error.errors.values():
            for message in messages:
                flash(message, "warning")
        return {}


@bp.get("/")
@login_required
def index():
    filters = _filters()
    query = activities.activity_query(current_user, **filters)
    pagination = db.paginate(query, page=request.args.get("page", 1, type=int), per_page=50, error_out=False)
    verdicts = observance.verdicts(pagination.items)
    regions = [(r.code, r.indented_name) for r in _visible_regions()] if current_user.role != Role.ORG_STAFF else []
    return render_template(
        "outreach/index.html",
        pagination=pagination,
        verdicts=verdicts,
        regions=regions,
        region_names=_region_names({a.region_code for a in pagination.items}),
        kinds=OutreachKind,
        can_add=_can_record(),
        this_year=local_today().year,
    )


def _saved(form: FlaskForm, save: Callable[[], T], forbidden_page: bool = False) -> T | None:
    """What `save` saved, or None with the refusal shown on the form (`forbidden_page`: a 403 is the page's)."""
    try:
        return save()
    except ServiceError as error:
        if forbidden_page and error.status == 403:
            abort(403)
        for message in apply_service_errors(form, error):
            flash(message, "danger")
        return None


def _save_activity(form: ActivityForm, activity: OutreachActivity | None = None) -> OutreachActivity | None:
    if activity is None:
        return _saved(form, lambda: activities.create_activity(current_user, form.to_payload()))
    return _saved(form, lambda: activities.update_activity(current_user, activity, form.to_payload()))


def _prepare(form: ActivityForm) -> None:
    form.region_code.choices = _activity_region_choices()
    form.organizer_org_id.choices = _org_choices()


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():
    if not _can_record():
        abort(403)
    form = ActivityForm()
    _prepare(form)
    if request.method == "GET":
        form.kind.data = request.args.get("kind") or OutreachKind.OBSERVANCE_CAMPAIGN.value
        form.held_on.data = local_today()
    if form.validate_on_submit() and (activity := _save_activity(form)) is not None:
        flash(_("Activity “%(title)s” recorded.", title=activity.title), "success")
        return redirect(url_for("outreach.detail", activity_id=activity.id))
    return render_template("outreach/form.html", form=form, activity=None)


@bp.get("/<int:activity_id>")
@login_required
def detail(activity_id: int):
    activity = or_404(activities.get_visible_activity, current_user, activity_id)
    attachments = activities.activity_attachments(activity)
    return render_template(
        "outreach/detail.html",
        activity=activity,
        verdict=observance.observance_verdict(activity),
        region=db.session.get(Region, activity.region_code),
        organizer=db.session.get(Organisation, activity.organizer_org_id) if activity.organizer_org_id else None,
        channels=[Channel(c).label for c in activity.channels or []],
        attachments=attachments,
        can_edit=access.can_edit_outreach(current_user, activity),
        upload_form=AttachmentForm(),
    )


@bp.route("/<int:activity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(activity_id: int):
    activity = or_404(activities.get_visible_activity, current_user, activity_id)
    if not access.can_edit_outreach(current_user, activity):
        abort(403)
    form = ActivityForm(obj=activity)
    _prepare(form)
    if request.method == "GET":
        form.kind.data = activity.kind.value
        form.observance_day.data = activity.observance_day.value if activity.observance_day else ""
        form.setting.data = activity.setting.value if activity.setting else ""
        form.organizer_org_id.data = str(activity.organizer_org_id or "")
        form.channels.data = list(activity.channels or [])
        form.confirm_exceptional.data = bool(activity.exceptional_reason)
    if form.validate_on_submit() and _save_activity(form, activity) is not None:
        flash(_("Activity “%(title)s” saved.", title=activity.title), "success")
        return redirect(url_for("outreach.detail", activity_id=activity.id))
    return render_template("outreach/form.html", form=form, activity=activity)


@bp.post("/<int:activity_id>/delete")
@login_required
def delete(activity_id: int):
    activity = or_404(activities.get_visible_activity, current_user, activity_id)
    try:
        activities.delete_activity(current_user, activity)
    except ServiceError as error:
        abort(error.status)
    flash(_("Activity deleted."), "success")
    return redirect(url_for("outreach.index"))


@bp.post("/<int:activity_id>/attachments")
@login_required
def upload(activity_id: int):
    activity = or_404(activities.get_visible_activity, current_user, activity_id)
    form = AttachmentForm()
    if not form.validate_on_submit():
        flash(_("Choose a file."), "danger")
        return redirect(url_for("outreach.detail", activity_id=activity.id))
    try:
        activities.attach_file(current_user, activity, form.file.data.stream, form.file.data.filename)
    except ServiceError as error:
        if error.status == 403:
            abort(403)
        for message in [m for ms in error.errors.values() for m in ms] or [error.detail]:
            flash(message, "danger")
    else:
        flash(_("File attached."), "success")
    return redirect(url_for("outreach.detail", activity_id=activity.id))


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment(attachment_id: int):
    file = or_404(activities.get_visible_attachment, current_user, attachment_id)
    return send_file(
        attachment_path(file),
        mimetype=file.content_type,
        download_name=file.filename,
        as_attachment=not file.content_type.startswith("image/"),
    )


# --- six-into coverage -----------------------------------------------------------------------------


@bp.get("/coverage")
@login_required
def coverage():
    default_region = current_user.region_code if current_user.role in access.REGIONAL_ROLES else PREFECTURE[0]
    if current_user.role == Role.ORG_STAFF:
        org = db.session.get(Organisation, current_user.org_id) if current_user.org_id else None
        default_region = org.region_code if org else PREFECTURE[0]
    region_code = request.args.get("region") or default_region
    year = request.args.get("year", local_today().year, type=int)
    region = db.session.get(Region, region_code)
    if region is None or not EARLIEST_YEAR <= year <= 2100:
        abort(404)
    rows = coverage_matrix(current_user, region_code, year)
    return render_template(
        "outreach/coverage.html",
        rows=rows,
        region=region,
        year=year,
        settings=SixIntoSetting,
        regions=_visible_regions(),
    )


# --- demonstration sites ---------------------------------------------------------------------------


def _can_add_sites() -> bool:
    return current_user.role in (Role.ADMIN, Role.COORDINATOR)


@bp.get("/sites")
@login_required
def sites():
    args = request.args
    kind = args.get("kind") if args.get("kind") in SiteKind.values() else None
    status = args.get("status") if args.get("status") in SiteStatus.values() else None
    query = site_query(current_user, kind=kind, status=status)
    pagination = db.paginate(query, page=args.get("page", 1, type=int), per_page=50, error_out=False)
    return render_template(
        "outreach/sites.html",
        pagination=pagination,
        region_names=_region_names({s.region_code for s in pagination.items}),
        kinds=SiteKind,
        statuses=SiteStatus,
        can_add=_can_add_sites(),
        can_manage=manageable_sites(current_user, pagination.items),
    )


def _site_form(site: DemonstrationSite | None = None) -> SiteForm:
    form = SiteForm(obj=site)
    # can_manage_sites is can_manage_region: the same scope, listed in one query
    form.region_code.choices = [
        (r.code, r.indented_name) for r in all_regions(access.manage_region_clause(current_user, Region.code))
    ]
    form.org_id.choices = _org_choices()
    if request.method == "GET" and site is not None:
        form.org_id.data = str(site.org_id or "")
        form.kind.data, form.status.data = site.kind.value, site.status.value
    elif request.method == "GET":
        form.year.data = local_today().year
    return form


def _save_site(form: SiteForm, site: DemonstrationSite | None = None) -> DemonstrationSite | None:
    if site is None:
        return _saved(form, lambda: create_site(current_user, form.to_payload()), forbidden_page=True)
    return _saved(form, lambda: update_site(current_user, site, form.to_payload()), forbidden_page=True)


@bp.route("/sites/new", methods=["GET", "POST"])
@login_required
def new_site():
    if not _can_add_sites():
        abort(403)
    form = _site_form()
    if form.validate_on_submit() and (site := _save_site(form)) is not None:
        flash(_("Demonstration site “%(name)s” saved.", name=site.name), "success")
        return redirect(url_for("outreach.sites"))
    return render_template("outreach/site_form.html", form=form, site=None)


@bp.route("/sites/<int:site_id>/edit", methods=["GET", "POST"])
@login_required
def edit_site(site_id: int):
    site = or_404(get_visible_site, current_user, site_id)
    if not access.can_manage_sites(current_user, site.region_code):
        abort(403)
    form = _site_form(site)
    if form.validate_on_submit() and _save_site(form, site) is not None:
        flash(_("Demonstration site “%(name)s” saved.", name=site.name), "success")
        return redirect(url_for("outreach.sites"))
    return render_template("outreach/site_form.html", form=form, site=site)
