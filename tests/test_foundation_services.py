"""Services of the foundation: regions, accounts, organisations, input reading, formatting."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.accounts import services as accounts
from drillmgr.accounts.models import User
from drillmgr.enums import OrgKind, RegionLevel, Role
from drillmgr.errors import Conflict, Forbidden, ValidationError
from drillmgr.extensions import db
from drillmgr.orgs import services as orgs
from drillmgr.orgs.models import Organisation
from drillmgr.regions import services as regions
from drillmgr.regions.models import Region
from drillmgr.validation import MISSING, Payload
from tests.conftest import PASSWORD, PREFECTURE, SHAWAN, WUSU


pytestmark = pytest.mark.usefixtures("english")


# --- regions ---------------------------------------------------------------------------------

def test_tacheng_is_there_once():
    regions.ensure_tacheng()
    regions.ensure_tacheng()
    assert [c.name for c in regions.counties()] == ["塔城市", "乌苏市", "沙湾市", "额敏县", "托里县", "裕民县",
                                                   "和布克赛尔蒙古自治县"]
    assert [c.code for c in regions.key_counties()] == [WUSU, SHAWAN]
    assert db.session.get(Region, PREFECTURE).level == RegionLevel.PREFECTURE


def test_subtree_and_county_of(make_region):
    township = make_region(code="654202901", parent_code=WUSU)
    village = make_region(code="654202901001", parent_code=township.code, level=RegionLevel.VILLAGE)
    subtree = set(db.session.scalars(access.subtree_codes(WUSU)))
    assert subtree == {WUSU, township.code, village.code}
    assert regions.county_of(village).code == WUSU
    assert regions.county_of(db.session.get(Region, PREFECTURE)) is None
    assert [c.code for c in regions.counties(within=WUSU)] == [WUSU]
    assert access.region_in_subtree(village.code, PREFECTURE) and not access.region_in_subtree(village.code, SHAWAN)
    assert regions.region_to_dict(village) == {"code": village.code, "name": village.name, "level": "village",
                                               "parent_code": township.code, "key_county": False}


def test_subtree_does_not_leak_to_similar_codes(make_region):
    """654202 must not take in a sibling whose code merely starts the same way."""
    lookalike = regions.add_region("6542020", "相似代码", RegionLevel.COUNTY, db.session.get(Region, PREFECTURE))
    db.session.flush()
    assert lookalike.code not in set(db.session.scalars(access.subtree_codes(WUSU)))


# --- accounts --------------------------------------------------------------------------------

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
    user = accounts.create_user(None, {"username": "lin", "password": "long-enough-1", "role": "org_staff",
                                       "org_id": org.id, "region_code": WUSU})
    assert (user.role, user.org_id, user.region_code, user.display_name, user.email) == (
        Role.ORG_STAFF, org.id, None, "", None), "unit staff carry no region of their own"
    (entry,) = entries_for("user", user.id)
    assert entry.user_id is None and entry.action == "user.create" and entry.after["username"] == "lin"


def test_invalid_user_collects_every_error():
    with pytest.raises(ValidationError) as caught:
        accounts.create_user(None, {"username": "", "password": "x", "role": "king"})
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


# --- organisations ---------------------------------------------------------------------------

def test_create_and_update_org_with_version(make_user):
    admin = make_user(Role.ADMIN)
    org = orgs.create_org(admin, {"name": "乌苏市第一幼儿园", "kind": "kindergarten", "region_code": WUSU,
                                  "headcount": "150"})
    assert (org.kind, org.headcount, org.version, org.evacuation_target) == (OrgKind.KINDERGARTEN, 150, 1, 120)
    orgs.update_org(admin, org, {"evacuation_target_seconds": 90, "version": 1})
    assert (org.evacuation_target, org.version) == (90, 2)
    with pytest.raises(Conflict):
        orgs.update_org(admin, org, {"headcount": 1, "version": 1})
    assert org.headcount == 150


def test_hospital_has_no_default_evacuation_target(make_org):
    assert make_org(kind=OrgKind.HOSPITAL).evacuation_target is None


def test_org_query_filters_within_scope(make_user, make_org, make_region):
    township = make_region(parent_code=WUSU)
    make_org(name="乡镇中学", region_code=township.code)
    make_org(name="市医院", kind=OrgKind.HOSPITAL, region_code=WUSU)
    make_org(name="沙湾中学", region_code=SHAWAN)
    coord = make_user(Role.COORDINATOR, region_code=WUSU)

    def names(**filters):
        return [o.name for o in db.session.scalars(orgs.org_query(coord, **filters))]

    assert set(names()) == {"市医院", "乡镇中学"}
    assert names(region=township.code) == ["乡镇中学"]
    assert names(kind="hospital") == ["市医院"]
    assert names(q="中学") == ["乡镇中学"]
    assert names(region=SHAWAN) == [], "a filter never widens the scope"
    assert names(q="%") == [], "LIKE wildcards are matched literally"
    with pytest.raises(ValidationError):
        orgs.org_query(coord, kind="castle")


def test_import_service_returns_created_orgs_and_audits():
    from drillmgr.audit.services import entries_for

    created = orgs.import_orgs(None, [
        {"name": "甲校", "kind": "中小学", "region_code": WUSU, "headcount": "100", "_line": 2},
        {"name": "乙院", "kind": "Hospital", "region_code": SHAWAN, "headcount": "", "_line": 3},
    ])
    assert [(o.name, o.kind, o.headcount) for o in created] == [("甲校", OrgKind.SCHOOL, 100),
                                                               ("乙院", OrgKind.HOSPITAL, 0)]
    (entry,) = entries_for("organisation", "bulk")
    assert entry.after == {"created": [o.id for o in created]}


def test_import_service_all_or_nothing():
    with pytest.raises(ValidationError) as caught:
        orgs.import_orgs(None, [
            {"name": "甲校", "kind": "school", "region_code": WUSU, "headcount": "1", "_line": 2},
            {"name": "乙校", "kind": "school", "region_code": WUSU, "headcount": "-1", "_line": 3},
        ])
    assert caught.value.errors == {"lines": ["Line 3, headcount: Must be at least 0."]}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == 0


# --- reading input ---------------------------------------------------------------------------

def test_payload_readers():
    p = Payload({"s": "  text ", "i": "42", "b": True, "d": "2026-06-07", "t": "2026-05-12T10:00:00+08:00",
                 "kind": "school", "ids": [3, 3, 4], "kinds": ["school", "hospital", "school"], "n": "1.5"})
    assert p.string("s") == "text"
    assert p.integer("i") == 42
    assert p.boolean("b") is True
    assert p.date("d").isoformat() == "2026-06-07"
    assert p.datetime("t").utcoffset().total_seconds() == 8 * 3600
    assert p.choice("kind", OrgKind) == OrgKind.SCHOOL
    assert p.id_list("ids") == [3, 4]
    assert p.choices("kinds", OrgKind) == [OrgKind.SCHOOL, OrgKind.HOSPITAL]
    assert str(p.decimal("n", minimum=0, maximum=10)) == "1.5"
    assert p.string("absent") is MISSING
    p.check()


def test_payload_errors():
    p = Payload({"i": True, "t": "2026-05-12T10:00:00", "b": "yes", "ids": [1, "2"], "n": "NaN", "d": "7 June",
                 "s": 5})
    p.integer("i")
    p.datetime("t")
    p.boolean("b")
    p.id_list("ids")
    p.decimal("n")
    p.date("d")
    p.string("s")
    p.string("required", required=True)
    assert set(p.errors) == {"i", "t", "b", "ids", "n", "d", "s", "required"}
    assert p.errors["t"] == ["Must be an ISO 8601 date and time with an offset, e.g. 2026-05-12T10:00:00+08:00."]
    with pytest.raises(ValidationError) as caught:
        p.check()
    assert caught.value.status == 422 and caught.value.errors is p.errors


def test_payload_needs_an_object():
    with pytest.raises(ValidationError):
        Payload(["not", "an", "object"])


def test_partial_payload_does_not_require():
    p = Payload({}, partial=True)
    assert p.string("name", required=True) is MISSING
    p.check()


# --- formatting ------------------------------------------------------------------------------

def test_times_are_shown_in_beijing_time():
    from drillmgr.formatting import duration, local_date, local_datetime

    moment = datetime(2026, 5, 12, 16, 30, tzinfo=timezone.utc)
    assert local_datetime(moment) == "2026-05-13 00:30"
    assert local_date(moment) == "2026-05-13"
    assert duration(125) == "2 min 5 s" and duration(59) == "59 s" and duration(None) == ""


def test_password_change_is_audited_without_the_password(make_user):
    from drillmgr.audit.services import entries_for

    admin = make_user(Role.ADMIN)
    target = make_user(Role.VIEWER, region_code=WUSU)
    accounts.update_user(admin, target, {"password": "another-secret-1"})
    (entry,) = entries_for("user", target.id)
    assert entry.after["password_changed"] is True
    assert "another-secret-1" not in str(entry.after) and target.password_hash not in str(entry.after)
