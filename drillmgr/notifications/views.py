from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required

from drillmgr.errors import NotFound
from drillmgr.extensions import db
from drillmgr.notifications import services

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PER_PAGE = 30


@bp.app_context_processor
def unread_notifications() -> dict[str, int]:
    """The bell's count, on every page of a logged-in user (one COUNT query)."""
    if not current_user.is_authenticated:
        return {}
    return {"unread_notification_count": services.unread_count(current_user)}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    unread_only = request.args.get("unread") == "1"
    pagination = db.paginate(
        services.notifications_query(current_user, unread_only),
        page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template("notifications/index.html", pagination=pagination, unread_only=unread_only)


@bp.post("/<int:notification_id>/read")
@login_required
def read(notification_id: int) -> ResponseReturnValue:
    """Marks one read and opens what it is about (or goes back to the list)."""
    try:
        notification = services.mark_read(current_user, notification_id)
    except NotFound:
        abort(404)
    if request.form.get("open") == "1" and notification.link:
        return redirect(notification.link)
    return redirect(url_for("notifications.index", unread=request.args.get("unread")))


@bp.post("/read-all")
@login_required
def read_all() -> ResponseReturnValue:
    count = services.mark_all_read(current_user)
    flash(_("%(n)d notifications marked as read.", n=count), "success")
    return redirect(url_for("notifications.index"))
