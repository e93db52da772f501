"""API: the caller's signed calendar feed links, and replacing them."""
from flask import Response, jsonify, request

from drillmgr.api.core import bp, current_api_user, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.calendars.links import feed_links, rotate_links

_LINK = {"type": "object", "properties": {"url": {"type": "string", "format": "uri"},
                                          "webcal": {"type": "string"}}, "required": ["url", "webcal"]}
register_schema("FeedLinks", {
    "type": "object",
    "description": "Calendar feed links (RFC 5545). `url` is the http(s) link to copy, `webcal` the one-click form. "
                   "`org` is there for users of an organisation, `region` for coordinators, viewers and admins. "
                   "Links start with the server's configured address, else with the address this request came to.",
    "properties": {"public": _LINK, "me": _LINK, "org": _LINK, "region": _LINK},
    "required": ["public", "me"],
})


@bp.get("/me/feeds")
@token_required
@describe("The caller's signed calendar feed links", response="FeedLinks")
def my_feeds() -> Response:
    return jsonify(feed_links(current_api_user(), request.url_root))


@bp.post("/me/feeds/rotate")
@token_required
@describe("Replace the caller's feed links; every old link stops working", response="FeedLinks")
def rotate_my_feeds() -> Response:
    return jsonify(rotate_links(current_api_user(), request.url_root))
