"""Recurrence rules that cannot stall the site: checked part by part, expanded lazily, capped."""

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.access.services import SYSTEM
from drillmgr.drills import recurrence
from drillmgr.drills.rules import MAX_OCCURRENCES_PER_RUN, SERIES_HORIZON_DAYS
from drillmgr.drills.series import create_series, materialize_all, materialize_series
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.enums import OrgKind, Role
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from tests.conftest import WUSU, login, token_for

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 1, 0, 0, tzinfo=timezone.utc)
START = datetime(2026, 3, 16, 10, 0, tzinfo=BEIJING)  # a Monday

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU)


@pytest.fixture
def staff(make_user, school):
    return make_user(role=Role.ORG_STAFF, org=school)


def payload(school, rule, start=START) -> dict:
    return {
        "title": "每周演练",
        "form": "evacuation",
        "organizer_org_id": school.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=45)).isoformat(),
        "rrule": rule,
    }


def drill_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Drill))


HOSTILE = {
    "FREQ=DAILY;INTERVAL=0": "INTERVAL must be a whole number from 1 to 1000.",
    "FREQ=DAILY;INTERVAL=-1": "INTERVAL must be a whole number from 1 to 1000.",
    "FREQ=WEEKLY;INTERVAL=99999999999999999999": "INTERVAL must be a whole number from 1 to 1000.",
    "FREQ=DAILY;COUNT=0": "COUNT must be a whole number from 1 to 1000.",
    "FREQ=DAILY;BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60))): "Too many combinations of BY… values: at most 366.",
    "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))): "more than 60 drills a year",
    "FREQ=DAILY": "more than 60 drills a year",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30": "This rule has no occurrence.",
    "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31": "This rule has no occurrence.",
    "FREQ=DAILY;BYHOUR=1,2;BYSETPOS=5": "This rule has no occurrence.",
    "FREQ=DAILY;INTERVAL=7;BYDAY=TU": "This rule has no occurrence.",
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=6": "This rule has no occurrence.",
    "FREQ=MONTHLY;COUNT=3;UNTIL=20270101": "Give COUNT or UNTIL, not both.",
    "FREQ=MONTHLY;UNTIL=20260101": "UNTIL is before the first drill.",
    "FREQ=MONTHLY;UNTIL=20261301": "UNTIL must be a date",
    "FREQ=MONTHLY;BYEASTER=0": "Not a valid RFC 5545 recurrence rule",
    "FREQ=MONTHLY;FREQ=DAILY": "FREQ is given twice.",
    "FREQ=MONTHLY;BYMONTHDAY=15\x00": "Not a valid RFC 5545 recurrence rule",
}


@pytest.mark.parametrize("rule", list(HOSTILE))
def test_a_hostile_rule_is_refused_at_once_naming_rrule(staff, school, rule):
    before = drill_count()
    started = time.perf_counter()
    with pytest.raises(ValidationError) as error:
        create_series(staff, payload(school, rule), now=NOW)
    elapsed = time.perf_counter() - started
    assert HOSTILE[rule] in " ".join(error.value.errors["rrule"])
    assert elapsed < 1.0, f"{rule} took {elapsed:.1f} s"
    assert drill_count() == before


def test_a_plain_date_until_is_the_end_of_that_day_in_beijing(staff, school):
    series = create_series(staff, payload(school, "FREQ=WEEKLY;UNTIL=20260330"), now=NOW)
    assert series.rrule == "FREQ=WEEKLY;UNTIL=20260330T155959Z"
    days = [
        d.starts_at.astimezone(BEIJING).day
        for d in db.session.scalars(sa.select(Drill).where(Drill.series_id == series.id).order_by(Drill.starts_at))
    ]
    assert days == [16, 23, 30]
    floating = create_series(staff, payload(school, "rrule:freq=weekly;until=20260323T100000"), now=NOW)
    assert floating.rrule == "FREQ=WEEKLY;UNTIL=20260323T020000Z"


