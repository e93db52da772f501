"""The dashboard's monthly chart: counted over the drills a reader may count, part by part."""

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.compliance import dashboard
from drillmgr.compliance.subjects import subtree_list
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillForm, DrillStatus, OrgKind, Role
from drillmgr.extensions import db
from drillmgr.localtime import local_today
from tests.conftest import PREFECTURE, SHAWAN, WUSU

BJ = ZoneInfo("Asia/Shanghai")
YEAR = 2026


def bj(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(YEAR, month, day, hour, tzinfo=BJ)


def months_counted_one_by_one(user, region_codes: list[str], now: datetime) -> list[tuple[int, int]]:
    """(completed, planned) per month of the drills compliance_drill_clause() lets `user` count, drill by drill."""
    drills = db.session.scalars(
        sa.select(Drill).where(
            Drill.region_code.in_(region_codes),
            Drill.status != DrillStatus.CANCELLED,
            access.compliance_drill_clause(user, now),
        )
    )
    counts = Counter((local_today(d.starts_at).month, d.status) for d in drills if d.starts_at.year == YEAR)
    return [(counts[(m, DrillStatus.COMPLETED)], counts[(m, DrillStatus.PLANNED)]) for m in range(1, 13)]


def test_the_monthly_chart_counts_for_each_reader_what_they_may_count_and_no_secret_drill(
    make_user, make_org, make_drill, make_readers
):
    school = make_org(name="乌苏市图表学校", kind=OrgKind.SCHOOL, region_code=WUSU)
    shawan_school = make_org(name="沙湾市图表学校", kind=OrgKind.SCHOOL, region_code=SHAWAN)
    evaluator = make_user(role=Role.VIEWER, region_code=PREFECTURE)
    readers = make_readers(school, evaluator)
    now = bj(6, 1)
    for month, status in ((1, DrillStatus.COMPLETED), (3, DrillStatus.COMPLETED), (3, DrillStatus.PLANNED)):
        make_drill(organizer=school, starts_at=bj(month, 12), status=status)
    make_drill(organizer=shawan_school, starts_at=bj(3, 5), status=DrillStatus.COMPLETED)
    make_drill(organizer=school, starts_at=bj(4, 2), status=DrillStatus.CANCELLED)
    # Double-blind: started (counted by all), and secret ones by a unit, by a county, by Shawan, with an evaluator.
    tabletop = {"form": DrillForm.TABLETOP, "double_blind": True, "status": DrillStatus.PLANNED}
    make_drill(organizer=school, starts_at=bj(5, 20), **tabletop)
    make_drill(organizer=school, starts_at=bj(7, 1), **tabletop)
    make_drill(organizer=WUSU, starts_at=bj(8, 1), **tabletop)
    make_drill(organizer=shawan_school, starts_at=bj(9, 1), **tabletop)
    make_drill(organizer=SHAWAN, starts_at=bj(10, 1), evaluators=[evaluator], **tabletop)
    make_drill(organizer=SHAWAN, starts_at=bj(12, 31, 23), **tabletop)  # the last hour of the year
    for region in (WUSU, SHAWAN, PREFECTURE):
        codes = subtree_list(region)
        for user in readers:
            shown = dashboard.monthly_completion(user, codes, YEAR, now)
            expected = months_counted_one_by_one(user, codes, now)
            assert [(m["completed"], m["planned"]) for m in shown] == expected, (region, user.role)
    everything = dashboard.monthly_completion(readers[0], subtree_list(PREFECTURE), YEAR, now)
    viewer_sees = dashboard.monthly_completion(readers[2], subtree_list(PREFECTURE), YEAR, now)
    assert [m["planned"] for m in everything][6:] == [1, 1, 1, 1, 0, 1]
    assert [m["planned"] for m in viewer_sees][6:] == [0, 0, 0, 0, 0, 0]  # secret to a viewer, even by month
    # Once they have started, every reader counts them.
    later = now + timedelta(days=365)
    assert dashboard.monthly_completion(readers[2], subtree_list(PREFECTURE), YEAR, later) == everything
