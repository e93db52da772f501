"""Logging in tells nothing about which usernames exist; passwords that are easy to guess are refused
with a reason; passwords are taken as typed on the web and the API alike; usernames use sensible characters."""

import pytest
import sqlalchemy as sa

from drillmgr.accounts import services as accounts
from drillmgr.accounts.models import User
from drillmgr.enums import Role
from drillmgr.extensions import db
from tests.conftest import PASSWORD, WUSU, login, token_for

STRONG = "quiet-lantern-orchard-7"


@pytest.fixture
def admin_auth(client, make_user):
    return token_for(client, make_user(Role.ADMIN, username="pw-admin"))


@pytest.fixture
def hash_checks(monkeypatch):
    """Counts password hash verifications: each is the slow step whose absence would show in timing."""
    calls = []
    real = accounts.check_password_hash

    def counting(pwhash, password):
        calls.append(pwhash)
        return real(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    return calls


# --- one hash verification, whoever asks ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["existing", "unknown", "inactive"])
def test_every_failed_login_verifies_one_hash(client, make_user, hash_checks, who):
    for user in (make_user(Role.ADMIN, username="existing"), make_user(Role.ADMIN, username="inactive", active=False)):
        user.set_password(PASSWORD)  # at the app's work factor, which the dummy hash must match
    db.session.commit()
    response = client.post("/api/v1/auth/token", json={"username": who, "password": "wrong-guess"})
    assert response.status_code == 401
    assert len(hash_checks) == 1
    page = client.post("/login", data={"username": who, "password": "wrong-guess"})
    assert page.status_code == 200 and "用户名或密码错误。" in page.get_data(as_text=True)
    assert len(hash_checks) == 2
    assert hash_checks[0] == hash_checks[1]
    method = db.session.scalar(sa.select(User.password_hash).where(User.username == "existing")).split("$")[0]
    assert hash_checks[0].split("$")[0] == method, "the dummy hash costs what a real one does"


def test_a_username_with_a_nul_byte_is_refused_before_any_lookup(client, make_user, hash_checks):
    make_user(Role.ADMIN, username="existing")
    for who in ("exist\x00ing", "nobody\x00"):
        response = client.post("/api/v1/auth/token", json={"username": who, "password": "wrong-guess"})
        assert response.status_code == 422 and "username" in response.get_json()["errors"]
    assert hash_checks == []


def test_the_inactive_users_right_password_still_fails(client, make_user, hash_checks):
    make_user(Role.ADMIN, username="gone", active=False)
    assert client.post("/api/v1/auth/token", json={"username": "gone", "password": PASSWORD}).status_code == 401
    assert len(hash_checks) == 1


# --- passwords that are easy to guess -------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, reason",
    [
        ("12345678", "最常用的密码"),
        ("password", "最常用的密码"),
        ("qwertyuiop", "最常用的密码"),
        ("li-wusu-1", "用户名"),
        ("乌苏市第一中学2024", "单位名称"),
        ("Michael1990", "太容易被猜到"),
        ("abcdefgh1", "太容易被猜到"),
        ("drillmgr2024", "本系统名称"),
        ("        ", "太容易被猜到"),
    ],
)
def test_easy_passwords_are_refused_with_a_reason_on_the_web(client, make_user, make_org, password, reason):
    school = make_org(name="乌苏市第一中学", region_code=WUSU)
    login(client, make_user(Role.ADMIN))
    response = client.post(
        "/users/new",
        data={
            "username": "li-wusu",
            "role": "org_staff",
            "org_id": str(school.id),
            "password": password,
            "active": "y",
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert reason in page, page
    assert db.session.scalar(sa.select(User).where(User.username == "li-wusu")) is None


def test_an_easy_password_is_explained_in_english_through_the_api(client, admin_auth):
    response = client.post(
        "/api/v1/users",
        headers={**admin_auth, "Accept-Language": "en"},
        json={"username": "zhanghua", "password": "zhanghua123", "role": "viewer", "region_code": WUSU},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["password"] == [
        "The password is built from the username, the person's or unit's name, the region or this system's name, "
        "which anyone would try first. Choose something unrelated to the account."
    ]


def test_a_new_password_for_an_existing_user_is_checked_against_their_names(client, admin_auth, make_user):
    target = make_user(Role.COORDINATOR, region_code=WUSU, username="wang.fang", display_name="Wang Fang")
    response = client.patch(
        f"/api/v1/users/{target.id}", headers=admin_auth, json={"password": "WangFang2024", "version": 1}
    )
    assert response.status_code == 422 and "password" in response.get_json()["errors"]
    response = client.patch(
        f"/api/v1/users/{target.id}", headers=admin_auth, json={"password": "乌苏市乌苏市乌苏市", "version": 1}
    )
    assert response.status_code == 422
    assert (
        client.patch(
            f"/api/v1/users/{target.id}", headers=admin_auth, json={"password": STRONG, "version": 1}
        ).status_code
        == 200
    )


def test_a_long_password_is_judged_on_a_bounded_prefix(client, admin_auth, monkeypatch):
    """zxcvbn's time grows quickly with length: it only ever sees the first PASSWORD_ESTIMATE_CHARS."""
    import secrets

    seen = []
    estimate = accounts.zxcvbn
    monkeypatch.setattr(
        accounts, "zxcvbn", lambda password, **kw: seen.append(len(password)) or estimate(password, **kw)
    )
    for password, status in (("aB3$" * 50, 422), ("1" * 200, 422), (secrets.token_urlsafe(150)[:200], 201)):
        response = client.post(
            "/api/v1/users", headers=admin_auth, json={"username": "longpw", "password": password, "role": "admin"}
        )
        assert response.status_code == status
    assert seen and max(seen) <= accounts.PASSWORD_ESTIMATE_CHARS


def test_cli_create_user_refuses_an_easy_password(runner):
    result = runner.invoke(args=["create-user", "clinton", "--role", "admin", "--password", "password1"])
    assert result.exit_code == 1 and "password" in result.output
    assert db.session.scalar(sa.select(User).where(User.username == "clinton")) is None
    result = runner.invoke(args=["create-user", "clinton", "--role", "admin", "--password", STRONG])
    assert result.exit_code == 0, result.output


def test_the_demo_password_still_logs_the_demo_accounts_in(client):
    from drillmgr.demo.services import seed_demo
    from drillmgr.demo.units import DEMO_PASSWORD

    seed_demo(org_count=3, drill_count=0)
    assert DEMO_PASSWORD == "drillmgr-demo"
    demo = db.session.scalar(sa.select(User).where(User.is_demo.is_(True), User.role == Role.COORDINATOR).limit(1))
    response = client.post("/api/v1/auth/token", json={"username": demo.username, "password": "drillmgr-demo"})
    assert response.status_code == 200


# --- spaces around a password are part of it, on the web and the API ----------------------------------


def test_passwords_are_taken_as_typed_everywhere(app, client, admin_auth):
    spaced = f"  {STRONG}  "
    response = client.post(
        "/api/v1/users", headers=admin_auth, json={"username": "spacey", "password": spaced, "role": "admin"}
    )
    assert response.status_code == 201
    for password, works in ((spaced, True), (STRONG, False)):
        api = app.test_client().post("/api/v1/auth/token", json={"username": " spacey ", "password": password})
        web = app.test_client().post("/login", data={"username": " spacey ", "password": password})
        assert (api.status_code == 200) is works and (web.status_code == 302) is works, password


def test_a_password_longer_than_the_limit_counts_its_spaces(client, admin_auth):
    response = client.post(
        "/api/v1/users",
        headers=admin_auth,
        json={"username": "toolong", "password": STRONG + " " * 190, "role": "admin"},
    )
    assert response.status_code == 422 and "password" in response.get_json()["errors"]


# --- usernames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    [
        "li ming",
        "李明",
        "a",
        "-rf",
        ".hidden",
        "x\u0000y",
        "ｌｉ",
        "admin<b>",
        "zh\u200bang",
        "a" * 65,
        "name@example.org",
    ],
)
def test_usernames_outside_letters_digits_and_dot_dash_underscore_are_refused(client, admin_auth, username):
    response = client.post(
        "/api/v1/users",
        headers={**admin_auth, "Accept-Language": "en"},
        json={"username": username, "password": STRONG, "role": "admin"},
    )
    assert response.status_code == 422
    assert any(
        "letters a–z, digits and . _ -" in m or "at most 64" in m or "NUL bytes" in m
        for m in response.get_json()["errors"]["username"]
    )


@pytest.mark.parametrize("username", ["li.ming", "Li_Ming-2", "42", "ab"])
def test_sensible_usernames_are_accepted(client, admin_auth, username):
    response = client.post(
        "/api/v1/users", headers=admin_auth, json={"username": username, "password": STRONG, "role": "admin"}
    )
    assert response.status_code == 201 and response.get_json()["username"] == username


def test_the_web_form_explains_the_username_rule(client, make_user):
    login(client, make_user(Role.ADMIN))
    response = client.post("/users/new", data={"username": "李 明", "role": "admin", "password": STRONG, "active": "y"})
    assert "请使用 2 到 64 个字符：字母 a–z、数字以及 . _ -" in response.get_data(as_text=True)


def test_an_old_username_outside_the_rule_can_still_be_edited(client, admin_auth, make_user):
    legacy = make_user(Role.VIEWER, region_code=WUSU, username="老用户")
    response = client.patch(
        f"/api/v1/users/{legacy.id}",
        headers=admin_auth,
        json={"username": "老用户", "display_name": "老用户 (乌苏)", "version": 1},
    )
    assert response.status_code == 200
    response = client.patch(
        f"/api/v1/users/{legacy.id}", headers=admin_auth, json={"username": "新 用户", "version": 2}
    )
    assert response.status_code == 422
