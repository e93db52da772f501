"""The scope module: every role × resource × action, at the service level and through the API.

The cast: the prefecture admin, the coordinators of Wusu and Shawan, a read-only user of Wusu,
and unit staff of a Wusu unit and of a Shawan unit.
"""

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillForm, FindingCategory, OrgKind, Role, Severity
from drillmgr.extensions import db
from drillmgr.findings.models import Finding
from drillmgr.orgs.models import Organisation
from tests.conftest import PREFECTURE, SHAWAN, WUSU, issue_kept_token

ACTORS = ("admin", "coord_wusu", "coord_shawan", "viewer_wusu", "staff_wusu", "staff_shawan")


@pytest.fixture
def cast(make_org, make_user, make_region):
    township = make_region(parent_code=WUSU)
    wusu_org = make_org(name="乌苏市第一中学", region_code=township.code)
    other_wusu_org = make_org(name="乌苏市人民医院", kind=OrgKind.HOSPITAL, region_code=WUSU)
    shawan_org = make_org(name="沙湾市第一中学", region_code=SHAWAN)
    return SimpleNamespace(
        township=township,
        wusu_org=wusu_org,
        other_wusu_org=other_wusu_org,
        shawan_org=shawan_org,
        admin=make_user(Role.ADMIN, username="t_admin"),
        coord_wusu=make_user(Role.COORDINATOR, region_code=WUSU, username="t_coord_wusu"),
        coord_shawan=make_user(Role.COORDINATOR, region_code=SHAWAN, username="t_coord_shawan"),
        viewer_wusu=make_user(Role.VIEWER, region_code=WUSU, username="t_viewer_wusu"),
        staff_wusu=make_user(Role.ORG_STAFF, org=wusu_org, username="t_staff_wusu"),
        staff_shawan=make_user(Role.ORG_STAFF, org=shawan_org, username="t_staff_shawan"),
    )


def bearer(user) -> dict:
    """A token made by the service (the login endpoint is rate-limited, and tested on its own)."""
    return {"Authorization": f"Bearer {issue_kept_token(user)}"}


def allowed_for(*names):
    return {name: name in names for name in ACTORS}


# --- organisations ---------------------------------------------------------------------------

