"""Organisations over the JSON API (/api/v1)."""

from flask import jsonify, request, url_for

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import describe, query_params, register_schema
from drillmgr.extensions import db
from drillmgr.orgs import services as orgs
from drillmgr.orgs.schemas import OrganisationSchema, OrgFiltersSchema

register_schema("Organisation", OrganisationSchema, output=True)
register_schema("OrganisationInput", OrganisationSchema, output=False)


# `q` is taken as sent (not stripped), as the web list does.
ORG_FILTERS = [
    *query_params(OrgFiltersSchema),
    {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "name contains"},
]


@bp.get("/orgs")
@describe("Organisations in the caller's scope", response="Organisation", paginated=True, params=ORG_FILTERS)
@token_required
def list_orgs():
    page, per_page = page_args()
    filters = OrgFiltersSchema().load(request.args.to_dict(), partial=True)
    query = orgs.org_query(
        current_api_user(), region=filters.get("region"), kind=filters.get("kind"), q=request.args.get("q")
    )
    return jsonify(
        paginated(db.paginate(query, page=page, per_page=per_page, error_out=False), OrganisationSchema().dump)
    )


@bp.post("/orgs")
@describe("Create an organisation", request="OrganisationInput", response="Organisation", created=True)
@token_required
def create_org():
    org = orgs.create_org(current_api_user(), json_body())
    return jsonify(OrganisationSchema().dump(org)), 201, {"Location": url_for("api.get_org", org_id=org.id)}


@bp.get("/orgs/<int:org_id>")
@describe("One organisation", response="Organisation")
@token_required
def get_org(org_id: int):
    return jsonify(OrganisationSchema().dump(access.get_visible_org(current_api_user(), org_id)))


@bp.patch("/orgs/<int:org_id>")
@describe("Change an organisation (send its version)", request="OrganisationInput", response="Organisation")
@token_required
def update_org(org_id: int):
    actor = current_api_user()
    org = access.get_visible_org(actor, org_id)
    return jsonify(OrganisationSchema().dump(orgs.update_org(actor, org, json_body())))
