"""What a feed says: identity, times, all-day dates, sequence, cancellations, text and caching."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from drillmgr.calendars import feeds, ical, links, serving
from drillmgr.enums import DrillForm, ObservanceDay, Role
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from tests.calendars_support import _empty_feed_caches  # noqa: F401 — a pytest fixture
from tests.calendars_support import (
    body_of,
    cancel,
    drill_uid,
    events,
    parse,
    reschedule,
    touch,
    unfolded,
    zh,
)
from tests.conftest import SHAWAN, WUSU, at


def region_feed(user, code=WUSU):
    return links.feed_for_token(feeds.REGION, code, links.feed_token(user, feeds.REGION, code))


def me_feed(user):
    return links.feed_for_token(feeds.ME, "", links.feed_token(user, feeds.ME))


def test_drill_event_carries_stable_uid_drill_times_and_no_clock(make_org, make_drill):
    org = make_org(name="乌苏市第一中学")
    drill = make_drill(
        organizer=org,
        public=True,
        location="教学楼及操场",
        starts_at=datetime(2026, 12, 3, 2, 30, tzinfo=timezone.utc),
        minutes=45,
    )
    event = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 10, 30, tzinfo=event.decoded("DTSTART").tzinfo)
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert event.decoded("DTEND").astimezone(timezone.utc) == datetime(2026, 12, 3, 3, 15, tzinfo=timezone.utc)
    assert event.decoded("DTSTAMP") == drill.updated_at.replace(microsecond=0)
    assert event.decoded("LAST-MODIFIED") == drill.updated_at.replace(microsecond=0)
    assert event.decoded("SEQUENCE") == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    description = str(event["DESCRIPTION"])
    assert "2026-12-03 10:30–11:15" in description  # Beijing time
    assert "2026-12-03 08:30–09:15" in description  # Xinjiang time, UTC+6
    for text in (DrillForm.EVACUATION.label, "教学楼及操场", "乌苏市第一中学", "乌苏市"):
        assert zh(text) in description


def test_one_short_timezone_and_typed_refresh_properties(make_drill):
    make_drill(public=True)
    body = body_of(feeds.public_feed())
    cal = parse(body)
    timezones = cal.walk("VTIMEZONE")
    assert len(timezones) == 1 and str(timezones[0]["TZID"]) == "Asia/Shanghai"
    assert [c.name for c in timezones[0].subcomponents] == ["STANDARD"]
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in body
    assert str(cal["X-WR-CALNAME"]) == str(cal["NAME"])
    assert body.count(b"BEGIN:VTIMEZONE") == 1


def test_public_feed_has_observance_days_as_all_day_events_each_year(app):
    cal = parse(body_of(feeds.public_feed()))
    year = datetime.now(timezone.utc).year
    by_uid = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    for y in (year - 1, year, year + 1):
        for day, (month, dom) in ((d, d.month_day) for d in ObservanceDay):
            event = by_uid[f"observance-{y}-{month:02d}{dom:02d}@drillmgr.test"]
            assert event["DTSTART"].params["VALUE"] == "DATE"
            assert event.decoded("DTSTART") == date(y, month, dom)
            assert event.decoded("DTEND") == date(y, month, dom) + timedelta(days=1)  # exclusive
            assert str(event["SUMMARY"]) == zh(day.label)
    summaries = {str(e["SUMMARY"]) for e in by_uid.values()}
    assert {"全国防灾减灾日", "唐山大地震纪念日", "国际减灾日"} <= summaries


def test_unchanged_feed_is_byte_for_byte_identical(make_drill):
    make_drill(public=True)
    first = body_of(feeds.public_feed())
    serving.clear_local_caches()
    assert body_of(feeds.public_feed(), now=at(hours=2)) == first


def test_reschedule_raises_sequence_and_moves_the_event(make_drill):
    drill = make_drill(public=True)
    before = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    reschedule(drill, days=2)
    after = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    assert after.decoded("SEQUENCE") == before.decoded("SEQUENCE") + 1
    assert after.decoded("DTSTART") - before.decoded("DTSTART") == timedelta(days=2)
    assert after.decoded("DTSTAMP") >= before.decoded("DTSTAMP")
    assert str(after["UID"]) == str(before["UID"])


def test_cancelled_drill_stays_cancelled_for_90_days_then_leaves(make_drill):
    drill = make_drill(public=True, starts_at=at(days=-10))
    cancel(drill, when=at(days=-89))
    event = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    assert str(event["STATUS"]) == "CANCELLED"
    assert "天气原因，改期" in str(event["DESCRIPTION"])
    assert drill_uid(drill) not in events(body_of(feeds.public_feed(), now=at(days=2)))


def test_chinese_text_folds_at_75_octets_without_splitting_characters(make_drill):
    title = "塔城地区乌苏市综合实战演练暨双盲桌面推演" * 6
    drill = make_drill(public=True, title=title, location="乌苏市应急指挥中心" * 5)
    body = body_of(feeds.public_feed())
    for line in body.split(b"\r\n"):
        assert len(line) <= 75
        line.decode("utf-8")  # a split character would not decode
    assert str(events(body)[drill_uid(drill)]["SUMMARY"]) == title


def test_commas_semicolons_and_backslashes_are_escaped(make_drill):
    drill = make_drill(public=True, title="疏散, 集合; 清点\\报告", location="操场,东门;北侧")
    body = body_of(feeds.public_feed())
    assert "SUMMARY:疏散\\, 集合\\; 清点\\\\报告" in unfolded(body)
    assert "LOCATION:操场\\,东门\\;北侧" in unfolded(body)
    event = events(body)[drill_uid(drill)]
    assert str(event["SUMMARY"]) == "疏散, 集合; 清点\\报告"


def test_region_feed_of_coordinator_has_report_deadlines_viewer_not(make_user, make_drill):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    year = datetime.now(timezone.utc).year
    deadlines = {f"report-deadline-{year}-{day}-{WUSU}@drillmgr.test" for day in ("0607", "1108")}
    coordinator_events = events(body_of(region_feed(coordinator)))
    assert deadlines <= set(coordinator_events)
    deadline = coordinator_events[f"report-deadline-{year}-1108-{WUSU}@drillmgr.test"]
    assert deadline.decoded("DTSTART") == date(year, 11, 8)
    assert deadline.decoded("DTEND") == date(year, 11, 9)
    assert not deadlines & set(events(body_of(region_feed(viewer))))


def test_alarms_only_when_the_user_asked(make_user, make_org, make_drill):
    org = make_org()
    user = make_user(org=org)
    drill = make_drill(organizer=org)
    assert not events(body_of(me_feed(user)))[drill_uid(drill)].subcomponents
    links.set_feed_alarms(user, True)
    (alarm,) = events(body_of(me_feed(user)))[drill_uid(drill)].subcomponents
    assert alarm.name == "VALARM" and alarm.decoded("TRIGGER") == timedelta(days=-1)
    assert not events(body_of(feeds.public_feed())).get(drill_uid(drill))


def test_change_of_one_drill_renders_only_that_event(make_drill, monkeypatch):
    drills = [make_drill(public=True) for _ in range(4)]
    body_of(feeds.public_feed())
    rendered = []
    original = ical.drill_event
    monkeypatch.setattr(ical, "drill_event", lambda drill, style: rendered.append(drill.id) or original(drill, style))
    touch(drills[2], title="改名后的演练")
    body = body_of(feeds.public_feed())
    assert rendered == [drills[2].id]
    assert str(events(body)[drill_uid(drills[2])]["SUMMARY"]) == "改名后的演练"


def test_feed_loads_drills_without_a_query_per_drill(make_drill, make_org):
    from sqlalchemy import event

    def statements_for_a_feed(drill_count: int) -> int:
        for _ in range(drill_count):
            make_drill(organizer=make_org(), public=True)
        serving.clear_local_caches()
        statements = []
        engine = db.session.get_bind()

        def count(*args):
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", count)
        try:
            body_of(feeds.public_feed())
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    # The same few for any number of drills; recording the feed's new version takes three of them
    # (read it, write it, commit), the shared store four (the feed's body, the events, storing the new
    # ones with the body, commit).
    assert statements_for_a_feed(2) == statements_for_a_feed(20) <= 14


def test_organiser_rename_changes_the_feed(make_org, make_drill):
    org = make_org(name="旧名称学校")
    make_drill(organizer=org, public=True)
    assert "旧名称学校" in unfolded(body_of(feeds.public_feed()))
    org.name = "新名称学校"
    db.session.commit()
    assert "新名称学校" in unfolded(body_of(feeds.public_feed()))


def test_county_feed_holds_only_that_county(make_drill):
    wusu = make_drill(public=True, region_code=WUSU)
    shawan = make_drill(public=True, region_code=SHAWAN)
    uids = set(events(body_of(feeds.public_feed(WUSU))))
    assert drill_uid(wusu) in uids and drill_uid(shawan) not in uids


def test_drills_services_reschedule_and_cancel_show_in_the_feed(app, make_user, make_drill):
    """End to end with the drills feature's own services, as the web pages and the API use them."""
    from drillmgr.drills.lifecycle import cancel_drill, reschedule_drill

    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    drill = make_drill(public=True)
    before = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    with app.test_request_context():
        reschedule_drill(
            coordinator, drill, drill.starts_at + timedelta(hours=3), drill.ends_at + timedelta(hours=3), drill.version
        )
    moved = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    assert moved.decoded("SEQUENCE") == before.decoded("SEQUENCE") + 1
    assert moved.decoded("DTSTART") - before.decoded("DTSTART") == timedelta(hours=3)
    with app.test_request_context():
        cancel_drill(coordinator, drill, {"reason": "大风天气"})
    cancelled = events(body_of(feeds.public_feed()))[drill_uid(drill)]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled.decoded("SEQUENCE") > moved.decoded("SEQUENCE")


