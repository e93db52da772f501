"""Roles × resources: who sees and who changes activities, demonstration sites and checklist runs."""

from datetime import date

import pytest
from tests.conftest import SHAWAN, WUSU

from drillmgr.access import services as access
from drillmgr.checklists import runs
from drillmgr.checklists.models import ChecklistRun
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.outreach import activities, sites
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity

YEAR = date.today().year - 1  # a year wholly past: activities are recorded once held
ROLES = ("admin", "wusu_coordinator", "shawan_coordinator", "wusu_viewer", "school_staff", "other_staff")
RESOURCES = ("school_activity", "wusu_activity", "shawan_activity", "wusu_site", "school_run")
# (role, resource): (sees, changes)
EXPECTED = {
    "admin": {r: (True, True) for r in RESOURCES},
    "wusu_coordinator": {
        "school_activity": (True, True),
        "wusu_activity": (True, True),
        "shawan_activity": (False, False),
        "wusu_site": (True, True),
        "school_run": (True, True),
    },
    "shawan_coordinator": {
        "school_activity": (False, False),
        "wusu_activity": (False, False),
        "shawan_activity": (True, True),
        "wusu_site": (False, False),
        "school_run": (False, False),
    },
    "wusu_viewer": {
        "school_activity": (True, False),
        "wusu_activity": (True, False),
        "shawan_activity": (False, False),
        "wusu_site": (True, False),
        "school_run": (True, False),
    },
    "school_staff": {
        "school_activity": (True, True),
        "wusu_activity": (False, False),
        "shawan_activity": (False, False),
        "wusu_site": (True, False),
        "school_run": (True, True),
    },
    "other_staff": {r: (False, False) for r in RESOURCES},
}


@pytest.fixture
def world(app, _transaction, make_user, make_org):
    with app.test_request_context():
        school = make_org(region_code=WUSU)
        other = make_org(region_code=WUSU)
        users = {
            "admin": make_user(role=Role.ADMIN),
            "wusu_coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
            "shawan_coordinator": make_user(role=Role.COORDINATOR, region_code=SHAWAN),
            "wusu_viewer": make_user(role=Role.VIEWER, region_code=WUSU),
            "school_staff": make_user(org=school),
            "other_staff": make_user(org=other),
        }

        def activity(region, org=None):
            return activities.create_activity(
                users["admin"],
                {
                    "kind": "theme_activity",
                    "title": "地震科普 携手同行",
                    "held_on": f"{YEAR}-06-01",
                    "region_code": region,
                    "organizer_org_id": org,
                },
            )

        resources = {
            "school_activity": activity(WUSU, school.id),
            "wusu_activity": activity(WUSU),
            "shawan_activity": activity(SHAWAN),
            "wusu_site": sites.create_site(
                users["admin"],
                {"kind": "school", "name": "示范学校", "region_code": WUSU, "org_id": school.id, "year": YEAR},
            ),
            "school_run": runs.start_readiness_run(users["school_staff"], school),
        }
        yield users, resources


def sees(user, name, resource) -> bool:
    if isinstance(resource, OutreachActivity):
        listed = resource in db.session.scalars(activities.activity_query(user)).all()
        assert listed == access.can_view_outreach(user, resource), name
        return listed
    if isinstance(resource, DemonstrationSite):
        listed = resource in db.session.scalars(sites.site_query(user)).all()
        assert listed == access.can_view_site(user, resource), name
        return listed
    assert isinstance(resource, ChecklistRun)
    listed = resource in db.session.scalars(runs.run_query(user)).all()
    assert listed == access.can_view_checklist_run(user, resource), name
    return listed


def changes(user, resource) -> bool:
    if isinstance(resource, OutreachActivity):
        return access.can_edit_outreach(user, resource)
    if isinstance(resource, DemonstrationSite):
        return access.can_manage_sites(user, resource.region_code)
    return access.can_fill_checklist_run(user, resource)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, role):
    users, resources = world
    user = users[role]
    got = {name: (sees(user, name, resource), changes(user, resource)) for name, resource in resources.items()}
    assert got == EXPECTED[role]
