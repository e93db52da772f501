"""A session ends for good: a replayed cookie after logout, a new password, deactivation or "log out
everywhere" no longer works, nor do the user's API tokens where the user's credentials changed."""

import pytest
import sqlalchemy as sa

from drillmgr.accounts import services as accounts
from drillmgr.audit.models import AuditEntry
from drillmgr.enums import Role
from drillmgr.extensions import db
from tests.conftest import PASSWORD, SHAWAN, WUSU, login, token_for

NEW_PASSWORD = "quiet-lantern-orchard-7"


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str, name: str = "session"):
    """A fresh browser that only has the stolen cookie: is it logged in?"""
    other = app.test_client()
    other.set_cookie(name, cookie)
    response = other.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


@pytest.fixture
def staff(make_user, make_org):
    return make_user(Role.ORG_STAFF, org=make_org(region_code=WUSU), username="wusu-staff")


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="the-admin")


def test_a_cookie_replayed_after_logout_is_refused(app, client, staff):
    login(client, staff)
    cookie = session_cookie(client)
    assert replay(app, cookie)
    assert client.post("/logout").status_code == 302
    assert not replay(app, cookie)
    assert client.get("/").status_code == 302


def test_a_remember_cookie_replayed_after_logout_is_refused(app, client, staff):
    client.post("/login", data={"username": staff.username, "password": PASSWORD, "remember": "y"})
    remember = client.get_cookie("remember_token").value
    assert replay(app, remember, "remember_token")
    client.post("/logout")
    assert not replay(app, remember, "remember_token")


def test_an_admins_password_reset_ends_the_users_sessions_and_tokens(app, client, staff, admin):
    login(client, staff)
    cookie = session_cookie(client)
    headers = token_for(app.test_client(), staff)
    admin_auth = token_for(app.test_client(), admin)
    response = app.test_client().patch(
        f"/api/v1/users/{staff.id}", headers=admin_auth, json={"password": NEW_PASSWORD, "version": staff.version}
    )
    assert response.status_code == 200
    assert not replay(app, cookie)
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert login(app.test_client(), staff, NEW_PASSWORD).status_code == 302


def test_deactivation_ends_sessions_and_tokens_even_after_reactivation(app, client, staff, admin):
    login(client, staff)
    cookie = session_cookie(client)
    headers = token_for(app.test_client(), staff)
    accounts.update_user(admin, staff, {"active": False})
    assert not replay(app, cookie)
    accounts.update_user(admin, staff, {"active": True})
    assert not replay(app, cookie)
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401


def test_other_changes_keep_the_session(app, client, staff, admin):
    login(client, staff)
    cookie = session_cookie(client)
    accounts.update_user(admin, staff, {"display_name": "李老师"})
    assert replay(app, cookie)


def test_logout_everywhere_for_oneself_on_the_web(app, client, staff):
    phone = app.test_client()
    login(phone, staff)
    headers = token_for(app.test_client(), staff)
    login(client, staff)
    page = client.get("/account").get_data(as_text=True)
    assert 'action="/account/logout-everywhere"' in page
    response = client.post("/account/logout-everywhere", follow_redirects=True)
    assert "您已在所有设备上退出登录" in response.get_data(as_text=True)
    assert phone.get("/").status_code == 302 and client.get("/").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.logout_everywhere"))
    assert (entry.user_id, entry.entity_id) == (staff.id, str(staff.id))