def test_feed_follows_its_owner_language(make_user, make_org, make_drill):
    org = make_org()
    user = make_user(org=org, locale="en")
    drill = make_drill(
        organizer=org, form=DrillForm.TABLETOP, starts_at=datetime(2026, 12, 3, 2, 30, tzinfo=timezone.utc)
    )
    description = str(events(body_of(me_feed(user)))[drill_uid(drill)]["DESCRIPTION"])
    assert "Beijing time" in description and "Xinjiang time" in description and "Tabletop exercise" in description
    user.locale = None
    db.session.commit()
    description = str(events(body_of(me_feed(user)))[drill_uid(drill)]["DESCRIPTION"])
    assert "北京时间" in description and "新疆时间" in description


def test_no_method_and_no_comment_in_the_timezone(make_drill):
    """A subscribed feed is no iTIP message (RFC 5546 would want an ORGANIZER per event); RFC 5545 has no
    COMMENT directly in a VTIMEZONE (icalendar's Timezone.from_tzid writes one)."""
    make_drill(public=True)
    body = body_of(feeds.public_feed())
    assert b"\r\nMETHOD:" not in body
    (zone,) = parse(body).walk("VTIMEZONE")
    assert "COMMENT" not in zone
    assert b"COMMENT" not in body


def every_stamp(body: bytes) -> list[datetime]:
    return [
        event.decoded(name)
        for event in parse(body).walk("VEVENT")
        for name in ("DTSTAMP", "LAST-MODIFIED", "CREATED")
        if name in event
    ]


