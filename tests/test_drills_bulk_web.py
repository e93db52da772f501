"""The pages of issue 14 point 5: plan for many units (preview, create once, summary), series presets with an
end, the series preview with flags, "cancel this and all following", "end the series here", the picker."""

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.drills.series import create_series
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.extensions import db
from tests.conftest import SHAWAN, WUSU

BEIJING = ZoneInfo("Asia/Shanghai")


def sign_in(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["lang"] = "en"


@pytest.fixture
def world(make_region, make_org, make_user):
    town = make_region(name="测试甲镇")
    other_town = make_region(name="测试乙镇")
    schools = [make_org(name=f"甲镇第{n}小学", region_code=town.code) for n in range(1, 4)]
    kindergarten = make_org(name="甲镇幼儿园", kind=OrgKind.KINDERGARTEN, region_code=town.code)
    other = make_org(name="乙镇第1小学", region_code=other_town.code)
    return {
        "town": town,
        "other_town": other_town,
        "schools": schools,
        "kindergarten": kindergarten,
        "other": other,
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "staff": make_user(role=Role.ORG_STAFF, org=schools[0]),
    }


def bulk_data(town, **fields) -> dict:
    return {
        "mode": "per_unit",
        "region_code": town.code,
        "kinds": ["school"],
        "title": "秋季疏散演练",
        "form": "evacuation",
        "scope": "single",
        "joint_with": "none",
        "starts_at": "2030-10-01T10:00",
        "ends_at": "2030-10-01T10:40",
        "location": "操场",
        "repeat": "",
    } | fields


def token(html: str) -> str:
    return re.search(r'name="preview_token" value="([0-9a-f]{64})"', html).group(1)


def count_drills() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Drill))


def test_bulk_preview_create_once_and_summary(client, world):
    sign_in(client, world["coordinator"])
    page = client.get("/drills/bulk")
    assert page.status_code == 200 and f'value="{WUSU}" selected' in page.get_data(as_text=True).replace(
        f'selected value="{WUSU}"', f'value="{WUSU}" selected'
    )
    data = bulk_data(world["town"])
    preview = client.post("/drills/bulk", data=data)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and count_drills() == 0
    assert "3 drills for 3 units (1 each), each organised by its unit." in html
    assert "Public holiday: National Day" in html  # 1 October 2030
    assert "甲镇第1小学" in html and "甲镇幼儿园" not in html and "乙镇第1小学" not in html
    key_field = re.search(r'name="submission_key" value="([0-9a-f]{32})"', html).group(1)
    confirmed = data | {"preview_token": token(html), "submission_key": key_field}
    created = client.post("/drills/bulk", data=confirmed)
    assert created.status_code == 302 and "/drills/batches/" in created.headers["Location"]
    assert count_drills() == 3
    again = client.post("/drills/bulk", data=confirmed)  # a double tap: the same key
    assert again.status_code == 302 and again.headers["Location"] == created.headers["Location"]
    assert count_drills() == 3
    summary = client.get(created.headers["Location"]).get_data(as_text=True)
    assert "3 drills for 3 units in 测试甲镇" in summary
    assert summary.count('data-org-id="') == 3


def test_bulk_changed_input_is_previewed_again(client, world):
    sign_in(client, world["coordinator"])
    html = client.post("/drills/bulk", data=bulk_data(world["town"])).get_data(as_text=True)
    changed = client.post(
        "/drills/bulk", data=bulk_data(world["town"], kinds=["school", "kindergarten"]) | {"preview_token": token(html)}
    )
    assert changed.status_code == 200 and count_drills() == 0
    assert "4 drills for 4 units" in changed.get_data(as_text=True)


def test_bulk_joint_with_term_preset(client, world):
    sign_in(client, world["coordinator"])
    data = bulk_data(
        world["town"], mode="joint", repeat="TERM:AUTUMN", starts_at="2030-09-10T10:00", ends_at="2030-09-10T11:00"
    )
    html = client.post("/drills/bulk", data=data).get_data(as_text=True)
    assert "One joint drill organised by 测试甲镇 with 3 participating units" in html
    response = client.post("/drills/bulk", data=data | {"preview_token": token(html)})
    assert response.status_code == 302
    series = db.session.scalar(sa.select(DrillSeries))
    assert series.rrule == "FREQ=MONTHLY;BYMONTH=9,10,11,12;UNTIL=20301231T155959Z"
    drills = db.session.scalars(sa.select(Drill).order_by(Drill.starts_at)).all()
    assert [d.starts_at.astimezone(BEIJING).date() for d in drills] == [
        date(2030, 9, 10),
        date(2030, 10, 10),
        date(2030, 11, 10),
        date(2030, 12, 10),
    ]
    assert all(sorted(o.id for o in d.participants) == sorted(o.id for o in world["schools"]) for d in drills)


def test_bulk_page_scope(client, world, make_user):
    sign_in(client, world["staff"])
    assert client.get("/drills/bulk").status_code == 403
    assert client.post("/drills/bulk", data=bulk_data(world["town"])).status_code == 403
    shawan = make_user(role=Role.COORDINATOR, region_code=SHAWAN)
    sign_in(client, shawan)
    response = client.post("/drills/bulk", data=bulk_data(world["town"]))
    assert response.status_code == 200 and count_drills() == 0
    assert "You cannot plan drills in this region." in response.get_data(as_text=True)