def test_a_coordinator_logs_out_a_user_they_manage(app, client, staff, make_user):
    coordinator = make_user(Role.COORDINATOR, region_code=WUSU)
    login(app.test_client(), staff)
    victim = app.test_client()
    login(victim, staff)
    login(client, coordinator)
    assert f'action="/users/{staff.id}/logout-everywhere"' in client.get(f"/users/{staff.id}").get_data(as_text=True)
    response = client.post(f"/users/{staff.id}/logout-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == f"/users/{staff.id}"
    assert victim.get("/").status_code == 302
    assert client.get("/").status_code == 200, "the coordinator's own session goes on"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.logout_everywhere"))
    assert (entry.user_id, entry.entity_id) == (coordinator.id, str(staff.id))


def test_only_managers_of_the_user_may_log_them_out(app, client, staff, make_user):
    victim = app.test_client()
    login(victim, staff)
    for intruder, status in (
        (make_user(Role.COORDINATOR, region_code=SHAWAN), 404),
        (make_user(Role.ORG_STAFF, org=staff.org), 403),
    ):
        client.post("/logout")
        login(client, intruder)
        assert client.post(f"/users/{staff.id}/logout-everywhere").status_code == status
        assert (
            app.test_client()
            .post(f"/api/v1/users/{staff.id}/logout-everywhere", headers=token_for(app.test_client(), intruder))
            .status_code
            == 404
        )
    assert victim.get("/").status_code == 200
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.logout_everywhere")) is None


def test_logout_everywhere_through_the_api(app, client, staff, admin):
    login(client, staff)
    own = token_for(app.test_client(), staff)
    second = token_for(app.test_client(), staff)
    assert app.test_client().post("/api/v1/me/logout-everywhere", headers=own).status_code == 204
    for headers in (own, second):
        assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert client.get("/").status_code == 302

    login(client, staff)
    fresh = token_for(app.test_client(), staff)
    response = app.test_client().post(
        f"/api/v1/users/{staff.id}/logout-everywhere", headers=token_for(app.test_client(), admin)
    )
    assert response.status_code == 204
    assert app.test_client().get("/api/v1/me", headers=fresh).status_code == 401
    assert client.get("/").status_code == 302
    assert (
        app.test_client()
        .post("/api/v1/users/2147483648/logout-everywhere", headers=token_for(app.test_client(), admin))
        .status_code
        == 404
    )


def test_changing_ones_own_password_keeps_this_session_and_ends_the_others(app, client, staff):
    phone = app.test_client()
    login(phone, staff)
    token = token_for(app.test_client(), staff)
    login(client, staff)
    wrong = client.post(
        "/account", data={"current_password": "not-it", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert "这不是您当前的密码。" in wrong.get_data(as_text=True)
    weak = client.post(
        "/account", data={"current_password": PASSWORD, "password": "wusu-staff2024", "confirm": "wusu-staff2024"}
    )
    assert "用户名" in weak.get_data(as_text=True) and phone.get("/").status_code == 200
    done = client.post(
        "/account",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        follow_redirects=True,
    )
    assert "您的密码已修改" in done.get_data(as_text=True)
    assert client.get("/").status_code == 200
    assert phone.get("/").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=token).status_code == 401
    assert login(app.test_client(), staff, NEW_PASSWORD).status_code == 302


def test_an_admin_changing_their_own_password_stays_logged_in(app, client, admin):
    elsewhere = app.test_client()
    login(elsewhere, admin)
    login(client, admin)
    response = client.post(
        f"/users/{admin.id}",
        data={"username": admin.username, "role": "admin", "password": NEW_PASSWORD, "active": "y"},
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200 and elsewhere.get("/").status_code == 302


@pytest.mark.parametrize("session_id", ["abc", "", "1:x", "99999999999:0", "2147483648", "1:2:3", "１"])
def test_a_forged_or_malformed_session_id_is_anonymous(app, client, staff, session_id):
    with client.session_transaction() as session:
        session["_user_id"] = session_id.replace("1", str(staff.id), 1) if session_id.startswith("1:") else session_id
        session["_fresh"] = True
    assert client.get("/").status_code == 302


def test_a_session_from_before_generations_lasts_until_the_first_logout(app, client, staff):
    with client.session_transaction() as session:
        session["_user_id"] = str(staff.id)
    cookie = session_cookie(client)
    assert replay(app, cookie)
    accounts.logout(staff)
    assert not replay(app, cookie)