def test_no_dtstamp_in_the_future(make_user, make_drill):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    make_drill(public=True, starts_at=at(days=400))
    now = datetime.now(timezone.utc)
    for feed in (feeds.public_feed(), region_feed(coordinator)):
        body = body_of(feed)
        stamps = every_stamp(body)
        assert len(stamps) > 10 and max(stamps) <= now
        year = now.astimezone(ZoneInfo("Asia/Shanghai")).year
        observance_or_deadline = [e for e in parse(body).walk("VEVENT") if not str(e["UID"]).startswith("drill-")]
        assert {e.decoded("DTSTAMP") for e in observance_or_deadline} == {
            datetime(year, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc)
        }


def test_no_dtstamp_in_the_future_just_after_new_year_in_beijing(make_drill):
    # 1 January 2027, 00:30 in Beijing is still 31 December in UTC.
    now = datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc)
    make_drill(public=True, starts_at=datetime(2027, 1, 5, 2, tzinfo=timezone.utc))
    body = body_of(feeds.public_feed(), now=now)
    stamps = [e.decoded("DTSTAMP") for e in parse(body).walk("VEVENT") if str(e["UID"]).startswith("observance-")]
    assert set(stamps) == {datetime(2026, 12, 31, 16, tzinfo=timezone.utc)}
    assert b"observance-2029-0512@" in body  # the window moved with the new year


