"""API: the caller's signed calendar feed links, and replacing them."""

from flask import Response, jsonify, request

from drillmgr.api.core import bp, current_api_user, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.calendars.links import feed_links, rotate_links
from drillmgr.calendars.schemas import FeedLinksSchema

register_schema("FeedLinks", FeedLinksSchema, output=True)


@bp.get("/me/feeds")
@token_required
@describe("The caller's signed calendar feed links", response="FeedLinks")
def my_feeds() -> Response:
    return jsonify(FeedLinksSchema().dump(feed_links(current_api_user(), request.url_root)))


@bp.post("/me/feeds/rotate")
@token_required
@describe("Replace the caller's feed links; every old link stops working", response="FeedLinks")
def rotate_my_feeds() -> Response:
    return jsonify(FeedLinksSchema().dump(rotate_links(current_api_user(), request.url_root)))