def test_one_request_creates_at_most_the_cap_and_the_nightly_job_the_rest(staff, school):
    start = datetime(2024, 1, 1, 10, 0, tzinfo=BEIJING)  # weekly from two years before now to a year after: 162
    series = create_series(staff, payload(school, "FREQ=WEEKLY", start=start), now=NOW)
    made = db.session.scalars(
        sa.select(Drill.starts_at).where(Drill.series_id == series.id).order_by(Drill.starts_at)
    ).all()
    assert len(made) == MAX_OCCURRENCES_PER_RUN == 100
    assert made[0] == start and made[-1] == start + timedelta(weeks=99)
    horizon = NOW + timedelta(days=SERIES_HORIZON_DAYS)
    assert len(materialize_series(SYSTEM, series.id, horizon, NOW)) == 62
    assert materialize_series(SYSTEM, series.id, horizon, NOW) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill).where(Drill.series_id == series.id)) == 162


def test_a_rule_that_stops_matching_ends_the_series_without_stalling():
    # 29 February on a Monday: 2044, then 2072 — materialising a year between finds nothing, quickly.
    started = time.perf_counter()
    found = list(
        recurrence.iterate(
            "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
            datetime(2044, 2, 29, 10, tzinfo=BEIJING),
            datetime(2050, 1, 1, tzinfo=BEIJING),
        )
    )
    assert [d.astimezone(BEIJING).date().isoformat() for d in found] == ["2044-02-29"]
    assert time.perf_counter() - started < 0.5


def test_normal_rules_are_kept_as_given():
    for rule in (
        "FREQ=MONTHLY;BYMONTHDAY=15",
        "FREQ=MONTHLY;BYMONTH=3,4,5,6,9,10,11,12",
        "FREQ=MONTHLY;INTERVAL=6",
        "FREQ=WEEKLY;COUNT=3",
        "FREQ=YEARLY;BYMONTH=5;BYDAY=2FR",
    ):
        assert recurrence.check(rule, START) == rule


def test_api_refuses_a_stalling_rule_with_a_422_problem_naming_rrule(client, staff, school):
    headers = token_for(client, staff)
    started = time.perf_counter()
    response = client.post("/api/v1/drill-series", headers=headers, json=payload(school, "FREQ=DAILY;INTERVAL=0"))
    assert time.perf_counter() - started < 2
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]["rrule"] == ["INTERVAL 须为 1 至 1000 之间的整数。"]
    bad = client.post(
        "/api/v1/drill-series",
        headers=headers | {"Accept-Language": "en"},
        json=payload(school, "FREQ=DAILY;BYHOUR=0,1,2,3;BYMINUTE=0,15,30,45"),
    )
    assert bad.status_code == 422 and "more than 60 drills a year" in bad.get_json()["errors"]["rrule"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DrillSeries)) == 0


def test_web_form_shows_the_rule_error_on_the_field(client, staff, school):
    login(client, staff)
    response = client.post(
        "/drills/new",
        data={
            "title": "每日演练",
            "form": "evacuation",
            "scope": "single",
            "joint_with": "none",
            "organizer": f"org:{school.id}",
            "region_code": WUSU,
            "starts_at": "2026-12-07T10:00",
            "ends_at": "2026-12-07T10:45",
            "repeat": "custom",
            "rrule": "FREQ=DAILY;INTERVAL=-1",
        },
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    group = html.split('id="rrule-group"', 1)[1].split("</div>", 2)
    assert "is-invalid" in "".join(group[:2]) and "INTERVAL 须为 1 至 1000 之间的整数。" in "".join(group[:2])
    assert drill_count() == 0


def test_a_rule_stored_before_rules_were_checked_makes_no_more_drills(staff, school):
    series = create_series(staff, payload(school, "FREQ=WEEKLY"), now=NOW, horizon=START)
    series.rrule = "FREQ=DAILY;BYHOUR=" + ",".join(map(str, range(24))) + ";BYMINUTE=" + ",".join(map(str, range(60)))
    db.session.commit()
    started = time.perf_counter()
    assert materialize_all(SYSTEM, NOW + timedelta(days=366), now=NOW) == 0
    assert time.perf_counter() - started < 1
