"""Helpers shared by every feature's web views."""
from flask import abort

from drillmgr.errors import ServiceError


def or_404(fetch, *args):
    """`fetch(*args)` — a get_visible_… lookup — or the 404 page when the thing is missing or out of sight.

    Out of sight answers 404, not 403, so that a page never confirms what a user may not see."""
    try:
        return fetch(*args)
    except ServiceError:
        abort(404)


def page_arg() -> int:
    """The `page` query argument of a list page; one beyond any page (its offset would overflow) is a 404."""
    from flask import request

    from drillmgr.extensions import MAX_PAGE

    page = request.args.get("page", 1, type=int)
    if page > MAX_PAGE:
        abort(404)
    return max(page, 1)