ORG_VIEW = {
    "wusu_org": allowed_for("admin", "coord_wusu", "viewer_wusu", "staff_wusu"),
    "other_wusu_org": allowed_for("admin", "coord_wusu", "viewer_wusu"),
    "shawan_org": allowed_for("admin", "coord_shawan", "staff_shawan"),
}
ORG_MANAGE = {
    "wusu_org": allowed_for("admin", "coord_wusu"),
    "other_wusu_org": allowed_for("admin", "coord_wusu"),
    "shawan_org": allowed_for("admin", "coord_shawan"),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("target", sorted(ORG_VIEW))
def test_org_view_and_update_scope(cast, actor, target):
    user, org = getattr(cast, actor), getattr(cast, target)
    assert access.can_view_org(user, org) is ORG_VIEW[target][actor]
    assert access.can_manage_org(user, org) is ORG_MANAGE[target][actor]
    listed = set(db.session.scalars(sa.select(Organisation.id).where(access.org_clause(user))))
    assert (org.id in listed) is ORG_VIEW[target][actor]


@pytest.mark.parametrize("actor", ACTORS)
def test_org_api_view_update_and_create(client, cast, actor):
    user = getattr(cast, actor)
    headers = bearer(user)
    for target in sorted(ORG_VIEW):
        org = getattr(cast, target)
        before = (org.name, org.headcount, org.version)
        get = client.get(f"/api/v1/orgs/{org.id}", headers=headers)
        assert get.status_code == (200 if ORG_VIEW[target][actor] else 404), (actor, target)
        patch = client.patch(f"/api/v1/orgs/{org.id}", json={"headcount": 999, "version": 1}, headers=headers)
        if ORG_MANAGE[target][actor]:
            assert patch.status_code == 200, (actor, target, patch.get_json())
            continue
        assert patch.status_code == (403 if ORG_VIEW[target][actor] else 404), (actor, target)
        assert patch.mimetype == "application/problem+json"
        db.session.expire_all()
        assert (org.name, org.headcount, org.version) == before
    listing = client.get("/api/v1/orgs?per_page=500", headers=headers).get_json()
    listed = {item["id"] for item in listing["items"]}
    assert listed >= {getattr(cast, t).id for t in ORG_VIEW if ORG_VIEW[t][actor]}
    assert not listed & {getattr(cast, t).id for t in ORG_VIEW if not ORG_VIEW[t][actor]}

    count_before = db.session.scalar(sa.select(sa.func.count()).select_from(Organisation))
    create = client.post(
        "/api/v1/orgs",
        headers=headers,
        json={"name": f"新单位{actor}", "kind": "school", "region_code": cast.township.code},
    )
    may_create = actor in ("admin", "coord_wusu")
    assert create.status_code == (201 if may_create else 403), (actor, create.get_json())
    count_after = db.session.scalar(sa.select(sa.func.count()).select_from(Organisation))
    assert count_after == count_before + (1 if may_create else 0)


def test_coordinator_cannot_move_an_org_into_another_county(client, cast):
    org = cast.wusu_org
    response = client.patch(
        f"/api/v1/orgs/{org.id}", json={"region_code": SHAWAN, "version": 1}, headers=bearer(cast.coord_wusu)
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert org.region_code == cast.township.code and org.version == 1


# --- users -----------------------------------------------------------------------------------

USER_VIEW = {
    "staff_wusu": allowed_for("admin", "coord_wusu", "staff_wusu"),
    "staff_shawan": allowed_for("admin", "coord_shawan", "staff_shawan"),
    "viewer_wusu": allowed_for("admin", "coord_wusu", "viewer_wusu"),
}
USER_MANAGE = {
    "staff_wusu": allowed_for("admin", "coord_wusu"),
    "staff_shawan": allowed_for("admin", "coord_shawan"),
    "viewer_wusu": allowed_for("admin", "coord_wusu"),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("target", sorted(USER_VIEW))
def test_user_view_and_update_scope(cast, actor, target):
    user, other = getattr(cast, actor), getattr(cast, target)
    assert access.can_view_user(user, other) is USER_VIEW[target][actor]
    assert access.can_manage_user(user, other) is USER_MANAGE[target][actor]


@pytest.mark.parametrize("actor", ACTORS)
def test_user_api_view_update_and_create(client, cast, actor):
    user = getattr(cast, actor)
    headers = bearer(user)
    for target in sorted(USER_VIEW):
        other = getattr(cast, target)
        before = (other.display_name, other.role, other.region_code, other.org_id)
        get = client.get(f"/api/v1/users/{other.id}", headers=headers)
        assert get.status_code == (200 if USER_VIEW[target][actor] else 404), (actor, target)
        patch = client.patch(f"/api/v1/users/{other.id}", json={"display_name": "改名", "version": 1}, headers=headers)
        if USER_MANAGE[target][actor]:
            assert patch.status_code == 200, (actor, target, patch.get_json())
            continue
        assert patch.status_code == (403 if USER_VIEW[target][actor] else 404), (actor, target)
        db.session.expire_all()
        assert (other.display_name, other.role, other.region_code, other.org_id) == before
    listed = {u["username"] for u in client.get("/api/v1/users?per_page=500", headers=headers).get_json()["items"]}
    assert {t for t in USER_VIEW if USER_VIEW[t][actor]} <= {n.removeprefix("t_") for n in listed}
    assert not {f"t_{t}" for t in USER_VIEW if not USER_VIEW[t][actor] and t != actor} & listed

    count_before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    create = client.post(
        "/api/v1/users",
        headers=headers,
        json={"username": f"new_{actor}", "password": "long-enough-1", "role": "org_staff", "org_id": cast.wusu_org.id},
    )
    may_create = actor in ("admin", "coord_wusu")
    assert create.status_code == (201 if may_create else 403), (actor, create.get_json())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == count_before + may_create


# --- regions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor, visible, manageable",
    [
        ("admin", {PREFECTURE, WUSU, SHAWAN, "township"}, {PREFECTURE, WUSU, SHAWAN, "township"}),
        ("coord_wusu", {WUSU, "township"}, {WUSU, "township"}),
        ("coord_shawan", {SHAWAN}, {SHAWAN}),
        ("viewer_wusu", {WUSU, "township"}, set()),
        ("staff_wusu", {"township"}, set()),
        ("staff_shawan", {SHAWAN}, set()),
    ],
)
def test_region_scope(cast, actor, visible, manageable):
    """Viewing a region, and acting in it (creating and changing its units and users)."""
    user = getattr(cast, actor)
    for code in (PREFECTURE, WUSU, SHAWAN, "township"):
        real = cast.township.code if code == "township" else code
        assert access.can_view_region(user, real) is (code in visible), (actor, code)
        assert access.can_manage_region(user, real) is (code in manageable), (actor, code)


def test_region_tree_is_reference_data_for_every_role(client, cast):
    """The division codes are public reference data; no endpoint creates or changes regions."""
    for actor in ACTORS:
        items = client.get("/api/v1/regions", headers=bearer(getattr(cast, actor))).get_json()["items"]
        assert {WUSU, SHAWAN, PREFECTURE} <= {r["code"] for r in items}
    assert client.post("/api/v1/regions", json={}, headers=bearer(cast.admin)).status_code == 405


# --- never more power than one's own -----------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "admin"},
        {"role": "coordinator", "region_code": PREFECTURE},
        {"role": "coordinator", "region_code": SHAWAN},
        {"role": "viewer", "region_code": PREFECTURE},
        {"role": "org_staff", "org_id": "shawan_org"},
    ],
)
def test_coordinator_cannot_create_a_user_with_more_power(client, cast, payload):
    payload = {k: (cast.shawan_org.id if v == "shawan_org" else v) for k, v in payload.items()}
    count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    response = client.post(
        "/api/v1/users",
        headers=bearer(cast.coord_wusu),
        json={"username": "escalated", "password": "long-enough-1", **payload},
    )
    assert response.status_code == 403, response.get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == count


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "admin"},
        {"role": "coordinator", "region_code": SHAWAN},
        {"role": "viewer", "region_code": PREFECTURE},
    ],
)
def test_coordinator_cannot_raise_a_users_power(client, cast, payload):
    target = cast.staff_wusu
    response = client.patch(
        f"/api/v1/users/{target.id}", headers=bearer(cast.coord_wusu), json={**payload, "version": 1}
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert (target.role, target.org_id, target.region_code) == (Role.ORG_STAFF, cast.wusu_org.id, None)


def test_coordinator_cannot_change_their_own_role(client, cast):
    response = client.patch(
        f"/api/v1/users/{cast.coord_wusu.id}", headers=bearer(cast.coord_wusu), json={"role": "admin", "version": 1}
    )
    assert response.status_code == 403
    db.session.expire_all()
    assert cast.coord_wusu.role == Role.COORDINATOR


def test_coordinator_may_create_an_equal_in_their_own_county(client, cast):
    response = client.post(
        "/api/v1/users",
        headers=bearer(cast.coord_wusu),
        json={"username": "wusu-deputy", "password": "long-enough-1", "role": "coordinator", "region_code": WUSU},
    )
    assert response.status_code == 201
    assert response.get_json()["region_code"] == WUSU


@pytest.mark.parametrize("actor", ["viewer_wusu", "staff_wusu"])
def test_viewers_and_staff_create_nobody(client, cast, actor):
    response = client.post(
        "/api/v1/users",
        headers=bearer(getattr(cast, actor)),
        json={"username": "someone", "password": "long-enough-1", "role": "org_staff", "org_id": cast.wusu_org.id},
    )
    assert response.status_code == 403


def test_can_grant_rules():
    admin = User(role=Role.ADMIN)
    viewer = User(role=Role.VIEWER, region_code=WUSU)
    staff = User(role=Role.ORG_STAFF)
    assert access.can_grant(admin, Role.ADMIN, None, None)
    assert not access.can_grant(viewer, Role.VIEWER, WUSU, None)
    assert not access.can_grant(staff, Role.ORG_STAFF, None, None)


# --- the same rules on the web pages -----------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
def test_web_org_and_user_pages_follow_the_scope(client, cast, actor):
    from tests.conftest import login

    user = getattr(cast, actor)
    assert login(client, user).status_code == 302
    for target in sorted(ORG_VIEW):
        org = getattr(cast, target)
        before = (org.name, org.headcount, org.version)
        assert client.get(f"/orgs/{org.id}").status_code == (200 if ORG_VIEW[target][actor] else 404)
        edit = client.post(
            f"/orgs/{org.id}/edit",
            data={"name": "改名", "kind": "school", "region_code": org.region_code, "headcount": "1"},
        )
        expected = 302 if ORG_MANAGE[target][actor] else (403 if ORG_VIEW[target][actor] else 404)
        assert edit.status_code == expected, (actor, target, edit.status_code)
        if expected != 302:
            db.session.expire_all()
            assert (org.name, org.headcount, org.version) == before
    may_manage_users = actor in ("admin", "coord_wusu", "coord_shawan")
    assert client.get("/users").status_code == (200 if may_manage_users else 403)
    for target in sorted(USER_VIEW):
        other = getattr(cast, target)
        page = client.get(f"/users/{other.id}")
        if USER_MANAGE[target][actor]:
            assert page.status_code == 200
        else:
            assert page.status_code in (403, 404), (actor, target, page.status_code)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Organisation))
    created = client.post(
        "/orgs/new",
        data={"name": f"网页新建{actor}", "kind": "school", "region_code": cast.township.code, "headcount": "10"},
    )
    may_create = actor in ("admin", "coord_wusu")
    assert created.status_code == (302 if may_create else (200 if actor == "coord_shawan" else 403)), (
        actor,
        created.status_code,
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)) == count + may_create


