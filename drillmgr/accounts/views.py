from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from drillmgr.access import services as access
from drillmgr.accounts import services
from drillmgr.accounts.forms import LoginForm, PasswordChangeForm, UserForm
from drillmgr.enums import Role
from drillmgr.errors import ServiceError
from drillmgr.extensions import db, login_limit_by_address, login_limit_by_username
from drillmgr.forms import apply_service_errors
from drillmgr.orgs.services import org_query
from drillmgr.regions.models import Region
from drillmgr.regions.services import all_regions
from drillmgr.web import or_404

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """A local path to go on to; anything that a browser could read as another site goes home."""
    if (
        target
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and "\\" not in target
        and not urlsplit(target).netloc
        and not any(ord(c) < 32 for c in target)
    ):
        return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
@login_limit_by_address
@login_limit_by_username
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(_("Wrong username or password."))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    services.logout(current_user)
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """The user's own account: a new password, and logging out on every device."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_own_password(current_user, form.current_password.data, form.password.data)
        except ServiceError as error:
            for message in apply_service_errors(form, error):
                flash(message, "danger")
        else:
            login_user(current_user._get_current_object(), remember=False)  # this session goes on, no other
            flash(_("Your password has been changed. Your other sessions and API tokens have ended."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", form=form)


@bp.post("/account/logout-everywhere")
@login_required
def logout_everywhere():
    services.logout_everywhere(current_user, current_user)
    logout_user()
    flash(_("You have been logged out on every device, and your API tokens no longer work."), "info")
    return redirect(url_for("accounts.login"))


@bp.post("/users/<int:user_id>/logout-everywhere")
@login_required
def logout_user_everywhere(user_id: int):
    _require_manager()
    user = or_404(services.get_visible_user, current_user, user_id)
    if not access.can_manage_user(current_user, user):
        abort(403)
    services.logout_everywhere(current_user, user)
    flash(
        _("%(name)s has been logged out on every device; their API tokens no longer work.", name=user.username),
        "success",
    )
    return redirect(url_for("accounts.edit_user", user_id=user.id))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang")
    if lang not in current_app.config["LANGUAGES"]:
        abort(400)
    session["lang"] = lang
    if current_user.is_authenticated:
        services.set_locale(current_user, lang)
    return redirect(_safe_next(request.form.get("next")))


def _require_manager():
    if not access.can_manage_people_and_units(current_user):
        abort(403)


def _fill_scope_choices(form: UserForm) -> None:
    regions = all_regions(access.manage_region_clause(current_user, Region.code))
    form.region_code.choices = [("", "—")] + [(r.code, f"{r.name} ({r.code})") for r in regions]
    orgs = db.session.scalars(org_query(current_user).limit(5000))
    form.org_id.choices = [("", "—")] + [(str(o.id), o.name) for o in orgs]
    grantable = access.grantable_roles(current_user)
    form.role.choices = [(role.value, role.label) for role in grantable]


@bp.get("/users")
@login_required
def users():
    _require_manager()
    args = request.args
    role = Role(args["role"]) if args.get("role") in Role.values() else None
    pagination = services.list_users(
        current_user, args.get("page", 1, type=int), 50, q=args.get("q") or None, role=role
    )
    return render_template("accounts/users.html", pagination=pagination, roles=Role)


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
def new_user():
    _require_manager()
    form = UserForm()
    _fill_scope_choices(form)
    if form.validate_on_submit():
        try:
            user = services.create_user(current_user, form.to_payload(creating=True))
        except ServiceError as error:
            for message in apply_service_errors(form, error):
                flash(message, "danger")
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def edit_user(user_id: int):
    _require_manager()
    user = or_404(services.get_visible_user, current_user, user_id)
    if not access.can_manage_user(current_user, user):
        abort(403)
    form = UserForm(obj=user)
    _fill_scope_choices(form)
    if request.method == "GET":
        form.org_id.data = str(user.org_id or "")
        form.region_code.data = user.region_code or ""
        form.role.data = user.role.value
    if form.validate_on_submit():
        try:
            services.update_user(current_user, user, form.to_payload(creating=False))
        except ServiceError as error:
            for message in apply_service_errors(form, error):
                flash(message, "danger")
        else:
            if user.id == current_user.id:
                login_user(user, remember=False)  # an admin's own new password ends their other sessions only
            flash(_("User %(name)s saved.", name=user.username), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=user)
