"""The JSON API (/api/v1). Handlers are thin: they read the request and call services."""
from flask import jsonify, url_for

from drillmgr.access import services as access
from drillmgr.accounts import services as accounts
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, problem, token_required
from drillmgr.api.openapi import REGION_CODE_LENGTH, describe, openapi_document, register_schema
from drillmgr.errors import status_title
from drillmgr.extensions import db, login_limit_by_address, login_limit_by_username
from drillmgr.orgs import services as orgs
from drillmgr.regions.services import all_regions, region_to_dict
from drillmgr.validation import Payload

__all__ = ["bp"]

ROLE_VALUES = ["admin", "coordinator", "org_staff", "viewer"]
ORG_KIND_VALUES = ["school", "kindergarten", "hospital", "township", "village", "agency", "enterprise", "venue",
                   "rescue_team"]
register_schema("TokenRequest", {
    "type": "object", "required": ["username", "password"],
    "properties": {"username": {"type": "string", "maxLength": 64}, "password": {"type": "string", "maxLength": 200}},
})
register_schema("Token", {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]})
register_schema("Me", {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "role": {"enum": ROLE_VALUES},
                   "region_code": {"type": ["string", "null"]}, "org_id": {"type": ["integer", "null"]}},
})
register_schema("User", {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "display_name": {"type": "string"},
                   "email": {"type": ["string", "null"]}, "role": {"enum": ROLE_VALUES},
                   "region_code": {"type": ["string", "null"], "description": "coordinators and viewers"},
                   "org_id": {"type": ["integer", "null"], "description": "unit staff"},
                   "active": {"type": "boolean"}},
})
register_schema("UserInput", {
    "type": "object", "required": ["username", "password", "role"],
    "description": "Never more power than the caller's own; coordinators act inside their region. "
                   "PATCH takes any subset; a new password or deactivation ends the user's sessions and revokes "
                   "their API tokens. Passwords are taken as typed (spaces included) and must not be easy to "
                   "guess; usernames are 2-64 letters a-z, digits and . _ -.",
    "properties": {"username": {"type": "string", "minLength": 2, "maxLength": 64,
                                "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"},
                   "password": {"type": "string", "minLength": 8, "maxLength": 200},
                   "role": {"enum": ROLE_VALUES}, "region_code": {"type": "string"},
                   "org_id": {"type": "integer"}, "display_name": {"type": "string", "maxLength": 100},
                   "email": {"type": "string", "maxLength": 200}, "active": {"type": "boolean"},
                   "locale": {"enum": ["zh_CN", "en"]}},
})
register_schema("Region", {
    "type": "object",
    "properties": {"code": {"type": "string", "description": "national division code"}, "name": {"type": "string"},
                   "level": {"enum": ["prefecture", "county", "township", "village"]},
                   "parent_code": {"type": ["string", "null"]}, "key_county": {"type": "boolean"}},
})
register_schema("RegionList", {"type": "object",
                               "properties": {"items": {"type": "array",
                                                        "items": {"$ref": "#/components/schemas/Region"}}}})
register_schema("Organisation", {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "kind": {"enum": ORG_KIND_VALUES},
                   "region_code": {"type": "string"}, "headcount": {"type": "integer", "minimum": 0},
                   "evacuation_target_seconds": {"type": ["integer", "null"]}, "address": {"type": "string"},
                   "contact": {"type": "string"}, "is_demo": {"type": "boolean"},
                   "version": {"type": "integer", "description": "send it back with PATCH; a stale one answers 409"}},
})
register_schema("OrganisationInput", {
    "type": "object", "required": ["name", "kind", "region_code"],
    "properties": {"name": {"type": "string", "maxLength": 200}, "kind": {"enum": ORG_KIND_VALUES},
                   "region_code": {"type": "string"}, "headcount": {"type": "integer", "minimum": 0},
                   "evacuation_target_seconds": {"type": "integer", "minimum": 10, "maximum": 3600},
                   "address": {"type": "string", "maxLength": 300}, "contact": {"type": "string", "maxLength": 100},
                   "version": {"type": "integer", "minimum": 1}},
})
ORG_FILTERS = [
    {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "region code (its subtree)"},
    {"name": "kind", "in": "query", "schema": {"enum": ORG_KIND_VALUES}},
    {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "name contains"},
]


@bp.post("/auth/token")
@describe("Exchange username and password for a bearer token", request="TokenRequest", response="Token",
          public=True, errors={401: "Wrong username or password, or the account is inactive",
                               429: "Too many attempts from this address (LOGIN_RATE_LIMIT); see Retry-After"})
@login_limit_by_address
@login_limit_by_username
def issue_token():
    from flask_babel import gettext as _

    p = Payload(json_body())
    username = p.string("username", required=True, max_length=64)
    password = accounts.read_password(p, "password", required=True)
    p.check()
    user = accounts.authenticate(username, password)
    if user is None:
        return problem(401, status_title(401), _("Wrong username or password."))
    return jsonify({"token": accounts.issue_token(user)})


