"""A small world for the findings tests: two units in 乌苏市, one in 沙湾市, a user of every role,
and a completed drill organised by the first unit."""

from dataclasses import dataclass

import pytest

from drillmgr.enums import DrillStatus, Role
from tests.conftest import SHAWAN, WUSU, at, issue_kept_token, local_day


@dataclass
class World:
    org_a: object
    org_b: object
    org_c: object
    admin: object
    coordinator: object
    other_coordinator: object
    staff: object
    colleague: object
    other_staff: object
    viewer: object
    drill: object

    def headers(self, user) -> dict:
        return {"Authorization": f"Bearer {issue_kept_token(user)}", "Accept-Language": "en"}


@pytest.fixture
def world(make_org, make_user, make_drill):
    org_a, org_b = make_org(region_code=WUSU), make_org(region_code=WUSU)
    org_c = make_org(region_code=SHAWAN)
    drill = make_drill(organizer=org_a, starts_at=at(days=-3), status=DrillStatus.COMPLETED)
    return World(
        org_a=org_a,
        org_b=org_b,
        org_c=org_c,
        admin=make_user(role=Role.ADMIN),
        coordinator=make_user(role=Role.COORDINATOR, region_code=WUSU),
        other_coordinator=make_user(role=Role.COORDINATOR, region_code=SHAWAN),
        staff=make_user(role=Role.ORG_STAFF, org=org_a),
        colleague=make_user(role=Role.ORG_STAFF, org=org_a),
        other_staff=make_user(role=Role.ORG_STAFF, org=org_b),
        viewer=make_user(role=Role.VIEWER, region_code=WUSU),
        drill=drill,
    )


def finding_data(owner, due_days=14, **overrides) -> dict:
    data = {
        "summary": "疏散通道堵塞",
        "severity": "major",
        "category": "facility",
        "corrective_action": {
            "description": "清理二楼东侧通道",
            "owner": owner.id,
            "due_on": local_day(due_days).isoformat(),
        },
    }
    data.update(overrides)
    return data


def let_time_pass(finding, due_days: int):
    """The finding was recorded a month ago, its action due `due_days` from today (negative: overdue):
    a new action can no longer be given a past due date, so overdue ones come from the passing of time."""
    from drillmgr.extensions import db

    finding.created_at = at(days=-30)
    finding.corrective_action.due_on = local_day(due_days)
    db.session.commit()
    return finding
