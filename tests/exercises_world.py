"""A small world for the exercise tests: a double-blind tabletop in 乌苏市 two days ahead, organised by one
unit, played by another, evaluated by someone of a third; a user of every role, and outsiders."""

from dataclasses import dataclass

import pytest

from drillmgr.enums import Condition, DrillForm, DrillScope, Focus, Role
from drillmgr.extensions import db
from tests.conftest import SHAWAN, WUSU, at, issue_kept_token


@dataclass
class World:
    organiser_org: object
    player_org: object
    outsider_org: object
    admin: object
    coordinator: object
    other_coordinator: object
    organiser: object
    player: object
    outsider: object
    evaluator: object
    viewer: object
    drill: object

    def headers(self, user) -> dict:
        return {"Authorization": f"Bearer {issue_kept_token(user)}", "Accept-Language": "en"}


@pytest.fixture
def world(make_org, make_user, make_drill):
    organiser_org, player_org = make_org(region_code=WUSU), make_org(region_code=WUSU)
    outsider_org = make_org(region_code=WUSU)
    evaluator = make_user(role=Role.ORG_STAFF, org=outsider_org)
    drill = make_drill(
        organizer=organiser_org,
        starts_at=at(days=2),
        form=DrillForm.TABLETOP,
        scope=DrillScope.COMPREHENSIVE,
        double_blind=True,
        participants=[player_org],
        evaluators=[evaluator],
        focus=[Focus.COMMAND_POST, Focus.COMMAND_COMMS],
        conditions=[Condition.NIGHT.value, Condition.POWER_CUT.value],
        location="乌苏市人民广场",
    )
    make_org(region_code=SHAWAN)
    world = World(
        organiser_org=organiser_org,
        player_org=player_org,
        outsider_org=outsider_org,
        admin=make_user(role=Role.ADMIN),
        coordinator=make_user(role=Role.COORDINATOR, region_code=WUSU),
        other_coordinator=make_user(role=Role.COORDINATOR, region_code=SHAWAN),
        organiser=make_user(role=Role.ORG_STAFF, org=organiser_org),
        player=make_user(role=Role.ORG_STAFF, org=player_org),
        outsider=make_user(role=Role.ORG_STAFF, org=outsider_org),
        evaluator=evaluator,
        viewer=make_user(role=Role.VIEWER, region_code=WUSU),
        drill=drill,
    )
    db.session.commit()
    return world


def objective_data(**overrides) -> dict:
    data = {
        "text": "30分钟内完成现场指挥部搭建",
        "measure": "以指挥部开设报告时间为准",
        "focus": ["command_post"],
        "plan": "乌苏市地震应急预案（2024）",
    }
    return data | overrides


def inject_data(offset=0, **overrides) -> dict:
    data = {
        "offset_minutes": offset,
        "sender": "地震台网",
        "recipient": "现场指挥部",
        "message": f"第{offset}分钟：余震发生",
        "expected_action": "组织人员清点",
    }
    return data | overrides