def test_series_presets_take_an_end_and_until_as_a_date(client, world):
    sign_in(client, world["staff"])
    school = world["schools"][0]
    base = {
        "title": "每周演练",
        "form": "evacuation",
        "scope": "single",
        "joint_with": "none",
        "organizer": f"org:{school.id}",
        "region_code": "",
        "starts_at": "2030-03-04T10:00",
        "ends_at": "2030-03-04T10:30",
        "apply_to": "this",
    }
    for extra, expected_rule, n in (
        ({"repeat": "FREQ=WEEKLY", "repeat_until": "2030-03-25"}, "FREQ=WEEKLY;UNTIL=20300325T155959Z", 4),
        ({"repeat": "FREQ=MONTHLY", "repeat_count": "3"}, "FREQ=MONTHLY;COUNT=3", 3),
        ({"repeat": "TERM:SPRING"}, "FREQ=MONTHLY;BYMONTH=3,4,5,6;UNTIL=20300630T155959Z", 4),
        ({"repeat": "custom", "rrule": "FREQ=WEEKLY;UNTIL=20300311"}, "FREQ=WEEKLY;UNTIL=20300311T155959Z", 2),
    ):
        data = base | extra
        html = client.post("/drills/new", data=data).get_data(as_text=True)
        assert f"<code>{expected_rule}</code>" in html and f"Drills created now: {n}." in html, extra
        assert client.post("/drills/new", data=data | {"preview_token": token(html)}).status_code == 302
        series = db.session.scalar(sa.select(DrillSeries).order_by(DrillSeries.id.desc()))
        assert series.rrule == expected_rule
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill).where(Drill.series_id == series.id)) == n
    both = client.post(
        "/drills/new", data=base | {"repeat": "FREQ=WEEKLY", "repeat_until": "2030-03-25", "repeat_count": "3"}
    )
    assert "Give COUNT or UNTIL, not both." in both.get_data(as_text=True)


def test_a_mistyped_rule_is_previewed_with_its_weekends_not_made(client, world):
    sign_in(client, world["staff"])
    school = world["schools"][0]
    data = {
        "title": "每日",
        "form": "evacuation",
        "scope": "single",
        "joint_with": "none",
        "organizer": f"org:{school.id}",
        "region_code": "",
        "starts_at": "2030-10-01T10:00",
        "ends_at": "2030-10-01T10:30",
        "apply_to": "this",
        "repeat": "custom",
        "rrule": "FREQ=WEEKLY;BYDAY=SA",
    }
    html = client.post("/drills/new", data=data).get_data(as_text=True)
    assert count_drills() == 0 and 'id="preview-flagged"' in html
    assert html.count('data-kind="weekend"') >= 40 and 'data-kind="holiday"' in html  # 5 October 2030


@pytest.fixture
def series(world):
    start = datetime(2030, 3, 15, 10, 0, tzinfo=BEIJING)
    made = create_series(
        world["staff"],
        {
            "title": "每月演练",
            "form": "evacuation",
            "organizer_org_id": world["schools"][0].id,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(),
            "rrule": "FREQ=MONTHLY;COUNT=5",
        },
        now=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )
    db.session.commit()
    return made


def _occurrences(series_id):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Drill).where(Drill.series_id == series_id).order_by(Drill.starts_at)))


def test_cancel_following_page_and_no_rescheduled_badge_on_cancelled(client, world, series):
    sign_in(client, world["staff"])
    drills = _occurrences(series.id)
    detail = client.get(f"/drills/{drills[1].id}").get_data(as_text=True)
    assert 'id="cancel-following"' in detail and 'id="end-series"' in detail
    page = client.get(f"/drills/{drills[1].id}/cancel-following").get_data(as_text=True)
    assert "Drills cancelled: 4" in page
    response = client.post(
        f"/drills/{drills[1].id}/cancel-following", data={"reason": "场地维修", "version": str(drills[1].version)}
    )
    assert response.status_code == 302
    assert [d.status for d in _occurrences(series.id)] == [DrillStatus.PLANNED] + [DrillStatus.CANCELLED] * 4
    cancelled = client.get(f"/drills/{drills[2].id}").get_data(as_text=True)
    assert "rescheduled" not in cancelled and "场地维修" in cancelled


def test_end_series_page_with_a_stale_version(client, world, series):
    sign_in(client, world["staff"])
    drills = _occurrences(series.id)
    stale = client.post(f"/drills/{drills[2].id}/end-series", data={"version": str(drills[2].version + 5)})
    assert stale.status_code == 200 and 'id="conflict"' in stale.get_data(as_text=True)
    assert all(d.status == DrillStatus.PLANNED for d in _occurrences(series.id))
    done = client.post(f"/drills/{drills[2].id}/end-series", data={"version": str(drills[2].version)})
    assert done.status_code == 302
    assert [d.status for d in _occurrences(series.id)] == [DrillStatus.PLANNED] * 3 + [DrillStatus.CANCELLED] * 2


def test_picker_lists_units_with_township_and_kind(client, world):
    sign_in(client, world["coordinator"])
    html = client.get("/drills/new").get_data(as_text=True)
    assert 'id="picker-search"' in html
    assert re.search(rf'data-name="甲镇第1小学" data-kind="school" data-township="{world["town"].code}"', html)
    assert f'<option value="{world["town"].code}">测试甲镇</option>' in html
    assert client.get("/drills/day-flags?day=2026-10-10").get_json()["flags"][0]["kind"] == "adjusted_workday"
    assert client.get("/drills/day-flags?day=nope").status_code == 422
