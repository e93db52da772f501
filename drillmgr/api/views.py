"""The JSON API (/api/v1). Handlers are thin: they read the request and call services."""
from flask import jsonify, url_for

from drillmgr.access import services as access
from drillmgr.accounts import services as accounts
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, problem, token_required
from drillmgr.api.openapi import openapi_document
from drillmgr.extensions import db, limiter
from drillmgr.orgs import services as orgs
from drillmgr.regions.services import all_regions, region_to_dict
from drillmgr.validation import Payload

__all__ = ["bp"]


def _login_limit():
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.post("/auth/token")
@limiter.limit(_login_limit)
def issue_token():
    from flask_babel import gettext as _

    p = Payload(json_body())
    username = p.string("username", required=True, max_length=64)
    password = p.string("password", required=True, max_length=200)
    p.check()
    user = accounts.authenticate(username, password)
    if user is None:
        return problem(401, "Unauthorized", _("Wrong username or password."))
    return jsonify({"token": accounts.issue_token(user)})


@bp.get("/me")
@token_required
def me():
    user = current_api_user()
    return jsonify({"id": user.id, "username": user.username, "role": user.role.value,
                    "region_code": user.region_code, "org_id": user.org_id})


@bp.get("/users")
@token_required
def list_users():
    page, per_page = page_args()
    return jsonify(paginated(accounts.list_users(current_api_user(), page, per_page), accounts.user_to_dict))


@bp.post("/users")
@token_required
def create_user():
    user = accounts.create_user(current_api_user(), json_body())
    return jsonify(accounts.user_to_dict(user)), 201, {"Location": url_for("api.get_user", user_id=user.id)}


@bp.get("/users/<int:user_id>")
@token_required
def get_user(user_id: int):
    return jsonify(accounts.user_to_dict(accounts.get_visible_user(current_api_user(), user_id)))


@bp.patch("/users/<int:user_id>")
@token_required
def update_user(user_id: int):
    actor = current_api_user()
    target = accounts.get_visible_user(actor, user_id)
    return jsonify(accounts.user_to_dict(accounts.update_user(actor, target, json_body())))


@bp.get("/regions")
@token_required
def list_regions():
    return jsonify({"items": [region_to_dict(r) for r in all_regions()]})


@bp.get("/orgs")
@token_required
def list_orgs():
    from flask import request

    page, per_page = page_args()
    query = orgs.org_query(current_api_user(), region=request.args.get("region"), kind=request.args.get("kind"),
                           q=request.args.get("q"))
    return jsonify(paginated(db.paginate(query, page=page, per_page=per_page, error_out=False), orgs.org_to_dict))


@bp.post("/orgs")
@token_required
def create_org():
    org = orgs.create_org(current_api_user(), json_body())
    return jsonify(orgs.org_to_dict(org)), 201, {"Location": url_for("api.get_org", org_id=org.id)}


@bp.get("/orgs/<int:org_id>")
@token_required
def get_org(org_id: int):
    return jsonify(orgs.org_to_dict(access.get_visible_org(current_api_user(), org_id)))


@bp.patch("/orgs/<int:org_id>")
@token_required
def update_org(org_id: int):
    actor = current_api_user()
    org = access.get_visible_org(actor, org_id)
    return jsonify(orgs.org_to_dict(orgs.update_org(actor, org, json_body())))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())

from drillmgr.api import calendars  # noqa: E402,F401 — registers the feed-link routes
