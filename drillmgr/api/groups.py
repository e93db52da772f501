"""A unit's groups (班级/年级/病区/楼层) with their expected headcounts, over the JSON API."""
from flask import jsonify

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.orgs import services as orgs
from drillmgr.validation import Payload

_GROUP = {"type": "object", "required": ["name", "expected"], "properties": {
    "name": {"type": "string", "maxLength": 100, "description": "unique within the unit"},
    "expected": {"type": "integer", "minimum": 0, "maximum": orgs.MAX_HEADCOUNT,
                 "description": "the expected headcount"}}}
register_schema("OrgGroups", {"type": "object", "properties": {
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "expected": {"type": "integer"}}}},
    "version": {"type": "integer", "description": "the unit's version; send it back with a change"}}})
register_schema("OrgGroupsInput", {
    "type": "object", "required": ["groups"],
    "description": "Replaces all the unit's groups, or none when any is invalid (errors name the group from 1). "
                   "A group keeps its id while its name stays.",
    "properties": {"groups": {"type": "array", "maxItems": orgs.MAX_GROUPS, "items": _GROUP},
                   "version": {"type": "integer", "minimum": 1,
                               "description": "the unit's version read; a stale one answers 409"}}})


def _answer(org):
    return jsonify({"items": [orgs.group_to_dict(g) for g in org.groups], "version": org.version})


@bp.get("/orgs/<int:org_id>/groups")
@describe("A unit's groups and their expected headcounts", response="OrgGroups")
@token_required
def get_org_groups(org_id: int):
    return _answer(access.get_visible_org(current_api_user(), org_id))


@bp.put("/orgs/<int:org_id>/groups")
@describe("Replace a unit's groups", request="OrgGroupsInput", response="OrgGroups")
@token_required
def put_org_groups(org_id: int):
    actor = current_api_user()
    org = access.get_visible_org(actor, org_id)
    p = Payload(json_body())
    version = p.version()
    p.check()
    orgs.set_groups(actor, org, p.data.get("groups"), version)
    return _answer(org)