def test_findings_follow_their_drill_also_in_a_query_that_reads_drills(make_org, make_user, make_drill):
    """finding_clause asks for the finding's own drill (EXISTS, correlated with findings alone): joined
    with drills, or not, a coordinator gets the findings of their region's drills and no other's."""
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    ours = make_drill(organizer=make_org(region_code=WUSU))
    theirs = make_drill(organizer=make_org(region_code=SHAWAN))
    for drill in (ours, theirs):
        db.session.add(
            Finding(
                drill_id=drill.id,
                region_code=drill.region_code,
                summary=f"发现{drill.id}",
                severity=Severity.MAJOR,
                category=FindingCategory.EQUIPMENT,
                found_on=date(2026, 3, 1),
            )
        )
    db.session.flush()
    alone = db.session.scalars(sa.select(Finding.drill_id).where(access.finding_clause(coordinator))).all()
    joined = db.session.execute(
        sa.select(Finding.drill_id, Drill.title)
        .join(Drill, Drill.id == Finding.drill_id)
        .where(access.finding_clause(coordinator))
    ).all()
    assert alone == [ours.id]
    assert [(drill_id, title) for drill_id, title in joined] == [(ours.id, ours.title)]


def test_the_drills_compliance_counts_are_the_union_of_its_disjoint_parts(
    make_org, make_user, make_drill, make_readers
):
    """compliance_drill_parts() splits what compliance_drill_clause() admits, for every role: secret drills of a
    unit, of a county and of another county, with an evaluator, and drills not secret."""
    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    school = make_org(name="乌苏市分部学校", kind=OrgKind.SCHOOL, region_code=WUSU)
    evaluator = make_user(role=Role.VIEWER, region_code=PREFECTURE)
    blind = {"form": DrillForm.TABLETOP, "double_blind": True}
    make_drill(organizer=school, starts_at=now - timedelta(days=3), **blind)  # started
    make_drill(organizer=school, starts_at=now + timedelta(days=3), **blind)
    make_drill(organizer=WUSU, starts_at=now + timedelta(days=4), **blind)
    make_drill(organizer=SHAWAN, starts_at=now + timedelta(days=5), evaluators=[evaluator], **blind)
    make_drill(organizer=SHAWAN, starts_at=now + timedelta(days=6), **blind)
    make_drill(organizer=school, starts_at=now + timedelta(days=7))
    readers = [*make_readers(school, evaluator), access.SYSTEM]
    every = set(db.session.scalars(sa.select(Drill.id)))

    def ids(clause) -> set[int]:
        return set(db.session.scalars(sa.select(Drill.id).where(clause)))

    hidden_counts = []
    for reader in readers:
        counted = ids(access.compliance_drill_clause(reader, now))
        parts = [ids(part) for part in access.compliance_drill_parts(reader, now)]
        assert set().union(*parts) == counted and sum(len(part) for part in parts) == len(counted), reader
        hidden_counts.append(len(every - counted))
    # admin; Wusu's coordinator (Shawan's two); Wusu's viewer (all four); the school's staff (all but its own);
    # the evaluator (all but the one they evaluate); a job.
    assert hidden_counts == [0, 2, 4, 3, 3, 0]
