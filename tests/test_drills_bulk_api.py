"""Plans for many units, series previews and series ends over the API: values, scope, Idempotency-Key,
stale versions, and the documented answers."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.access.services import SYSTEM
from drillmgr.drills.series import create_series, materialize_series
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.enums import DrillStatus, Role
from drillmgr.extensions import db
from tests.conftest import SHAWAN, WUSU, issue_kept_token

BEIJING = ZoneInfo("Asia/Shanghai")


def auth(user, **headers) -> dict:
    return {"Authorization": f"Bearer {issue_kept_token(user)}", "Accept-Language": "en"} | headers


@pytest.fixture
def world(make_region, make_org, make_user):
    town = make_region(name="测试甲镇")
    schools = [make_org(name=f"甲镇第{n}小学", region_code=town.code) for n in range(1, 4)]
    return {
        "town": town,
        "schools": schools,
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "shawan": make_user(role=Role.COORDINATOR, region_code=SHAWAN),
        "staff": make_user(role=Role.ORG_STAFF, org=schools[0]),
        "admin": make_user(role=Role.ADMIN),
    }


def plan(**fields) -> dict:
    start = datetime.now(BEIJING).replace(microsecond=0, second=0) + timedelta(days=30)
    return {
        "mode": "per_unit",
        "region_code": WUSU,
        "kinds": ["school"],
        "title": "联合疏散演练",
        "form": "evacuation",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=40)).isoformat(),
    } | fields


def drill_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Drill))


def test_preview_then_create_with_an_idempotency_key(client, world):
    headers = auth(world["coordinator"])
    preview = client.post("/api/v1/drill-batch-preview", json=plan(rrule="FREQ=MONTHLY;COUNT=3"), headers=headers)
    assert preview.status_code == 200
    assert preview.json["drills"] == 9 and preview.json["series"] == 3 and preview.json["total_per_series"] == 3
    assert [u["name"] for u in preview.json["units"]] == ["甲镇第1小学", "甲镇第2小学", "甲镇第3小学"]
    assert drill_count() == 0
    headers = auth(world["coordinator"], **{"Idempotency-Key": "batch-1"})
    first = client.post("/api/v1/drill-batches", json=plan(rrule="FREQ=MONTHLY;COUNT=3"), headers=headers)
    assert first.status_code == 201, first.json
    assert first.json["drills"] == 9 and len(first.json["series_ids"]) == 3
    assert first.headers["Location"].endswith(f"/api/v1/drill-batches/{first.json['key']}")
    again = client.post("/api/v1/drill-batches", json=plan(rrule="FREQ=MONTHLY;COUNT=3"), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["key"] == first.json["key"] and drill_count() == 9
    got = client.get(first.headers["Location"], headers=auth(world["coordinator"]))
    assert got.status_code == 200 and sorted(got.json["drill_ids"]) == sorted(first.json["drill_ids"])
    assert client.get(first.headers["Location"], headers=auth(world["shawan"])).status_code == 404
    assert client.get("/api/v1/drill-batches/" + "x" * 5000, headers=auth(world["admin"])).status_code == 404


@pytest.mark.parametrize("who, status", [("staff", 403), ("shawan", 403), ("admin", 201), ("coordinator", 201)])
def test_scope_matrix(client, world, who, status):
    response = client.post("/api/v1/drill-batches", json=plan(), headers=auth(world[who]))
    assert response.status_code == status
    assert drill_count() == (3 if status == 201 else 0)


def test_hostile_bodies_are_422_not_500(client, world):
    headers = auth(world["coordinator"])
    for body in (
        plan(kinds="school"),
        plan(kinds=[None]),
        plan(org_ids=[2**80]),
        plan(region_code=["x"]),
        plan(rrule=["FREQ=DAILY"]),
        plan(rrule="FREQ=SECONDLY"),
        plan(mode=None),
        plan(title="a\x00b"),
        plan(starts_at="2026-13-01"),
        plan(rrule="FREQ=WEEKLY;INTERVAL=0"),
    ):
        response = client.post("/api/v1/drill-batches", json=body, headers=headers)
        assert response.status_code == 422, (body, response.json)
    assert client.post("/api/v1/drill-batches", json=[1], headers=headers).status_code == 422
    assert drill_count() == 0


def test_series_preview_flags_real_dates_and_until_as_a_date(client, world):
    start = datetime(2026, 9, 26, 9, 0, tzinfo=BEIJING)
    body = {
        "title": "周末演练",
        "form": "evacuation",
        "organizer_org_id": world["schools"][0].id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
        "rrule": "FREQ=WEEKLY;UNTIL=20261010",
    }
    response = client.post("/api/v1/drill-series/preview", json=body, headers=auth(world["staff"]))
    assert response.status_code == 200, response.json
    assert response.json["rrule"] == "FREQ=WEEKLY;UNTIL=20261010T155959Z"
    assert response.json["total"] == 3 and response.json["ends"] is True
    assert [(o["starts_at"], [f["kind"] for f in o["flags"]]) for o in response.json["occurrences"]] == [
        ("2026-09-26T09:00:00+08:00", ["weekend"]),
        ("2026-10-03T09:00:00+08:00", ["holiday"]),
        ("2026-10-10T09:00:00+08:00", ["adjusted_workday"]),
    ]
    assert drill_count() == 0


def test_calendar_days(client, world):
    response = client.get("/api/v1/calendar-days?from=2026-10-09&to=2026-10-12", headers=auth(world["staff"]))
    assert response.status_code == 200
    assert [(d["date"], [f["kind"] for f in d["flags"]]) for d in response.json["items"]] == [
        ("2026-10-09", []),
        ("2026-10-10", ["adjusted_workday"]),
        ("2026-10-11", ["weekend"]),
        ("2026-10-12", []),
    ]
    assert response.json["arrangement_known"] == {"2026": True}
    assert (
        client.get("/api/v1/calendar-days?from=2026-01-01&to=2027-06-01", headers=auth(world["staff"])).status_code
        == 422
    )
    assert (
        client.get("/api/v1/calendar-days?from=2026-01-02&to=2026-01-01", headers=auth(world["staff"])).status_code
        == 422
    )


@pytest.fixture
def series(world):
    start = datetime(2030, 3, 15, 10, 0, tzinfo=BEIJING)
    return create_series(
        world["staff"],
        {
            "title": "每月演练",
            "form": "evacuation",
            "organizer_org_id": world["schools"][0].id,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(),
            "rrule": "FREQ=MONTHLY;COUNT=6",
        },
        now=datetime(2030, 1, 1, tzinfo=timezone.utc),
    )


def _occurrences(series_id):
    return list(db.session.scalars(sa.select(Drill).where(Drill.series_id == series_id).order_by(Drill.starts_at)))


def test_cancel_this_and_all_following_in_one_step(client, world, series):
    drills = _occurrences(series.id)
    third = drills[2]
    stale = client.post(
        f"/api/v1/drills/{third.id}/cancel-following",
        json={"version": third.version + 1, "reason": "学期调整"},
        headers=auth(world["staff"]),
    )
    assert stale.status_code == 409
    assert [d.status for d in _occurrences(series.id)] == [DrillStatus.PLANNED] * 6
    assert (
        client.post(
            f"/api/v1/drills/{third.id}/cancel-following", json={"version": third.version}, headers=auth(world["staff"])
        ).status_code
        == 422
    )  # a reason is needed
    response = client.post(
        f"/api/v1/drills/{third.id}/cancel-following",
        json={"version": third.version, "reason": "学期调整"},
        headers=auth(world["staff"]),
    )
    assert response.status_code == 200, response.json
    assert response.json["cancelled"] == [d.id for d in drills[2:]]
    db.session.expire_all()
    assert [d.status for d in _occurrences(series.id)] == [DrillStatus.PLANNED] * 2 + [DrillStatus.CANCELLED] * 4
    assert all(d.cancel_reason == "学期调整" for d in _occurrences(series.id)[2:])
    assert db.session.get(DrillSeries, series.id).rrule == "FREQ=MONTHLY;UNTIL=20300515T015959Z"
    # Nothing more is made by the nightly job.
    assert materialize_series(SYSTEM, series.id, datetime(2031, 12, 31, tzinfo=timezone.utc)) == []
    again = client.post(
        f"/api/v1/drills/{third.id}/cancel-following",
        json={"version": response.json["series"]["occurrences"][2]["version"], "reason": "x"},
        headers=auth(world["staff"]),
    )
    assert again.status_code == 409


def test_end_the_series_here_keeps_this_one(client, world, series):
    drills = _occurrences(series.id)
    second = drills[1]
    response = client.post(
        f"/api/v1/drills/{second.id}/end-series", json={"version": second.version}, headers=auth(world["staff"])
    )
    assert response.status_code == 200, response.json
    assert response.json["cancelled"] == [d.id for d in drills[2:]]
    db.session.expire_all()
    assert [d.status for d in _occurrences(series.id)] == [DrillStatus.PLANNED] * 2 + [DrillStatus.CANCELLED] * 4
    assert _occurrences(series.id)[2].cancel_reason == "The recurring series was ended."
    assert db.session.get(DrillSeries, series.id).rrule == "FREQ=MONTHLY;UNTIL=20300415T020000Z"


def test_series_end_scope(client, world, series, make_user):
    drill = _occurrences(series.id)[0]
    for user in (world["shawan"], make_user(role=Role.VIEWER, region_code=WUSU)):
        response = client.post(
            f"/api/v1/drills/{drill.id}/end-series", json={"version": drill.version}, headers=auth(user)
        )
        assert response.status_code in (403, 404)
    other_school_staff = make_user(role=Role.ORG_STAFF, org=world["schools"][1])
    assert client.post(
        f"/api/v1/drills/{drill.id}/end-series", json={"version": drill.version}, headers=auth(other_school_staff)
    ).status_code in (403, 404)
    db.session.expire_all()
    assert all(d.status == DrillStatus.PLANNED for d in _occurrences(series.id))


def test_new_endpoints_are_documented(client, world):
    doc = client.get("/api/v1/openapi.json").json
    for path, method in (
        ("/drill-batches", "post"),
        ("/drill-batch-preview", "post"),
        ("/drill-batches/{key}", "get"),
        ("/drill-series/preview", "post"),
        ("/drills/{drill_id}/cancel-following", "post"),
        ("/drills/{drill_id}/end-series", "post"),
        ("/calendar-days", "get"),
    ):
        operation = doc["paths"][path][method]
        assert {"401", "403", "404", "422"} <= set(operation["responses"]), path
    assert "409" in doc["paths"]["/drills/{drill_id}/cancel-following"]["post"]["responses"]
    assert "201" in doc["paths"]["/drill-batches"]["post"]["responses"]
