"""A unit's groups (班级/年级/病区/楼层) with their expected headcounts, over the JSON API."""

from flask import jsonify

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.orgs import services as orgs
from drillmgr.orgs.schemas import OrgGroupsSchema

register_schema("OrgGroups", OrgGroupsSchema, output=True)
register_schema("OrgGroupsInput", OrgGroupsSchema, output=False)


@bp.get("/orgs/<int:org_id>/groups")
@describe("A unit's groups and their expected headcounts", response="OrgGroups")
@token_required
def get_org_groups(org_id: int):
    return jsonify(OrgGroupsSchema().dump(access.get_visible_org(current_api_user(), org_id)))


@bp.put("/orgs/<int:org_id>/groups")
@describe("Replace a unit's groups", request="OrgGroupsInput", response="OrgGroups")
@token_required
def put_org_groups(org_id: int):
    actor = current_api_user()
    org = access.get_visible_org(actor, org_id)
    body = json_body()
    # The groups are read by set_groups, whose errors name each group from 1 ("Group 2, name: …").
    version = OrgGroupsSchema(only=("version",)).load(body).get("version")
    orgs.set_groups(actor, org, body.get("groups"), version)
    return jsonify(OrgGroupsSchema().dump(org))
