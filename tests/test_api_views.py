"""The JSON API of the foundation: tokens, /me, users, regions, organisations, OpenAPI, problem+json."""

import pytest
import sqlalchemy as sa

from drillmgr.accounts.models import ApiToken, User
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from tests.conftest import PASSWORD, SHAWAN, WUSU, assert_problem, token_for


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="api-admin")


@pytest.fixture
def auth(client, admin):
    return token_for(client, admin)


# --- authentication --------------------------------------------------------------------------


def test_token_then_me(client, make_user, make_org):
    org = make_org(region_code=WUSU)
    user = make_user(Role.ORG_STAFF, org=org, username="Staffer")
    response = client.post("/api/v1/auth/token", json={"username": "staffer", "password": PASSWORD})
    assert response.status_code == 200
    token = response.get_json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json() == {
        "id": user.id,
        "username": "Staffer",
        "role": "org_staff",
        "region_code": None,
        "org_id": org.id,
    }
    stored = db.session.scalars(sa.select(ApiToken.token_hash).where(ApiToken.user_id == user.id)).all()
    assert stored and token not in stored, "only a hash of the token is stored"


def test_wrong_password_is_401_in_chinese_by_default(client, admin):
    body = assert_problem(client.post("/api/v1/auth/token", json={"username": admin.username, "password": "nope"}), 401)
    assert body["detail"] == "用户名或密码错误。"


def test_wrong_password_in_english(client, admin):
    response = client.post(
        "/api/v1/auth/token",
        json={"username": admin.username, "password": "nope"},
        headers={"Accept-Language": "en-US,en;q=0.8"},
    )
    assert assert_problem(response, 401)["detail"] == "Wrong username or password."


def test_inactive_user_gets_no_token(client, make_user):
    user = make_user(Role.ADMIN, active=False)
    assert_problem(client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}), 401)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