def test_control_characters_never_leave_in_a_feed(make_org, make_drill):
    """Records from before input was cleaned may hold them; RFC 5545 TEXT admits no control characters."""
    drill = make_drill(
        organizer=make_org(),
        public=True,
        title="疏散\x07演练\x08",
        location="操场\x0b东门\x7f",
        description="第一行\x07\r\n第二行\x0b\x1b",
    )
    drill.organizer_org.name = "乌苏市\x08第一中学"
    db.session.commit()
    body = body_of(feeds.public_feed())
    text = body.replace(b"\r\n", b"").decode()
    assert not [char for char in text if ord(char) < 0x20 or ord(char) == 0x7F]
    event = events(body)[drill_uid(drill)]
    assert str(event["SUMMARY"]) == "疏散演练"
    assert str(event["LOCATION"]) == "操场东门"
    description = str(event["DESCRIPTION"])
    assert description.endswith("\n\n第一行\n第二行") and "乌苏市第一中学" in description


def test_control_characters_typed_into_a_drill_are_dropped_on_input(app, make_user, make_org):
    from drillmgr.drills.lifecycle import cancel_drill, create_drill

    org = make_org()
    staff = make_user(org=org)
    start = at(days=10)
    with app.test_request_context():
        drill = create_drill(
            staff,
            {
                "title": "\x07疏散演练\x08",
                "form": "evacuation",
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
                "organizer_org_id": org.id,
                "public": True,
                "location": "操场\x0b东门",
                "description": "第一行\r\n第二行\x0b\t含制表符",
            },
        )
    assert (drill.title, drill.location, drill.description) == ("疏散演练", "操场东门", "第一行\n第二行\t含制表符")
    with app.test_request_context():
        cancel_drill(staff, drill, {"reason": "大风\x07天气"})
    assert drill.cancel_reason == "大风天气"
    with app.test_request_context():
        refused = None
        try:
            create_drill(
                staff,
                {
                    "title": "\x07\x08",
                    "form": "evacuation",
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=1)).isoformat(),
                    "organizer_org_id": org.id,
                },
            )
        except ValidationError as error:
            refused = error
    assert refused is not None and "title" in refused.errors


def test_cancelled_drill_says_so_in_its_summary_in_the_feed_language(make_user, make_org, make_drill):
    org = make_org()
    chinese, english = make_user(org=org), make_user(org=org, locale="en")
    drill = make_drill(organizer=org, title="全校疏散演练")
    kept = make_drill(organizer=org, title="桌面推演")
    cancel(drill)
    zh_events = events(body_of(me_feed(chinese)))
    assert str(zh_events[drill_uid(drill)]["SUMMARY"]) == "【已取消】全校疏散演练"
    assert str(zh_events[drill_uid(kept)]["SUMMARY"]) == "桌面推演"
    en_events = events(body_of(me_feed(english)))
    assert str(en_events[drill_uid(drill)]["SUMMARY"]) == "[Cancelled] 全校疏散演练"
    assert str(en_events[drill_uid(drill)]["STATUS"]) == "CANCELLED"
