"""The web side of the foundation: login, language, CSRF, rate limit, cookies, user and org management."""

import io

import pytest
import sqlalchemy as sa

from config import DevelopmentConfig, ProductionConfig
from drillmgr import create_app
from drillmgr.accounts.models import User
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from tests.conftest import PASSWORD, SHAWAN, WUSU, count_statements, login


def text(response) -> str:
    return response.get_data(as_text=True)


# --- logging in and out ----------------------------------------------------------------------


def test_login_page_is_chinese_by_default(client):
    page = text(client.get("/login"))
    assert '<html lang="zh-CN">' in page
    assert "塔城地区地震应急演练管理系统" in page and "用户名" in page and "密码" in page


def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_home_logout(client, make_user):
    user = make_user(Role.COORDINATOR, region_code=WUSU, display_name="王协调")
    response = login(client, user)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = text(client.get("/"))
    assert "乌苏市" in home and "县（市）协调员" in home and "王协调" in home and "退出登录" in home
    out = client.post("/logout", follow_redirects=True)
    assert "您已退出登录。" in text(out)
    assert client.get("/").status_code == 302


def test_login_follows_only_local_next(client, make_user):
    user = make_user(Role.ADMIN)
    response = client.post("/login?next=/orgs/", data={"username": user.username, "password": PASSWORD})
    assert response.headers["Location"] == "/orgs/"
    client.post("/logout")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"):
        client.post("/logout")
        response = client.post(
            "/login", query_string={"next": target}, data={"username": user.username, "password": PASSWORD}
        )
        assert response.headers["Location"] == "/", target
    response = client.post("/language", data={"lang": "en", "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


def test_wrong_password_message_keeps_the_username(client, make_user):
    make_user(Role.ADMIN, username="liu")
    response = client.post("/login", data={"username": "liu", "password": "wrong"})
    assert response.status_code == 200
    page = text(response)
    assert "用户名或密码错误。" in page and 'value="liu"' in page
    assert "_user_id" not in (client.get_cookie("session").value if client.get_cookie("session") else "")
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_log_in(client, make_user):
    user = make_user(Role.ADMIN, active=False)
    assert "用户名或密码错误。" in text(login(client, user))


def test_login_is_rate_limited(client, make_user):
    user = make_user(Role.ADMIN)
    for _ in range(5):
        assert client.post("/login", data={"username": user.username, "password": "wrong"}).status_code == 200
    refused = login(client, user)
    assert refused.status_code == 429 and "尝试次数过多" in text(refused)


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    response = login(client, make_user(Role.ADMIN))
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_security_headers(client):
    headers = client.get("/login").headers
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self';" in headers["Content-Security-Policy"]


def test_passwords_are_hashed(make_user):
    user = User(username="h", role=Role.ADMIN)
    user.set_password("plain-text-secret")
    # At the app's own work factor (the test users' stored hash is cheaper, see conftest.PASSWORD_HASH).
    assert user.password_hash.startswith("scrypt:32768:8:1$") and "plain-text-secret" not in user.password_hash
    assert user.check_password("plain-text-secret") and not user.check_password("plain-text-secreT")


def test_production_requires_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DRILLMGR_SECRET_KEY", raising=False)

    class NoKey(ProductionConfig):
        SECRET_KEY = None

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(NoKey)
    assert not getattr(ProductionConfig, "GENERATE_SECRET_KEY", False)


def test_production_cookies_are_secure_unless_switched_off(monkeypatch, caplog):
    class Production(ProductionConfig):
        SECRET_KEY = "production-test-secret"

    for name in ("SESSION_COOKIE_SECURE", "DRILLMGR_SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    production = create_app(Production).config
    assert production["SESSION_COOKIE_SECURE"] and production["REMEMBER_COOKIE_SECURE"]
    assert not create_app(DevelopmentConfig).config["SESSION_COOKIE_SECURE"]
    monkeypatch.setenv("DRILLMGR_SESSION_COOKIE_SECURE", "0")
    assert not create_app(Production).config["SESSION_COOKIE_SECURE"]
    monkeypatch.delenv("DRILLMGR_SESSION_COOKIE_SECURE")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "off")  # the name before the DRILLMGR_ prefix, for one release
    with caplog.at_level("WARNING", logger="drillmgr.settings"):
        assert not create_app(Production).config["SESSION_COOKIE_SECURE"]
        create_app(Production)
    assert [r.getMessage() for r in caplog.records if "SESSION_COOKIE_SECURE" in r.getMessage()] == [
        "The environment variable SESSION_COOKIE_SECURE is read for this release only: "
        "set DRILLMGR_SESSION_COOKIE_SECURE instead."
    ]


# --- language --------------------------------------------------------------------------------


def test_language_switch_is_one_click_and_remembered(client, make_user):
    user = make_user(Role.ADMIN)
    login(client, user)
    assert "首页" in text(client.get("/"))
    response = client.post("/language", data={"lang": "en", "next": "/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = text(client.get("/"))
    assert '<html lang="en">' in page and "Home" in page and "Log out" in page and "首页" not in page
    db.session.expire_all()
    assert user.locale == "en"
    client.post("/logout")
    assert "Log in" in text(client.get("/login")), "the choice stays with the browser session"


def test_language_switch_before_login(client):
    client.post("/language", data={"lang": "en", "next": "/login"})
    assert "Username" in text(client.get("/login"))
    client.post("/language", data={"lang": "zh_CN", "next": "/login"})
    assert "用户名" in text(client.get("/login"))


def test_unknown_language_is_refused(client):
    assert client.post("/language", data={"lang": "xx"}).status_code == 400


def test_users_saved_locale_is_used_on_login(client, make_user):
    user = make_user(Role.ADMIN, locale="en")
    login(client, user)
    assert "Log out" in text(client.get("/"))


# --- CSRF ------------------------------------------------------------------------------------


def web_post_rules(app):
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.endpoint.startswith("api."):
            yield rule


def test_every_web_form_refuses_a_post_without_csrf_token(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    login_response = client.post("/login", data={"username": "x", "password": "y"})
    assert login_response.status_code == 400, "the login form itself is protected"
    rules = list(web_post_rules(app))
    assert {r.endpoint for r in rules} >= {
        "accounts.login",
        "accounts.logout",
        "accounts.set_language",
        "accounts.new_user",
        "accounts.edit_user",
        "orgs.new",
        "orgs.edit",
        "orgs.import_file",
    }
    urls = app.url_map.bind("localhost")
    for rule in rules:
        values = {arg: sorted(getattr(rule._converters[arg], "items", None) or ["1"])[0] for arg in rule.arguments}
        response = client.post(urls.build(rule.endpoint, values), data={"anything": "1"})
        assert response.status_code == 400 and "表单已过期或不是从本网站提交的" in text(response), (
            rule.endpoint,
            response.status_code,
        )


def test_csrf_token_makes_the_form_work(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = make_user(Role.ADMIN)
    page = text(client.get("/login"))
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


# --- user management -------------------------------------------------------------------------


def test_users_page_is_for_managers_only(client, make_user, make_org):
    staff = make_user(Role.ORG_STAFF, org=make_org())
    login(client, staff)
    assert client.get("/users").status_code == 403
    assert client.get("/users/new").status_code == 403
    assert "用户" not in [a for a in text(client.get("/")).split('class="nav-link') if "/users" in a]


def test_coordinator_sees_only_their_county_users(client, make_user, make_org):
    coord = make_user(Role.COORDINATOR, region_code=WUSU, username="coord-w")
    make_user(Role.ORG_STAFF, org=make_org(region_code=WUSU), username="wusu-teacher")
    other = make_user(Role.ORG_STAFF, org=make_org(region_code=SHAWAN), username="shawan-teacher")
    login(client, coord)
    page = text(client.get("/users"))
    assert "wusu-teacher" in page and "shawan-teacher" not in page
    assert client.get(f"/users/{other.id}").status_code == 404


def test_create_user_on_the_web(client, make_user, make_org):
    admin = make_user(Role.ADMIN)
    org = make_org(region_code=WUSU)
    login(client, admin)
    form = text(client.get("/users/new"))
    assert "乌苏市" in form and org.name in form
    response = client.post(
        "/users/new",
        data={
            "username": "new-teacher",
            "display_name": "李老师",
            "email": "",
            "role": "org_staff",
            "region_code": "",
            "org_id": str(org.id),
            "password": "long-enough-1",
            "active": "y",
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.username == "new-teacher"))
    assert (user.role, user.org_id, user.display_name) == (Role.ORG_STAFF, org.id, "李老师")
    assert user.check_password("long-enough-1")


def test_user_form_errors_are_shown_and_nothing_is_lost(client, make_user, make_org):
    admin = make_user(Role.ADMIN, username="taken")
    login(client, admin)
    response = client.post(
        "/users/new",
        data={
            "username": "taken",
            "display_name": "保留的名字",
            "email": "keep@example.cn",
            "role": "viewer",
            "region_code": "",
            "org_id": "",
            "password": "short",
        },
    )
    assert response.status_code == 200
    page = text(response)
    assert "该用户名已被使用。" in page and "协调员和只读用户必须指定所辖区域。" in page
    assert "密码至少需要 8 个字符。" in page
    assert page.count("此项为必填项。") == 0
    assert 'value="保留的名字"' in page and 'value="keep@example.cn"' in page
    assert '<option selected value="viewer">' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_coordinator_cannot_create_an_admin_on_the_web(client, make_user):
    coord = make_user(Role.COORDINATOR, region_code=WUSU)
    login(client, coord)
    assert 'value="admin"' not in text(client.get("/users/new"))
    response = client.post(
        "/users/new",
        data={"username": "sneaky", "role": "admin", "password": "long-enough-1", "region_code": "", "org_id": ""},
    )
    assert response.status_code == 200
    assert db.session.scalar(sa.select(User).where(User.username == "sneaky")) is None


def test_coordinator_cannot_create_staff_of_another_county_on_the_web(client, make_user, make_org):
    coord = make_user(Role.COORDINATOR, region_code=WUSU)
    shawan_org = make_org(region_code=SHAWAN)
    login(client, coord)
    assert shawan_org.name not in text(client.get("/users/new"))
    response = client.post(
        "/users/new",
        data={
            "username": "sneaky",
            "role": "org_staff",
            "org_id": str(shawan_org.id),
            "password": "long-enough-1",
            "region_code": "",
        },
    )
    assert response.status_code == 200 and "您无权创建该角色或范围的用户。" in text(response)
    assert db.session.scalar(sa.select(User).where(User.username == "sneaky")) is None


def test_edit_user_on_the_web(client, make_user):
    admin = make_user(Role.ADMIN)
    target = make_user(Role.VIEWER, region_code=WUSU, email="old@example.cn")
    login(client, admin)
    form = text(client.get(f"/users/{target.id}"))
    assert 'value="old@example.cn"' in form
    response = client.post(
        f"/users/{target.id}",
        data={
            "username": target.username,
            "display_name": "新名字",
            "email": "",
            "role": "coordinator",
            "region_code": SHAWAN,
            "org_id": "",
            "password": "",
            "active": "y",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (target.role, target.region_code, target.display_name, target.email) == (
        Role.COORDINATOR,
        SHAWAN,
        "新名字",
        None,
    )
    assert target.check_password(PASSWORD), "an empty password field keeps the password"


def test_users_list_pages(client, make_user):
    admin = make_user(Role.ADMIN)
    for n in range(55):
        make_user(Role.VIEWER, region_code=WUSU, username=f"many-{n:02d}")
    login(client, admin)
    first = text(client.get("/users"))
    assert "1 / 2" in first and "共 56 条" in first and 'rel="next"' in first
    second = text(client.get("/users?page=2"))
    assert "2 / 2" in second and 'rel="prev"' in second


# --- organisation management -------------------------------------------------------------------


def test_org_pages_in_scope(client, make_user, make_org):
    viewer = make_user(Role.VIEWER, region_code=WUSU)
    mine = make_org(name="乌苏某校", region_code=WUSU)
    other = make_org(name="沙湾某校", region_code=SHAWAN)
    login(client, viewer)
    listing = text(client.get("/orgs/"))
    assert "乌苏某校" in listing and "沙湾某校" not in listing and "新建单位" not in listing
    assert client.get(f"/orgs/{mine.id}").status_code == 200
    assert client.get(f"/orgs/{other.id}").status_code == 404
    assert client.get(f"/orgs/{mine.id}/edit").status_code == 403
    assert client.get("/orgs/new").status_code == 403
    assert client.get("/orgs/?kind=castle").status_code == 200


def test_create_and_edit_org_on_the_web(client, make_user):
    coord = make_user(Role.COORDINATOR, region_code=WUSU)
    login(client, coord)
    form = text(client.get("/orgs/new"))
    assert "乌苏市" in form and "沙湾市" not in form
    response = client.post(
        "/orgs/new",
        data={
            "name": "乌苏市第九中学",
            "kind": "school",
            "region_code": WUSU,
            "headcount": "1200",
            "address": "",
            "contact": "",
        },
    )
    assert response.status_code == 302
    org = db.session.scalar(sa.select(Organisation).where(Organisation.name == "乌苏市第九中学"))
    assert org.headcount == 1200
    edit = text(client.get(f"/orgs/{org.id}/edit"))
    assert 'name="version" type="hidden" value="1"' in edit
    response = client.post(
        f"/orgs/{org.id}/edit",
        data={"name": "乌苏市第九中学", "kind": "school", "region_code": WUSU, "headcount": "1300", "version": "1"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (org.headcount, org.version) == (1300, 2)
    stale = client.post(
        f"/orgs/{org.id}/edit",
        data={"name": "乌苏市第九中学", "kind": "school", "region_code": WUSU, "headcount": "1", "version": "1"},
    )
    assert stale.status_code == 200 and "该单位信息已被他人修改" in text(stale)
    db.session.expire_all()
    assert org.headcount == 1300


def test_org_form_errors_are_shown_and_nothing_is_lost(client, make_user, make_org):
    admin = make_user(Role.ADMIN)
    make_org(name="已存在的单位", region_code=WUSU)
    login(client, admin)
    response = client.post(
        "/orgs/new",
        data={
            "name": "已存在的单位",
            "kind": "hospital",
            "region_code": WUSU,
            "headcount": "77",
            "address": "乌苏市某路1号",
            "contact": "张三",
        },
    )
    assert response.status_code == 200
    page = text(response)
    assert "该行政区划内已有同名单位。" in page
    assert 'value="乌苏市某路1号"' in page and 'value="张三"' in page and 'value="77"' in page
    assert '<option selected value="hospital">' in page
    bad = text(client.post("/orgs/new", data={"name": "", "kind": "school", "region_code": WUSU, "headcount": "很多"}))
    assert "is-invalid" in bad
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 1


def test_import_page(client, make_user):
    admin = make_user(Role.ADMIN)
    login(client, admin)
    assert "导入单位" in text(client.get("/orgs/import"))
    good = "name,kind,region_code,headcount\n乌苏市一小,中小学,654202,600\n沙湾市幼儿园,幼儿园,654203,90\n"
    response = client.post(
        "/orgs/import", data={"file": (io.BytesIO(good.encode()), "units.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 2
    bad = "name,kind,region_code,headcount\n好单位,school,654202,10\n坏单位,castle,654202,10\n,school,999,x\n"
    response = client.post(
        "/orgs/import", data={"file": (io.BytesIO(bad.encode()), "units.csv")}, content_type="multipart/form-data"
    )
    page = text(response)
    assert response.status_code == 200 and "未导入任何数据。" in page
    assert "第 3 行" in page and "第 4 行" in page and "第 2 行" not in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 2


def test_coordinator_import_outside_the_county_is_refused(client, make_user):
    coord = make_user(Role.COORDINATOR, region_code=WUSU)
    login(client, coord)
    rows = "name,kind,region_code,headcount\n乌苏单位,school,654202,10\n沙湾单位,school,654203,10\n"
    page = text(
        client.post(
            "/orgs/import", data={"file": (io.BytesIO(rows.encode()), "u.csv")}, content_type="multipart/form-data"
        )
    )
    assert "第 3 行" in page and "您无权在该行政区划内添加单位。" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0


def test_error_pages_are_translated(client, make_user):
    login(client, make_user(Role.ADMIN))
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "页面不存在" in text(response)


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for():
    from werkzeug.middleware.proxy_fix import ProxyFix

    from config import TestConfig

    class BehindNginx(TestConfig):
        PROXY_COUNT = 1

    assert isinstance(create_app(BehindNginx).wsgi_app, ProxyFix)
    assert not isinstance(create_app(TestConfig).wsgi_app, ProxyFix)


def test_list_pages_do_not_query_per_row(client, make_user, make_org, make_region):
    admin = make_user(Role.ADMIN)
    login(client, admin)
    township = make_region(parent_code=WUSU)
    make_user(Role.ORG_STAFF, org=make_org(region_code=township.code))
    make_user(Role.VIEWER, region_code=township.code)
    few = (count_statements(client, "/users"), count_statements(client, "/orgs/"))
    for _n in range(20):
        make_user(Role.VIEWER, region_code=make_region(parent_code=SHAWAN).code)
        make_org(region_code=make_region(parent_code=WUSU).code)
    assert (count_statements(client, "/users"), count_statements(client, "/orgs/")) == few


def test_unexpected_error_page_is_translated(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("drillmgr.home.views.scope_summary", broken)
    login(client, make_user(Role.ADMIN))
    response = client.get("/")
    assert response.status_code == 500 and "系统出现错误，请稍后再试。" in text(response)
    assert "boom" not in text(response)


def test_users_page_filters(client, make_user):
    admin = make_user(Role.ADMIN, username="boss")
    make_user(Role.VIEWER, region_code=WUSU, username="reader-one", display_name="张三")
    make_user(Role.COORDINATOR, region_code=SHAWAN, username="coord-two", display_name="李四")
    login(client, admin)
    assert "reader-one" in text(client.get("/users?role=viewer")) and "coord-two" not in text(
        client.get("/users?role=viewer")
    )
    by_name = text(client.get("/users?q=李"))
    assert "coord-two" in by_name and "reader-one" not in by_name
    assert "暂无用户。" in text(client.get("/users?q=nobody"))
    assert client.get("/users?role=emperor").status_code == 200