@bp.get("/me")
@describe("The caller", response="Me")
@token_required
def me():
    user = current_api_user()
    return jsonify({"id": user.id, "username": user.username, "role": user.role.value,
                    "region_code": user.region_code, "org_id": user.org_id})


@bp.get("/users")
@describe("Users the caller may see", response="User", paginated=True)
@token_required
def list_users():
    page, per_page = page_args()
    return jsonify(paginated(accounts.list_users(current_api_user(), page, per_page), accounts.user_to_dict))


@bp.post("/users")
@describe("Create a user", request="UserInput", response="User", created=True)
@token_required
def create_user():
    user = accounts.create_user(current_api_user(), json_body())
    return jsonify(accounts.user_to_dict(user)), 201, {"Location": url_for("api.get_user", user_id=user.id)}


@bp.get("/users/<int:user_id>")
@describe("One user", response="User")
@token_required
def get_user(user_id: int):
    return jsonify(accounts.user_to_dict(accounts.get_visible_user(current_api_user(), user_id)))


@bp.patch("/users/<int:user_id>")
@describe("Change a user", request="UserInput", response="User")
@token_required
def update_user(user_id: int):
    actor = current_api_user()
    target = accounts.get_visible_user(actor, user_id)
    return jsonify(accounts.user_to_dict(accounts.update_user(actor, target, json_body())))


@bp.post("/me/logout-everywhere")
@describe("End every web session and API token of the caller, this token included", no_content=True)
@token_required
def logout_everywhere_me():
    user = current_api_user()
    accounts.logout_everywhere(user, user)
    return "", 204


@bp.post("/users/<int:user_id>/logout-everywhere")
@describe("End every web session and API token of a user the caller manages", no_content=True)
@token_required
def logout_everywhere(user_id: int):
    actor = current_api_user()
    accounts.logout_everywhere(actor, accounts.get_visible_user(actor, user_id))
    return "", 204


@bp.get("/regions")
@describe("The region tree", response="RegionList")
@token_required
def list_regions():
    return jsonify({"items": [region_to_dict(r) for r in all_regions()]})


@bp.get("/orgs")
@describe("Organisations in the caller's scope", response="Organisation", paginated=True, params=ORG_FILTERS)
@token_required
def list_orgs():
    from flask import request

    page, per_page = page_args()
    filters = Payload(request.args.to_dict(), partial=True)
    region = filters.string("region", max_length=REGION_CODE_LENGTH, default=None)
    filters.check()
    query = orgs.org_query(current_api_user(), region=region, kind=request.args.get("kind"), q=request.args.get("q"))
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False), orgs.org_to_dict))


@bp.post("/orgs")
@describe("Create an organisation", request="OrganisationInput", response="Organisation", created=True)
@token_required
def create_org():
    org = orgs.create_org(current_api_user(), json_body())
    return jsonify(orgs.org_to_dict(org)), 201, {"Location": url_for("api.get_org", org_id=org.id)}


@bp.get("/orgs/<int:org_id>")
@describe("One organisation", response="Organisation")
@token_required
def get_org(org_id: int):
    return jsonify(orgs.org_to_dict(access.get_visible_org(current_api_user(), org_id)))


@bp.patch("/orgs/<int:org_id>")
@describe("Change an organisation (send its version)", request="OrganisationInput", response="Organisation")
@token_required
def update_org(org_id: int):
    actor = current_api_user()
    org = access.get_visible_org(actor, org_id)
    return jsonify(orgs.org_to_dict(orgs.update_org(actor, org, json_body())))


@bp.get("/openapi.json")
@describe("This document", public=True)
def openapi():
    return jsonify(openapi_document())

from drillmgr.api import calendars  # noqa: E402,F401 — registers the feed-link routes
from drillmgr.drills import api as drills_api  # noqa: E402,F401 — drills
from drillmgr.drills import api_series  # noqa: E402,F401 — recurring drills, plans for many units, calendar days
from drillmgr.api import attachments  # noqa: E402,F401 — a drill's files
from drillmgr.api import findings  # noqa: E402,F401 — reviews, filing, findings and corrective actions
from drillmgr.api import outreach  # noqa: E402,F401 — public education, demonstration sites, checklist runs
from drillmgr.api import compliance  # noqa: E402,F401 — compliance and the half-year report
from drillmgr.api import submissions  # noqa: E402,F401 — half-year report submissions
from drillmgr.api import reminders  # noqa: E402,F401 — coordinators' reminders to units
from drillmgr.api import groups  # noqa: E402,F401 — units' groups
from drillmgr.api import exercises  # noqa: E402,F401 — objectives, MSEL, live session, evaluation, feedback