def test_missing_or_bad_token_is_401(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_changing_the_password_revokes_tokens(client, admin, make_user):
    target = make_user(Role.VIEWER, region_code=WUSU)
    old = token_for(client, target)
    response = client.patch(
        f"/api/v1/users/{target.id}",
        json={"password": "a-brand-new-one", "version": 1},
        headers=token_for(client, admin),
    )
    assert response.status_code == 200
    assert_problem(client.get("/api/v1/me", headers=old), 401)
    assert (
        client.post("/api/v1/auth/token", json={"username": target.username, "password": "a-brand-new-one"}).status_code
        == 200
    )


def test_token_endpoint_is_rate_limited(client, admin):
    statuses = [
        client.post("/api/v1/auth/token", json={"username": admin.username, "password": "x"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert_problem(client.post("/api/v1/auth/token", json={"username": admin.username, "password": PASSWORD}), 429)


# --- bad input -------------------------------------------------------------------------------


def test_malformed_json_is_400(client, auth):
    response = client.post("/api/v1/orgs", data='{"name": "x",', content_type="application/json", headers=auth)
    assert assert_problem(response, 400)["detail"] == "请求体不是有效的 JSON。"


def test_body_that_is_not_json_is_400(client, auth):
    assert_problem(client.post("/api/v1/orgs", data="name=x", headers=auth), 400)


def test_json_that_is_not_an_object_is_422(client, auth):
    assert_problem(client.post("/api/v1/orgs", json=["x"], headers=auth), 422)


def test_invalid_fields_are_422_naming_each_field(client, auth):
    response = client.post(
        "/api/v1/orgs", headers=auth, json={"name": "", "kind": "castle", "region_code": "999999", "headcount": -5}
    )
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"name", "kind", "region_code", "headcount"}
    assert all(isinstance(m, list) and m and all(isinstance(x, str) for x in m) for m in body["errors"].values())
    assert "castle" in body["errors"]["kind"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0


def test_unknown_enum_value_in_english(client, auth):
    response = client.post(
        "/api/v1/users",
        headers={**auth, "Accept-Language": "en"},
        json={"username": "x1", "password": "long-enough-1", "role": "emperor"},
    )
    body = assert_problem(response, 422)
    assert body["detail"] == "The input is not valid."
    assert body["errors"]["role"] == ["Unknown value 'emperor'; allowed: admin, coordinator, org_staff, viewer."]


def test_oversized_field_is_422(client, auth):
    response = client.post(
        "/api/v1/orgs", headers=auth, json={"name": "长" * 201, "kind": "school", "region_code": WUSU}
    )
    body = assert_problem(response, 422)
    assert body["errors"] == {"name": ["不能超过 200 个字符。"]}


def test_oversized_body_is_413(app, client, auth):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/api/v1/orgs", data=b"{" + b" " * limit + b"}", content_type="application/json", headers=auth
    )
    assert_problem(response, 413)


def test_wrong_types_are_422(client, auth):
    response = client.post(
        "/api/v1/orgs", headers=auth, json={"name": 5, "kind": "school", "region_code": WUSU, "headcount": "many"}
    )
    assert set(assert_problem(response, 422)["errors"]) == {"name", "headcount"}


def test_bad_page_arguments_are_400(client, auth):
    assert "page" in assert_problem(client.get("/api/v1/orgs?page=0", headers=auth), 400)["errors"]
    assert "per_page" in assert_problem(client.get("/api/v1/users?per_page=x", headers=auth), 400)["errors"]


def test_unknown_kind_filter_is_422(client, auth):
    assert "kind" in assert_problem(client.get("/api/v1/orgs?kind=castle", headers=auth), 422)["errors"]


def test_unknown_url_and_method_are_problems(client, auth):
    assert_problem(client.get("/api/v1/nothing-here", headers=auth), 404)
    assert_problem(client.delete("/api/v1/me", headers=auth), 405)
    assert_problem(client.get("/api/v1/orgs/999999", headers=auth), 404)


# --- users -----------------------------------------------------------------------------------


def test_create_user_returns_201_with_location(client, auth, make_org):
    org = make_org(region_code=SHAWAN)
    response = client.post(
        "/api/v1/users",
        headers=auth,
        json={
            "username": "shawan-staff",
            "password": "long-enough-1",
            "role": "org_staff",
            "org_id": org.id,
            "email": "staff@example.cn",
            "display_name": "张老师",
        },
    )
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/users/{body['id']}")
    assert body == {
        "id": body["id"],
        "username": "shawan-staff",
        "display_name": "张老师",
        "email": "staff@example.cn",
        "role": "org_staff",
        "region_code": None,
        "org_id": org.id,
        "active": True,
        "version": 1,
    }
    user = db.session.get(User, body["id"])
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:")) and "long-enough-1" not in user.password_hash


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"username": "a", "password": "short", "role": "viewer", "region_code": WUSU}, "password"),
        ({"username": "a", "password": "long-enough-1", "role": "viewer"}, "region_code"),
        ({"username": "a", "password": "long-enough-1", "role": "coordinator", "region_code": "000000"}, "region_code"),
        ({"username": "a", "password": "long-enough-1", "role": "org_staff"}, "org_id"),
        ({"username": "a", "password": "long-enough-1", "role": "org_staff", "org_id": 999999}, "org_id"),
        ({"password": "long-enough-1", "role": "admin"}, "username"),
        ({"username": "a", "password": "long-enough-1", "role": "admin", "email": "not-an-address"}, "email"),
        ({"username": "a", "password": "long-enough-1", "role": "admin", "locale": "fr"}, "locale"),
        ({"username": "a" * 65, "password": "long-enough-1", "role": "admin"}, "username"),
    ],
)
def test_invalid_user_input(client, auth, payload, field):
    count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    body = assert_problem(client.post("/api/v1/users", headers=auth, json=payload), 422)
    assert field in body["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == count


def test_duplicate_username_is_case_insensitive(client, auth, admin):
    response = client.post(
        "/api/v1/users",
        headers=auth,
        json={"username": admin.username.upper(), "password": "long-enough-1", "role": "admin"},
    )
    assert "username" in assert_problem(response, 422)["errors"]


def test_users_are_paginated_with_total(client, auth, make_user):
    for n in range(5):
        make_user(Role.VIEWER, region_code=WUSU, username=f"page-user-{n}")
    first = client.get("/api/v1/users?per_page=2", headers=auth).get_json()
    third = client.get("/api/v1/users?per_page=2&page=3", headers=auth).get_json()
    assert first["total"] == 6 and first["page"] == 1 and first["per_page"] == 2 and len(first["items"]) == 2
    assert len(third["items"]) == 2
    beyond = client.get("/api/v1/users?per_page=2&page=9", headers=auth).get_json()
    assert beyond["items"] == [] and beyond["total"] == 6


def test_patch_user_changes_only_what_is_sent(client, auth, make_user, make_org):
    org = make_org(region_code=WUSU)
    target = make_user(Role.VIEWER, region_code=WUSU, display_name="旧名", email="old@example.cn")
    response = client.patch(
        f"/api/v1/users/{target.id}", headers=auth, json={"role": "org_staff", "org_id": org.id, "version": 1}
    )
    body = response.get_json()
    assert response.status_code == 200
    assert (body["role"], body["org_id"], body["region_code"], body["display_name"], body["email"]) == (
        "org_staff",
        org.id,
        None,
        "旧名",
        "old@example.cn",
    )


# --- regions and organisations -----------------------------------------------------------------


def test_regions_tree(client, auth):
    items = {r["code"]: r for r in client.get("/api/v1/regions", headers=auth).get_json()["items"]}
    assert items["654200"] == {
        "code": "654200",
        "name": "塔城地区",
        "level": "prefecture",
        "parent_code": None,
        "key_county": False,
    }
    assert items[WUSU]["key_county"] and items[SHAWAN]["key_county"] and not items["654201"]["key_county"]
    assert {c for c, r in items.items() if r["parent_code"] == "654200"} == {
        "654201",
        "654202",
        "654203",
        "654221",
        "654224",
        "654225",
        "654226",
    }


def test_org_create_get_list_and_filter(client, auth):
    created = client.post(
        "/api/v1/orgs",
        headers=auth,
        json={"name": "乌苏市第三小学", "kind": "school", "region_code": WUSU, "headcount": 800},
    )
    assert created.status_code == 201
    org = created.get_json()
    assert created.headers["Location"].endswith(f"/api/v1/orgs/{org['id']}")
    assert {k: org[k] for k in ("name", "kind", "region_code", "headcount", "version")} == {
        "name": "乌苏市第三小学",
        "kind": "school",
        "region_code": WUSU,
        "headcount": 800,
        "version": 1,
    }
    assert org["evacuation_target_seconds"] == 120
    client.post(
        "/api/v1/orgs", headers=auth, json={"name": "沙湾市人民医院", "kind": "hospital", "region_code": SHAWAN}
    )
    assert client.get(f"/api/v1/orgs/{org['id']}", headers=auth).get_json() == org
    listing = client.get(f"/api/v1/orgs?region={WUSU}", headers=auth).get_json()
    assert [o["name"] for o in listing["items"]] == ["乌苏市第三小学"] and listing["total"] == 1
    assert client.get("/api/v1/orgs?kind=hospital", headers=auth).get_json()["total"] == 1
    assert client.get("/api/v1/orgs?q=第三", headers=auth).get_json()["total"] == 1


def test_duplicate_org_name_in_region_is_422(client, auth, make_org):
    make_org(name="重名单位", region_code=WUSU)
    response = client.post(
        "/api/v1/orgs", headers=auth, json={"name": "重名单位", "kind": "venue", "region_code": WUSU}
    )
    assert "name" in assert_problem(response, 422)["errors"]


def test_stale_org_version_is_409_and_changes_nothing(client, auth, make_org):
    org = make_org(region_code=WUSU, headcount=100)
    first = client.patch(f"/api/v1/orgs/{org.id}", headers=auth, json={"headcount": 200, "version": 1})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    stale = client.patch(f"/api/v1/orgs/{org.id}", headers=auth, json={"headcount": 300, "version": 1})
    assert_problem(stale, 409)
    db.session.expire_all()
    assert (org.headcount, org.version) == (200, 2)


def test_org_changes_are_audited(client, auth, admin, make_org):
    from drillmgr.audit.services import entries_for

    org = make_org(region_code=WUSU, headcount=100)
    client.patch(f"/api/v1/orgs/{org.id}", headers=auth, json={"headcount": 150, "version": 1})
    (entry,) = entries_for("organisation", org.id)
    assert (entry.user_id, entry.action, entry.before["headcount"], entry.after["headcount"]) == (
        admin.id,
        "org.update",
        100,
        150,
    )


# --- OpenAPI ---------------------------------------------------------------------------------


def test_openapi_describes_every_api_rule(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = rule.rule.removeprefix("/api/v1")
        for arg in rule.arguments:
            path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if method.lower() not in document["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, missing
    for path, operations in document["paths"].items():
        for _method, operation in operations.items():
            for ref in _refs(operation):
                assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"], (path, ref)


def test_openapi_documents_the_foundation_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths["/auth/token"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenRequest"
    }
    assert "security" not in paths["/auth/token"]["post"]
    assert paths["/users"]["post"]["responses"].keys() >= {"201", "401", "403", "422"}
    assert paths["/orgs/{org_id}"]["patch"]["responses"].keys() >= {"200", "409"}
    assert {p["name"] for p in paths["/orgs"]["get"]["parameters"]} >= {"page", "per_page", "region", "kind"}
    for path in ("/me", "/users", "/users/{user_id}", "/regions", "/orgs", "/orgs/{org_id}"):
        for operation in paths[path].values():
            assert operation["summary"] and not operation["summary"].startswith(("wrapper", "decorated"))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_unexpected_error_is_a_500_problem(app, client, auth, monkeypatch):
    from drillmgr.regions import services as regions

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("drillmgr.regions.api.all_regions", broken)
    body = assert_problem(client.get("/api/v1/regions", headers=auth), 500)
    assert "boom" not in body["detail"], "internals stay in the log"
    assert regions.all_regions  # the real function is untouched


def test_chinese_is_sent_as_utf8_not_escaped(client, auth):
    raw = client.get("/api/v1/regions", headers=auth).get_data()
    assert "塔城地区".encode() in raw and b"\\u" not in raw


def test_answers_vary_on_accept_language(client, auth):
    assert "Accept-Language" in client.get("/api/v1/me", headers=auth).headers["Vary"]
    assert "Accept-Language" in client.get("/api/v1/orgs?page=0", headers=auth).headers["Vary"]
