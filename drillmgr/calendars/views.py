"""Calendar feeds (/calendars/*.ics) and the page to subscribe to them."""
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.http import http_date

from drillmgr.calendars import services
from drillmgr.calendars.forms import FeedAlarmsForm, RotateLinksForm
from drillmgr.errors import ServiceError

bp = Blueprint("calendars", __name__, url_prefix="/calendars")


def _serve(feed_for, filename: str, private: bool) -> Response:
    """Answers a feed request; a refused link gets a short plain-text answer, never a page or a feed."""
    try:
        feed = feed_for()
    except ServiceError as error:
        return Response(error.detail + "\n", status=error.status, mimetype="text/plain")
    if_none_match = request.if_none_match
    result = services.answer(
        feed,
        etag_matches=if_none_match.contains_weak if if_none_match else None,  # RFC 9110: weak comparison
        modified_since=request.if_modified_since,
    )
    response = Response(result.body if result.status == 200 else b"", status=result.status)
    if result.status == 200:
        response.headers["Content-Type"] = "text/calendar; charset=utf-8"
        response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    if result.etag:
        response.set_etag(result.etag)
    response.headers["Last-Modified"] = http_date(result.last_modified)
    response.headers["Cache-Control"] = "private, no-cache" if private else "public, max-age=300"
    if private:
        response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/public.ics")
def public_feed():
    return _serve(services.public_feed, "public.ics", private=False)


@bp.get("/me.ics")
def me_feed():
    token = request.args.get("token")
    return _serve(lambda: services.feed_for_token(services.ME, "", token), "me.ics", private=True)


@bp.get("/org/<int:org_id>.ics")
def org_feed(org_id: int):
    token = request.args.get("token")
    return _serve(lambda: services.feed_for_token(services.ORG, str(org_id), token), f"org-{org_id}.ics",
                  private=True)


@bp.get("/region/<code>.ics")
def region_feed(code: str):
    token = request.args.get("token")
    return _serve(lambda: services.feed_for_token(services.REGION, code, token), f"region-{code}.ics",
                  private=True)


@bp.get("/subscribe")
@login_required
def subscribe():
    return render_template(
        "calendars/subscribe.html",
        links=services.feed_links(current_user, request.url_root),
        alarms_form=FeedAlarmsForm(alarms=current_user.feed_alarms),
        rotate_form=RotateLinksForm(),
        timezone=current_app.config["TIMEZONE"],
    )


@bp.post("/subscribe/alarms")
@login_required
def set_alarms():
    form = FeedAlarmsForm()
    if form.validate_on_submit():
        services.set_feed_alarms(current_user, form.alarms.data)
        flash(_("Reminders are now in your feeds.") if form.alarms.data
              else _("Your feeds no longer carry reminders."), "success")
    else:
        flash(_("The form has expired; please try again."), "danger")
    return redirect(url_for("calendars.subscribe"))


@bp.post("/subscribe/rotate")
@login_required
def rotate():
    form = RotateLinksForm()
    if form.validate_on_submit():
        services.rotate_links(current_user)
        flash(_("New links made. The old links no longer work: subscribe again with the new ones."), "success")
    else:
        flash(_("The form has expired; please try again."), "danger")
    return redirect(url_for("calendars.subscribe"))
