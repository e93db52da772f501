"""Helpers shared by every feature's web views."""

from flask import abort, render_template, request

from drillmgr.errors import ServiceError


def or_404(fetch, *args):
    """`fetch(*args)` — a get_visible_… lookup — or the 404 page when the thing is missing or out of sight.

    Out of sight answers 404, not 403, so that a page never confirms what a user may not see."""
    try:
        return fetch(*args)
    except ServiceError:
        abort(404)


def same_origin_post() -> bool:
    """The browser says the request was sent from one of our own pages (Origin, else Referer)."""
    own = request.host_url.rstrip("/")
    origin = request.headers.get("Origin")
    if origin:
        return origin == own
    return (request.referrer or "").startswith(own + "/")


def expired_form_again():
    """A web form whose CSRF token no longer holds, shown again with what was typed under a fresh token; None
    for anything but a post from our own pages (a forged cross-site post gets the plain error page)."""
    if request.method != "POST" or not same_origin_post():
        return None
    fields = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name != "csrf_token" and not name.endswith("-csrf_token")
    ]
    return render_template(
        "errors/form_expired.html",
        fields=fields,
        action=request.path,
        lost_files=[f.filename for f in request.files.values() if f.filename],
        back=request.referrer,
    ), 400


def page_arg() -> int:
    """The `page` query argument of a list page; one beyond any page (its offset would overflow) is a 404."""
    from drillmgr.extensions import MAX_PAGE

    page = request.args.get("page", 1, type=int)
    if page > MAX_PAGE:
        abort(404)
    return max(page, 1)
