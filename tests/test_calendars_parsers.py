"""Every kind of feed parses in four independent parsers, and all four read the same times:
icalendar (every component's .errors empty), the strict `ical` package, ical.js (Thunderbird's) and
libical (Evolution's) with its RFC 5545 rule checks finding nothing."""

import json
import subprocess
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from ical.calendar_stream import IcsCalendarStream

from drillmgr.calendars import feeds, links
from drillmgr.calendars.filters import EVERYTHING, KEY_DRILLS, FeedFilter
from drillmgr.enums import DrillForm, DrillScope, OrgKind, Role
from tests.calendars_support import _empty_feed_caches  # noqa: F401 — a pytest fixture
from tests.calendars_support import (
    body_of,
    cancel,
    parse,
    reschedule,
    signed_feed,
)
from tests.conftest import SHAWAN, WUSU, at

JS_DIR = Path(__file__).parent / "js"
LIBICAL_CHECK = Path(__file__).parent / "libical_check.py"
# python3-gi is Debian's, for its own Python only (.ci/run installs it with gir1.2-ical-3.0).
SYSTEM_PYTHON = "/usr/bin/python3"


def as_utc(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert isinstance(value, date)
    return value.isoformat()


def read_icalendar(body: bytes) -> dict:
    cal = parse(body)
    return {
        str(e["UID"]): (as_utc(e.decoded("DTSTART")), as_utc(e.decoded("DTEND")), str(e["SUMMARY"]))
        for e in cal.walk("VEVENT")
    }


def read_ical(body: bytes) -> dict:
    cal = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    return {e.uid: (as_utc(e.dtstart), as_utc(e.dtend), e.summary) for e in cal.events}


def read_icaljs(body: bytes, tmp_path: Path) -> dict:
    assert (JS_DIR / "node_modules" / "ical.js").is_dir(), "run `make install` (npm ci --prefix tests/js)"
    path = tmp_path / "feed.ics"
    path.write_bytes(body)
    result = subprocess.run(
        ["node", str(JS_DIR / "parse_ics.mjs"), str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["timezones"] == 1
    assert data["refresh"] == "PT1H"

    def time(value: str) -> str:
        return value if len(value) == 10 else value[:19]

    return {e["uid"]: (time(e["start"]), time(e["end"]), e["summary"]) for e in data["events"]}


def libical(body: bytes, tmp_path: Path) -> dict:
    """libical's reading of a feed after its rule checks (what `icalvalidate` runs): errors and events."""
    path = tmp_path / "feed-libical.ics"
    path.write_bytes(body)
    try:
        result = subprocess.run(
            [SYSTEM_PYTHON, str(LIBICAL_CHECK), str(path)], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        pytest.skip(f"{SYSTEM_PYTHON} is missing (libical is checked through Debian's python3-gi)")
    if result.returncode == 3:
        pytest.skip(result.stderr.strip())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def read_libical(body: bytes, tmp_path: Path) -> dict:
    data = libical(body, tmp_path)
    assert data["errors"] == []
    return {uid: tuple(values) for uid, values in data["events"].items()}


@pytest.fixture
def world(make_org, make_user, make_drill):
    school = make_org(name="乌苏市第一中学（北校区）, 含分校; 及附属幼儿园\\")
    other = make_org(name="沙湾市人民医院", region_code=SHAWAN)
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    staff = make_user(org=school, feed_alarms=True)
    long_title = (
        "乌苏市2026年地震应急综合实战演练（实战拉动）暨“双盲”桌面推演，现场指挥部搭建；应急通信保障\\力量组织" * 2
    )
    make_drill(
        organizer=school,
        public=True,
        title=long_title,
        location="乌苏市应急指挥中心, 二楼; 会议室",
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        description="第一行\n第二行, 含逗号; 分号",
    )
    make_drill(organizer=school, double_blind=True, starts_at=at(days=2))
    moved = make_drill(
        organizer=school, participants=[other], starts_at=datetime(2026, 12, 31, 17, 30, tzinfo=timezone.utc)
    )
    reschedule(moved, days=1)
    cancel(make_drill(organizer=school, public=True, starts_at=at(days=20)))
    make_drill(organizer=other, public=True, region_code=SHAWAN, starts_at=at(days=-30), minutes=24 * 60 + 30)
    return {"coordinator": coordinator, "staff": staff, "school": school}


def every_feed(world):
    coordinator, staff = world["coordinator"], world["staff"]
    yield "public", feeds.public_feed()
    yield "public county", feeds.public_feed(WUSU)
    yield "me (alarms)", links.feed_for_token(feeds.ME, "", links.feed_token(staff, feeds.ME))
    org = str(world["school"].id)
    yield "org", links.feed_for_token(feeds.ORG, org, links.feed_token(staff, feeds.ORG, org))
    yield (
        "region (deadlines)",
        links.feed_for_token(feeds.REGION, WUSU, links.feed_token(coordinator, feeds.REGION, WUSU)),
    )
    yield "region (everything)", signed_feed(coordinator, feeds.REGION, WUSU, EVERYTHING)
    yield (
        "region (filtered)",
        signed_feed(
            coordinator,
            feeds.REGION,
            WUSU,
            FeedFilter(forms=frozenset({DrillForm.EVACUATION}), kinds=frozenset({OrgKind.SCHOOL})),
        ),
    )
    yield "org (key drills)", signed_feed(staff, feeds.ORG, org, KEY_DRILLS)
    yield "me (coordinator)", links.feed_for_token(feeds.ME, "", links.feed_token(coordinator, feeds.ME))


def test_four_parsers_accept_every_feed_and_agree_on_times(world, tmp_path):
    for name, feed in every_feed(world):
        body = body_of(feed)
        by_icalendar = read_icalendar(body)
        assert any(uid.startswith("drill-") for uid in by_icalendar), name
        assert read_ical(body) == by_icalendar, name
        assert read_icaljs(body, tmp_path) == by_icalendar, name
        assert read_libical(body, tmp_path) == by_icalendar, name


def test_parsers_see_the_new_year_crossing_in_beijing_time(world):
    body = body_of(signed_feed(world["coordinator"], feeds.REGION, WUSU, EVERYTHING))
    starts = {start for start, _end, _summary in read_ical(body).values()}
    # 2026-12-31 17:30 UTC moved one day on is 2027-01-02 01:30 Beijing time.
    assert "2027-01-01T17:30:00" in starts
    assert b"DTSTART;TZID=Asia/Shanghai:20270102T013000" in body
