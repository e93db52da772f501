"""Reminders to units: a coordinator's nudge (access, rate limit, audit, mail through the real outbox),
the automatic "nothing planned" and "record what happened" jobs (exactly once), and the home page's
"a drill just ended — record it"."""

import html
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask_babel import force_locale

from drillmgr.audit.services import entries_for
from drillmgr.compliance import nudges
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.errors import Forbidden, NotFound, ValidationError
from drillmgr.extensions import db
from drillmgr.notifications.models import Notification, OutboxMail
from drillmgr.notifications.sender import send_pending
from drillmgr.notifications.services import Kind
from drillmgr.scheduler import reminder_jobs
from tests.conftest import SHAWAN, WUSU, at, login, token_for
from tests.test_notifications_smtp import Inbox, free_port, settings_for

UTC = timezone.utc
DECEMBER_10 = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)  # 08:00 Beijing; December's slot ends within the warning
RULE = "school-evacuation"


def notes(kind, user=None):
    query = sa.select(Notification).where(Notification.kind == kind).order_by(Notification.id)
    if user is not None:
        query = query.where(Notification.user_id == user.id)
    return list(db.session.scalars(query))


@pytest.fixture
def units(make_org, make_user):
    school = make_org(kind=OrgKind.SCHOOL, name="乌苏提醒测试小学")
    planned_school = make_org(kind=OrgKind.SCHOOL, name="乌苏已计划小学")
    empty_school = make_org(kind=OrgKind.SCHOOL, name="乌苏无账号小学")
    shawan_school = make_org(kind=OrgKind.SCHOOL, name="沙湾提醒测试小学", region_code=SHAWAN)
    return {
        "school": school,
        "planned_school": planned_school,
        "empty_school": empty_school,
        "shawan_school": shawan_school,
        "staff": make_user(org=school, email="teacher@example.cn", locale="en"),
        "staff2": make_user(org=school),
        "planned_staff": make_user(org=planned_school),
        "shawan_staff": make_user(org=shawan_school),
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "shawan": make_user(role=Role.COORDINATOR, region_code=SHAWAN),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
        "admin": make_user(role=Role.ADMIN),
    }


# --- a coordinator's reminder ------------------------------------------------------------------


def test_remind_one_unit_with_rule_and_message_once_a_day(units):
    outcome = nudges.remind_units(
        units["coordinator"], [units["school"].id], RULE, "请尽快安排12月疏散演练", now=DECEMBER_10
    )
    assert (outcome.reminded, outcome.notifications) == ([units["school"].id], 2)
    sent = notes(Kind.UNIT_REMINDER, units["staff"])
    assert len(sent) == 1 and sent[0].subject.startswith("Reminder: ")
    assert "请尽快安排12月疏散演练" in sent[0].body and "Status:" in sent[0].body
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMail)) == 1  # only staff has a mail
    assert [e.action for e in entries_for("organisation", units["school"].id)][-1] == "remind"
    # Again today, by anyone: nothing more.
    again = nudges.remind_units(units["admin"], [units["school"].id], RULE, now=DECEMBER_10 + timedelta(hours=8))
    assert (again.reminded, again.already_reminded, again.notifications) == ([], [units["school"].id], 0)
    # Another rule, or the next day (Beijing time), reminds again.
    assert nudges.remind_units(units["coordinator"], [units["school"].id], None, now=DECEMBER_10).notifications == 2
    assert (
        nudges.remind_units(
            units["coordinator"], [units["school"].id], RULE, now=DECEMBER_10 + timedelta(hours=16)
        ).notifications
        == 2
    )
    assert len(notes(Kind.UNIT_REMINDER, units["staff"])) == 3


def test_remind_a_list_reports_units_without_staff(units):
    ids = [units["school"].id, units["empty_school"].id, units["school"].id]
    outcome = nudges.remind_units(units["coordinator"], ids, RULE, now=DECEMBER_10)
    assert (outcome.reminded, outcome.without_staff) == ([units["school"].id], [units["empty_school"].id])


