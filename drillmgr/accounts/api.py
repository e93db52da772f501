"""Tokens, the caller and users over the JSON API (/api/v1)."""

from flask import jsonify, url_for
from flask_babel import gettext as _

from drillmgr.accounts import services as accounts
from drillmgr.accounts.schemas import ME_FIELDS, TokenRequestSchema, TokenSchema, UserSchema
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, problem, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.errors import status_title
from drillmgr.extensions import login_limit_by_address, login_limit_by_username

register_schema("TokenRequest", TokenRequestSchema, output=False)
register_schema("Token", TokenSchema, output=True)
register_schema("User", UserSchema, output=True)
register_schema("UserInput", UserSchema, output=False)
register_schema("Me", UserSchema(only=ME_FIELDS), output=True)


@bp.post("/auth/token")
@describe(
    "Exchange username and password for a bearer token",
    request="TokenRequest",
    response="Token",
    public=True,
    errors={
        401: "Wrong username or password, or the account is inactive",
        429: "Too many attempts from this address (LOGIN_RATE_LIMIT); see Retry-After",
    },
)
@login_limit_by_address
@login_limit_by_username
def issue_token():
    credentials = TokenRequestSchema().load(json_body())
    user = accounts.authenticate(credentials["username"], credentials["password"])
    if user is None:
        return problem(401, status_title(401), _("Wrong username or password."))
    return jsonify(TokenSchema().dump({"token": accounts.issue_token(user)}))


@bp.get("/me")
@describe("The caller", response="Me")
@token_required
def me():
    return jsonify(UserSchema(only=ME_FIELDS).dump(current_api_user()))


@bp.get("/users")
@describe("Users the caller may see", response="User", paginated=True)
@token_required
def list_users():
    page, per_page = page_args()
    return jsonify(paginated(accounts.list_users(current_api_user(), page, per_page), UserSchema().dump))


@bp.post("/users")
@describe("Create a user", request="UserInput", response="User", created=True)
@token_required
def create_user():
    user = accounts.create_user(current_api_user(), json_body())
    return jsonify(UserSchema().dump(user)), 201, {"Location": url_for("api.get_user", user_id=user.id)}


@bp.get("/users/<int:user_id>")
@describe("One user", response="User")
@token_required
def get_user(user_id: int):
    return jsonify(UserSchema().dump(accounts.get_visible_user(current_api_user(), user_id)))


@bp.patch("/users/<int:user_id>")
@describe("Change a user", request="UserInput", response="User")
@token_required
def update_user(user_id: int):
    actor = current_api_user()
    target = accounts.get_visible_user(actor, user_id)
    return jsonify(UserSchema().dump(accounts.update_user(actor, target, json_body())))


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
