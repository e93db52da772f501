"""Accounts: authentication, tokens, creating and changing users within scope, with audit."""

import pytest
import sqlalchemy as sa

from drillmgr.access.services import SYSTEM
from drillmgr.accounts import services as accounts
from drillmgr.accounts.models import User
from drillmgr.enums import Role
from drillmgr.errors import Forbidden, ValidationError
from drillmgr.extensions import db
from tests.conftest import PASSWORD, SHAWAN, WUSU

pytestmark = pytest.mark.usefixtures("english")


def test_authenticate(make_user):
    user = make_user(Role.ADMIN, username="Zhang")
    assert accounts.authenticate("zhang", PASSWORD) == user
    assert accounts.authenticate("zhang", "wrong") is None
    assert accounts.authenticate("nobody", PASSWORD) is None
    assert accounts.authenticate(None, None) is None
    user.active = False
    assert accounts.authenticate("zhang", PASSWORD) is None


def test_tokens_issue_resolve_revoke(make_user):
    user = make_user(Role.VIEWER, region_code=WUSU)
    token = accounts.issue_token(user)
    assert accounts.user_for_token(token) == user
    assert accounts.user_for_token(token + "x") is None
    accounts.revoke_tokens(user)
    assert accounts.user_for_token(token) is None


def test_create_user_by_the_system_and_audit(make_org):
    from drillmgr.audit.services import entries_for

    org = make_org(region_code=SHAWAN)
    user = accounts.create_user(
        SYSTEM,
        {"username": "lin", "password": "long-enough-1", "role": "org_staff", "org_id": org.id, "region_code": WUSU},
    )
    assert (user.role, user.org_id, user.region_code, user.display_name, user.email) == (
        Role.ORG_STAFF,
        org.id,
        None,
        "",
        None,
    ), "unit staff carry no region of their own"
    (entry,) = entries_for("user", user.id)
    assert entry.user_id is None and entry.action == "user.create" and entry.after["username"] == "lin"


def test_invalid_user_collects_every_error():
    with pytest.raises(ValidationError) as caught:
        accounts.create_user(SYSTEM, {"username": "", "password": "x", "role": "king"})
    assert set(caught.value.errors) == {"username", "password", "role"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_role_change_moves_the_scope(make_user, make_org):
    admin = make_user(Role.ADMIN)
    org = make_org(region_code=WUSU)
    user = make_user(Role.ORG_STAFF, org=org)
    accounts.update_user(admin, user, {"role": "viewer", "region_code": SHAWAN})
    assert (user.role, user.region_code, user.org_id) == (Role.VIEWER, SHAWAN, None)
    accounts.update_user(admin, user, {"role": "admin"})
    assert (user.role, user.region_code, user.org_id) == (Role.ADMIN, None, None)


def test_update_user_refusals_change_nothing(make_user):
    coord = make_user(Role.COORDINATOR, region_code=WUSU)
    target = make_user(Role.VIEWER, region_code=WUSU, display_name="原名")
    with pytest.raises(Forbidden):
        accounts.update_user(coord, target, {"display_name": "新名", "role": "coordinator", "region_code": SHAWAN})
    db.session.rollback()
    assert (target.display_name, target.region_code) == ("原名", WUSU)
    with pytest.raises(ValidationError):
        accounts.update_user(coord, target, {"display_name": "新名", "email": "nope"})
    db.session.rollback()
    assert target.display_name == "原名"


def test_rotate_feed_secret_and_locale(make_user):
    user = make_user(Role.ADMIN)
    old = user.feed_secret
    accounts.rotate_feed_secret(user)
    assert user.feed_secret != old and len(user.feed_secret) >= 24
    accounts.set_locale(user, "en")
    assert db.session.scalar(sa.select(User.locale).where(User.id == user.id)) == "en"


def test_list_users_in_scope_is_paginated(make_user, make_org):
    coord = make_user(Role.COORDINATOR, region_code=WUSU, username="a-coord")
    make_user(Role.ORG_STAFF, org=make_org(region_code=WUSU), username="b-staff")
    make_user(Role.ORG_STAFF, org=make_org(region_code=SHAWAN), username="c-staff")
    page = accounts.list_users(coord, page=1, per_page=1)
    assert page.total == 2 and [u.username for u in page.items] == ["a-coord"]


def test_password_change_is_audited_without_the_password(make_user):
    from drillmgr.audit.services import entries_for

    admin = make_user(Role.ADMIN)
    target = make_user(Role.VIEWER, region_code=WUSU)
    accounts.update_user(admin, target, {"password": "another-secret-1"})
    (entry,) = entries_for("user", target.id)
    assert entry.after["password_changed"] is True
    assert "another-secret-1" not in str(entry.after) and target.password_hash not in str(entry.after)