@pytest.mark.parametrize("who, error", [("shawan", NotFound), ("viewer", Forbidden), ("staff", Forbidden)])
def test_who_may_remind(units, who, error):
    with pytest.raises(error):
        nudges.remind_units(units[who], [units["school"].id], RULE, now=DECEMBER_10)
    assert notes(Kind.UNIT_REMINDER) == []


def test_admin_reminds_any_unit_and_bad_input_is_refused(units):
    assert nudges.remind_units(units["admin"], [units["shawan_school"].id], None, now=DECEMBER_10).notifications == 1
    for args in (
        ([units["school"].id], "no-such-rule", ""),
        ([units["school"].id], RULE, "坏\x00消息"),
        ([units["school"].id], RULE, "长" * 1001),
        ([], RULE, ""),
    ):
        with pytest.raises(ValidationError):
            nudges.remind_units(units["coordinator"], *args, now=DECEMBER_10)
    with pytest.raises(NotFound):
        nudges.remind_units(units["coordinator"], [2**31 - 1], RULE, now=DECEMBER_10)


def test_web_reminds_at_risk_units_from_the_county_page(client, units):
    login(client, units["coordinator"])
    page = client.get(f"/compliance/county/{WUSU}").get_data(as_text=True)
    assert 'class="d-flex flex-wrap gap-2 mb-2 no-print remind-form"' in page
    response = client.post(
        "/compliance/reminders/",
        data={
            "org_id": [str(units["school"].id)],
            "rule": RULE,
            "message": "请安排",
            "next": f"/compliance/county/{WUSU}",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/compliance/county/{WUSU}"
    assert len(notes(Kind.UNIT_REMINDER, units["staff"])) == 1
    evil = client.post("/compliance/reminders/", data={"org_id": "99999999999", "rule": RULE})
    assert evil.status_code == 404
    offsite = client.post("/compliance/reminders/", data={"org_id": str(units["school"].id), "next": "//evil.cn"})
    assert offsite.headers["Location"] == "/compliance/"
    client.post("/logout")
    login(client, units["staff"])
    assert client.post("/compliance/reminders/", data={"org_id": str(units["school"].id)}).status_code == 403


def test_web_reminds_the_missed_units_of_a_rule_list_once_and_one_unit_alone(client, units):
    """Last year's school months are all past: every Wusu school without a drill missed them. The list of
    missed schools offers one reminder for all of them and one per school; its one-time key makes a double
    submission remind once."""
    year = datetime.now(UTC).year - 1
    url = f"/compliance/list?rule={RULE}&region={WUSU}&year={year}&status=missed"
    login(client, units["coordinator"])
    page = client.get(url).get_data(as_text=True)
    form = re.search(r'<form method="post" action="/compliance/reminders/"[^>]*remind-form">(.*?)</form>', page, re.S)
    assert form, page
    ids = set(re.findall(r'name="org_id" value="(\d+)"', form.group(1)))
    mine = {str(units[k].id) for k in ("school", "planned_school", "empty_school")}
    assert mine <= ids and str(units["shawan_school"].id) not in ids
    assert f"提醒 {len(ids)} 个有风险或未完成的单位" in page or f"Remind the {len(ids)} units" in page
    assert len(re.findall(r'class="d-inline no-print remind-one"', page)) == len(ids)
    fields = {
        k: html.unescape(v)
        for k, v in re.findall(r'name="(csrf_token|submission_key|next|rule)" value="([^"]*)"', form.group(1))
    }
    assert len(fields["submission_key"]) == 32 and fields["rule"] == RULE
    data = {**fields, "org_id": sorted(ids), "message": "去年的疏散演练全部缺失"}
    first = client.post("/compliance/reminders/", data=data)
    again = client.post("/compliance/reminders/", data=data)  # the same form sent twice
    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"] == url
    assert [n.body.splitlines()[-1] for n in notes(Kind.UNIT_REMINDER, units["staff2"])] == ["去年的疏散演练全部缺失"]
    assert len(notes(Kind.UNIT_REMINDER, units["planned_staff"])) == 1
    # One school alone, the next form: already reminded today, nothing sent.
    one = re.search(r'<form[^>]*remind-one">(.*?)</form>', client.get(url).get_data(as_text=True), re.S).group(1)
    single = {
        k: html.unescape(v)
        for k, v in re.findall(r'name="(csrf_token|submission_key|next|rule|org_id)" value="([^"]*)"', one)
    }
    assert client.post("/compliance/reminders/", data=single).status_code == 302
    assert len(notes(Kind.UNIT_REMINDER)) == 3  # staff, staff2, planned_staff: once each
    # Viewers read the list without any reminder form.
    client.post("/logout")
    login(client, units["viewer"])
    viewed = client.get(url).get_data(as_text=True)
    assert "remind-form" not in viewed and "remind-one" not in viewed and units["school"].name in viewed


def test_a_units_obligations_page_reminds_that_unit_of_a_rule_not_met(client, units):
    year = datetime.now(UTC).year - 1  # every school month of last year is past: missed
    url = f"/compliance/unit/{units['school'].id}?year={year}"
    login(client, units["coordinator"])
    page = client.get(url).get_data(as_text=True)
    forms = re.findall(r'<form[^>]*remind-one">(.*?)</form>', page, re.S)
    assert len(forms) == 1 and f'name="rule" value="{RULE}"' in forms[0]
    assert f'name="org_id" value="{units["school"].id}"' in forms[0]
    fields = {
        k: html.unescape(v)
        for k, v in re.findall(r'name="(csrf_token|submission_key|next|rule|org_id)" value="([^"]*)"', forms[0])
    }
    answer = client.post("/compliance/reminders/", data=fields)
    assert answer.status_code == 302 and answer.headers["Location"] == url
    assert len(notes(Kind.UNIT_REMINDER, units["staff"])) == 1
    client.post("/logout")
    login(client, units["staff"])  # the unit's own staff read the page without a reminder button
    own = client.get(url)
    assert own.status_code == 200 and "remind-one" not in own.get_data(as_text=True)


def test_api_reminds_every_unit_with_a_status(client, units, make_drill):
    today = datetime.now(UTC)
    # One school plans its drill for the current month: it is on track, not reminded.
    make_drill(organizer=units["planned_school"], starts_at=at(hours=1), title="本月疏散演练")
    headers = token_for(client, units["coordinator"])
    answer = client.post(
        "/api/v1/reminders",
        json={"rule": RULE, "statuses": ["at_risk", "missed", "not_due"], "message": "请安排"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert units["shawan_school"].id not in data["reminded"] + data["already_reminded"]
    if today.month in (3, 4, 5, 6, 9, 10, 11, 12):
        assert units["school"].id in data["reminded"]
    assert (
        client.post(
            "/api/v1/reminders", json={"org_ids": [units["school"].id]}, headers=token_for(client, units["viewer"])
        ).status_code
        == 403
    )
    assert client.post("/api/v1/reminders", json={}, headers=headers).status_code == 422
    assert client.post("/api/v1/reminders", json={"org_ids": ["x"]}, headers=headers).status_code == 422
    assert (
        client.post("/api/v1/reminders", json={"org_ids": [units["shawan_school"].id]}, headers=headers).status_code
        == 404
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"org_ids": [2**80]}, "org_ids"),
        ({"org_ids": [0]}, "org_ids"),
        ({"org_ids": list(range(1, 600))}, "org_ids"),
        ({"rule": RULE, "statuses": ["late"]}, "statuses"),
        ({"rule": "a\x00b"}, "rule"),
        ({"rule": "x" * 65}, "rule"),
        ({"rule": RULE, "region": "6" * 13}, "region"),
        ({"org_ids": [1], "message": "坏\x00"}, "message"),
        ({"org_ids": [1], "message": "长" * 1001}, "message"),
    ],
)
def test_api_reminders_refuse_hostile_input(client, units, body, field):
    answer = client.post("/api/v1/reminders", json=body, headers=token_for(client, units["coordinator"]))
    assert answer.status_code == 422 and field in answer.get_json()["errors"], answer.get_json()
    assert notes(Kind.UNIT_REMINDER) == []


@pytest.mark.slow
def test_reminder_mail_reaches_the_school_over_smtp(units):
    nudges.remind_units(units["coordinator"], [units["school"].id], RULE, "请记录演练", now=DECEMBER_10)
    port = free_port()
    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    try:
        settings = settings_for(port)
        assert send_pending(settings, now=datetime.now(UTC) + timedelta(minutes=1)).sent == 1
        assert send_pending(settings, now=datetime.now(UTC) + timedelta(hours=1)).sent == 0
    finally:
        server.stop()
    assert [m["To"] for m in inbox.messages] == ["teacher@example.cn"]
    body = inbox.messages[0].get_content()
    assert inbox.messages[0]["Subject"].startswith("Reminder: ") and "请记录演练" in body
    assert "http://localhost/" in body


# --- automatic reminders -----------------------------------------------------------------------


def test_nothing_planned_reminds_once_per_unit_and_period(units, make_drill):
    make_drill(organizer=units["planned_school"], starts_at=DECEMBER_10 + timedelta(days=5), title="12月疏散演练")
    with force_locale("en"):
        first = reminder_jobs.nothing_planned_reminders(DECEMBER_10)
        second = reminder_jobs.nothing_planned_reminders(DECEMBER_10 + timedelta(days=1))
    sent = notes(Kind.NOTHING_PLANNED)
    assert sorted(n.user_id for n in sent) == sorted([units["staff"].id, units["staff2"].id, units["shawan_staff"].id])
    staff_note = next(n for n in sent if n.user_id == units["staff"].id)
    assert "2026, month 12" in staff_note.subject and "2026-12-31" in staff_note.body
    assert first.endswith("3 reminders sent.") and second.endswith("0 reminders sent.")


def test_record_reminder_the_day_after_once(units, make_drill):
    drill = make_drill(organizer=units["school"], starts_at=DECEMBER_10 - timedelta(days=2), title="未记录的演练")
    make_drill(
        organizer=units["school"],
        starts_at=DECEMBER_10 - timedelta(days=2),
        title="已完成的演练",
        status=DrillStatus.COMPLETED,
    )
    make_drill(organizer=units["school"], starts_at=DECEMBER_10 - timedelta(days=30), title="太久以前")
    today = make_drill(
        organizer=units["school"], starts_at=DECEMBER_10 - timedelta(hours=1), minutes=30, title="今天的演练"
    )
    with force_locale("en"):
        reminder_jobs.record_reminders(DECEMBER_10)
        reminder_jobs.record_reminders(DECEMBER_10 + timedelta(hours=2))
    sent = notes(Kind.RECORD_DRILL)
    assert sorted((n.user_id, n.link) for n in sent) == sorted(
        [(units["staff"].id, f"/drills/{drill.id}/complete"), (units["staff2"].id, f"/drills/{drill.id}/complete")]
    )
    with force_locale("en"):
        reminder_jobs.record_reminders(DECEMBER_10 + timedelta(days=1))  # the next day: today's drill too, once
    assert {n.dedupe_key.split(":")[1] for n in notes(Kind.RECORD_DRILL)} == {str(drill.id), str(today.id)}


def test_home_puts_the_drill_to_record_first(client, units, make_drill):
    make_drill(organizer=units["school"], starts_at=at(hours=-3), title="刚结束的演练")
    make_drill(organizer=units["shawan_school"], starts_at=at(hours=-3), title="别人的演练")
    login(client, units["staff"])
    page = client.get("/").get_data(as_text=True)
    assert 'id="record-it"' in page and "刚结束的演练" in page and "别人的演练" not in page
    assert page.index('id="record-it"') < page.index('id="stat-orgs"')
    client.post("/logout")
    login(client, units["shawan_staff"])
    assert "刚结束的演练" not in client.get("/").get_data(as_text=True)
