"""Calendar feeds (/calendars/*.ics) and the page to subscribe to them."""

from collections.abc import Callable

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask.typing import ResponseReturnValue
from werkzeug.http import http_date

from drillmgr.calendars.feeds import ME, ORG, REGION, Feed, default_filter, public_feed as public_feed_of
from drillmgr.calendars.filters import BadFilter, FeedFilter
from drillmgr.calendars.links import (
    FILTERED_KINDS,
    feed_for_token,
    feed_links,
    feed_targets,
    rotate_links,
    set_feed_alarms,
)
from drillmgr.calendars.preview import chosen_filter, feed_preview
from drillmgr.calendars.serving import answer
from drillmgr.calendars.forms import FeedAlarmsForm, RotateLinksForm
from drillmgr.enums import DrillForm, DrillScope, OrgKind
from drillmgr.errors import ServiceError

bp = Blueprint("calendars", __name__, url_prefix="/calendars")


def _serve(feed_for: Callable[[], Feed], filename: str, private: bool) -> Response:
    """Answers a feed request; a refused link gets a short plain-text answer, never a page or a feed."""
    try:
        feed = feed_for()
    except ServiceError as error:
        return Response(error.detail + "\n", status=error.status, mimetype="text/plain")
    if_none_match = request.if_none_match
    result = answer(
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
def public_feed() -> Response:
    return _serve(public_feed_of, "public.ics", private=False)


@bp.get("/me.ics")
def me_feed() -> Response:
    token = request.args.get("token")
    return _serve(lambda: feed_for_token(ME, "", token), "me.ics", private=True)


@bp.get("/org/<int:org_id>.ics")
def org_feed(org_id: int) -> Response:
    token, arguments = request.args.get("token"), request.args.to_dict(flat=False)
    return _serve(lambda: feed_for_token(ORG, str(org_id), token, arguments), f"org-{org_id}.ics", private=True)


@bp.get("/region/<code>.ics")
def region_feed(code: str) -> Response:
    token, arguments = request.args.get("token"), request.args.to_dict(flat=False)
    return _serve(lambda: feed_for_token(REGION, code, token, arguments), f"region-{code}.ics", private=True)


def _page_choice() -> tuple[str, FeedFilter] | None:
    """The feed and filter the subscribe page's form asked for, if any (a bad one is a 400)."""
    kind = request.args.get("feed", "")
    if kind not in FILTERED_KINDS:
        return None
    try:
        return kind, chosen_filter(kind, request.args.to_dict(flat=False))
    except BadFilter:
        abort(400)


@bp.get("/subscribe")
@login_required
def subscribe() -> ResponseReturnValue:
    choice = _page_choice()
    selections = {kind: default_filter(kind) for kind in FILTERED_KINDS}
    preview = None
    if choice is not None and choice[0] in feed_targets(current_user):
        selections[choice[0]] = choice[1]
        preview = feed_preview(current_user, *choice, request.url_root)
    return render_template(
        "calendars/subscribe.html",
        links=feed_links(current_user, request.url_root, selections),
        selections=selections,
        preview=preview,
        alarms_form=FeedAlarmsForm(alarms=current_user.feed_alarms),
        rotate_form=RotateLinksForm(),
        timezone=current_app.config["TIMEZONE"],
        filter_values={"form": DrillForm, "scope": DrillScope, "kind": OrgKind},
    )


@bp.get("/subscribe/preview")
@login_required
def subscribe_preview() -> ResponseReturnValue:
    """The link, event count and size of a filtered feed, for the subscribe page's script."""
    choice = _page_choice()
    if choice is None:
        abort(400)
    try:
        return jsonify(feed_preview(current_user, *choice, request.url_root).as_json())
    except ServiceError as error:
        return jsonify({"detail": error.detail}), error.status


@bp.post("/subscribe/alarms")
@login_required
def set_alarms() -> ResponseReturnValue:
    form = FeedAlarmsForm()
    if form.validate_on_submit():
        set_feed_alarms(current_user, form.alarms.data)
        flash(
            _("Reminders are now in your feeds.") if form.alarms.data else _("Your feeds no longer carry reminders."),
            "success",
        )
    else:
        flash(_("The form has expired; please try again."), "danger")
    return redirect(url_for("calendars.subscribe"))


@bp.post("/subscribe/rotate")
@login_required
def rotate() -> ResponseReturnValue:
    form = RotateLinksForm()
    if form.validate_on_submit():
        rotate_links(current_user)
        flash(_("New links made. The old links no longer work: subscribe again with the new ones."), "success")
    else:
        flash(_("The form has expired; please try again."), "danger")
    return redirect(url_for("calendars.subscribe"))
