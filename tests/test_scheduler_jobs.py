"""The scheduler's jobs, run in-process for chosen moments: who is told what, once."""

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flask_babel import force_locale

from drillmgr.compliance.models import ComplianceSnapshot
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.enums import ActionStatus, ComplianceStatus, DrillForm, DrillStatus, FindingCategory, Role, Severity
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.notifications.models import Notification, OutboxMail
from drillmgr.notifications.services import Kind
from drillmgr.scheduler import compliance_jobs, housekeeping_jobs, reminder_jobs
from tests.conftest import SHAWAN, WUSU, at, planner_statistics_of

UTC = timezone.utc
BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def english_records(_transaction):
    """The jobs' records are in the process's language (Chinese by default); these tests read English."""
    with force_locale("en"):
        yield


def notes(kind=None, user=None):
    query = sa.select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    if user:
        query = query.where(Notification.user_id == user.id)
    return list(db.session.scalars(query))


def recipients(kind=None):
    return sorted(n.user_id for n in notes(kind))


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def units(make_org, make_user):
    class Units:
        school = make_org(name="乌苏市第一中学")
        clinic = make_org(name="乌苏市人民医院")
        outsider = make_org(name="沙湾市第二小学", region_code=SHAWAN)
        school_staff = make_user(org=school, email="school@example.cn", locale="en")
        school_staff_no_mail = make_user(org=school)
        clinic_staff = make_user(org=clinic, email="clinic@example.cn")
        outsider_staff = make_user(org=outsider, email="outsider@example.cn")
        coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU, email="wusu@example.cn")
        shawan_coordinator = make_user(role=Role.COORDINATOR, region_code=SHAWAN, email="shawan@example.cn")
        retired = make_user(org=school, email="retired@example.cn", active=False)

    return Units


# --- drill reminders -------------------------------------------------------------------------


def test_reminds_organiser_and_participants_seven_days_and_one_day_before(units, make_drill):
    now = at(0)
    # 10:00 Beijing time six days from today: "in 6 days" whatever the time of day now.
    start_day = now.astimezone(BEIJING).date() + timedelta(days=6)
    starts_at = datetime(start_day.year, start_day.month, start_day.day, 10, tzinfo=BEIJING).astimezone(UTC)
    drill = make_drill(
        organizer=units.school, participants=[units.clinic], starts_at=starts_at, title="秋季疏散演练", location="操场"
    )
    make_drill(organizer=units.outsider, starts_at=now + timedelta(days=3))
    make_drill(organizer=units.school, starts_at=now + timedelta(days=9))  # not yet within 7 days

    reminder_jobs.drill_reminders(now)
    expected = sorted(
        [units.school_staff.id, units.school_staff_no_mail.id, units.clinic_staff.id, units.outsider_staff.id]
    )
    assert recipients(Kind.DRILL_REMINDER) == expected
    english = notes(user=units.school_staff)[0]
    assert english.subject.startswith("Drill in 6 days: 秋季疏散演练 on ")
    assert "takes place in 6 days" in english.body and "Location: 操场" in english.body
    chinese = notes(user=units.clinic_staff)[0]
    assert chinese.subject.startswith("6 天后演练：秋季疏散演练（") and "将于 6 天后举行" in chinese.body
    assert "开始时间：" in chinese.body and "（北京时间）" in chinese.body
    assert ":7d:" in english.dedupe_key and f":{drill.id}:" in english.dedupe_key
    assert english.link == f"/drills/{drill.id}"

    # Within a day of the start: the 1-day reminder, once.
    reminder_jobs.drill_reminders(starts_at - timedelta(hours=12))
    one_day = [n for n in notes(Kind.DRILL_REMINDER) if ":1d:" in n.dedupe_key and f":{drill.id}:" in n.dedupe_key]
    assert sorted(n.user_id for n in one_day) == sorted(
        [units.school_staff.id, units.school_staff_no_mail.id, units.clinic_staff.id]
    )
    subjects = {n.user_id: n.subject for n in one_day}
    assert subjects[units.school_staff.id].startswith("Drill tomorrow: 秋季疏散演练 on ")
    assert subjects[units.clinic_staff.id].startswith("明日演练：秋季疏散演练（")
    reminder_jobs.drill_reminders(
        starts_at - timedelta(hours=1)
    )  # a drill planned on its own day is announced as today's
    assert all("新" not in n.subject for n in notes(Kind.DRILL_REMINDER))


def test_running_twice_for_the_same_moment_changes_nothing(units, make_drill):
    now = at(0)
    make_drill(organizer=units.school, participants=[units.clinic], starts_at=now + timedelta(days=2))
    reminder_jobs.drill_reminders(now)
    before = (count(Notification), count(OutboxMail))
    assert before[0] == 3 and before[1] == 2
    assert reminder_jobs.drill_reminders(now).endswith("0 reminders sent.")
    reminder_jobs.drill_reminders(now + timedelta(hours=1))
    assert (count(Notification), count(OutboxMail)) == before


def test_user_without_email_is_told_in_app_only_and_inactive_users_not_at_all(units, make_drill):
    now = at(0)
    make_drill(organizer=units.school, starts_at=now + timedelta(days=2))
    reminder_jobs.drill_reminders(now)
    mails = {m.to_address for m in db.session.scalars(sa.select(OutboxMail))}
    assert mails == {"school@example.cn"}
    assert notes(user=units.school_staff_no_mail)
    assert not notes(user=units.retired)


def test_double_blind_drill_is_never_announced_to_participants(units, make_drill, make_user):
    now = at(0)
    evaluator = make_user(org=units.outsider)
    make_drill(
        organizer=units.school,
        participants=[units.clinic],
        evaluators=[evaluator],
        double_blind=True,
        form=DrillForm.TABLETOP,
        starts_at=now + timedelta(days=3),
    )
    county_drill = make_drill(
        organizer=WUSU,
        participants=[units.school],
        double_blind=True,
        form=DrillForm.TABLETOP,
        starts_at=now + timedelta(days=4),
    )
    reminder_jobs.drill_reminders(now)
    told = set(recipients(Kind.DRILL_REMINDER))
    # The organising school and the evaluator hear of the drill; the participating clinic does not.
    assert units.school_staff.id in told and evaluator.id in told and units.clinic_staff.id not in told
    # The county's double-blind drill: its coordinator (organiser) is reminded, the school is not.
    county_notes = [n for n in notes(Kind.DRILL_REMINDER) if f":{county_drill.id}:" in n.dedupe_key]
    assert [n.user_id for n in county_notes] == [units.coordinator.id]
    assert units.shawan_coordinator.id not in told


def test_cancelled_or_deleted_drill_gets_no_reminder(units, make_drill):
    now = at(0)
    cancelled = make_drill(organizer=units.school, starts_at=now + timedelta(days=2))
    deleted = make_drill(organizer=units.clinic, starts_at=now + timedelta(days=2))
    cancelled.status = DrillStatus.CANCELLED
    db.session.delete(deleted)
    db.session.commit()
    reminder_jobs.drill_reminders(now)
    assert notes(Kind.DRILL_REMINDER) == []


def test_reminder_queued_then_drill_cancelled_is_withdrawn_before_sending(units, make_drill):
    from drillmgr.notifications.services import withdraw_stale_drill_reminders

    now = at(0)
    drill = make_drill(organizer=units.school, participants=[units.clinic], starts_at=now + timedelta(days=2))
    kept = make_drill(organizer=units.clinic, starts_at=now + timedelta(days=2))
    reminder_jobs.drill_reminders(now)
    assert count(OutboxMail) == 3
    drill.status = DrillStatus.CANCELLED
    db.session.commit()
    assert withdraw_stale_drill_reminders() == 2
    left = [n.dedupe_key for n in notes(Kind.DRILL_REMINDER)]
    assert all(f":{kept.id}:" in key for key in left if units.clinic_staff.id == int(key.rsplit(":", 1)[1]))
    assert count(OutboxMail) == 1


def test_rescheduled_drill_is_announced_again_for_its_new_time(units, make_drill):
    now = at(0)
    drill = make_drill(organizer=units.school, starts_at=now + timedelta(days=3))
    reminder_jobs.drill_reminders(now)
    first = len(notes(Kind.DRILL_REMINDER, units.school_staff))
    drill.starts_at, drill.ends_at = drill.starts_at + timedelta(days=1), drill.ends_at + timedelta(days=1)
    db.session.commit()
    reminder_jobs.drill_reminders(now)
    assert len(notes(Kind.DRILL_REMINDER, units.school_staff)) == first + 1


def test_reminder_job_does_not_query_per_drill(app, units, make_drill):
    def statements(drill_count, now):
        for n in range(drill_count):
            make_drill(organizer=units.school, participants=[units.clinic], starts_at=now + timedelta(days=2, hours=n))
        seen = []

        def count_statement(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith("SELECT"):
                seen.append(statement)

        connection = db.session.connection()
        sa.event.listen(connection, "before_cursor_execute", count_statement)
        try:
            summary = reminder_jobs.drill_reminders(now)
        finally:
            sa.event.remove(connection, "before_cursor_execute", count_statement)
        assert summary == f"{drill_count} upcoming drills, {drill_count * 3} reminders sent."
        return len(seen)

    assert statements(2, at(0)) == statements(12, at(days=30))


# --- corrective actions ----------------------------------------------------------------------


def add_action(drill, owner, due_on, status=ActionStatus.OPEN):
    finding = Finding(
        drill_id=drill.id,
        region_code=drill.region_code,
        org_id=drill.organizer_org_id,
        summary="应急广播不清晰",
        severity=Severity.MAJOR,
        category=FindingCategory.EQUIPMENT,
        found_on=due_on - timedelta(days=30),
    )
    finding.corrective_action = CorrectiveAction(
        description="更换广播设备", owner_id=owner.id, due_on=due_on, status=status
    )
    db.session.add(finding)
    db.session.commit()
    return finding.corrective_action


def test_corrective_actions_due_soon_and_overdue_remind_their_owner(units, make_drill):
    moment = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)  # 08:00 Beijing, 1 September
    drill = make_drill(organizer=units.school, starts_at=moment - timedelta(days=40), status=DrillStatus.COMPLETED)
    due_soon = add_action(drill, units.school_staff, date(2026, 9, 3))
    later = add_action(drill, units.clinic_staff, date(2026, 9, 20))
    overdue = add_action(drill, units.clinic_staff, date(2026, 8, 25), ActionStatus.IN_PROGRESS)
    add_action(drill, units.school_staff, date(2026, 8, 1), ActionStatus.VERIFIED)
    add_action(drill, units.school_staff, date(2026, 8, 1), ActionStatus.DONE)

    reminder_jobs.action_reminders(moment)
    due = notes(Kind.ACTION_DUE)
    assert [(n.user_id, n.subject) for n in due] == [(units.school_staff.id, "Corrective action due on 2026-09-03")]
    assert due[0].link == "/findings/actions" and "Corrective action: 更换广播设备" in due[0].body
    late = notes(Kind.ACTION_OVERDUE)
    assert [n.user_id for n in late] == [units.clinic_staff.id] and str(overdue.id) in late[0].dedupe_key
    assert later.id not in [int(n.dedupe_key.split(":")[1]) for n in due + late]

    reminder_jobs.action_reminders(moment + timedelta(days=1))  # a day later: nothing new
    assert len(notes(Kind.ACTION_DUE)) == 1 and len(notes(Kind.ACTION_OVERDUE)) == 1
    reminder_jobs.action_reminders(moment + timedelta(days=7))  # a week on: chased again while still overdue
    assert len(notes(Kind.ACTION_OVERDUE, units.clinic_staff)) == 2
    assert due_soon.id in [int(n.dedupe_key.split(":")[1]) for n in notes(Kind.ACTION_OVERDUE, units.school_staff)]


# --- report deadlines ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "today, expected",
    [
        (date(2026, 1, 5), date(2026, 6, 7)),
        (date(2026, 6, 7), date(2026, 6, 7)),
        (date(2026, 6, 8), date(2026, 11, 8)),
        (date(2026, 11, 9), date(2027, 6, 7)),
    ],
)
def test_next_report_deadline(today, expected):
    assert compliance_jobs.next_report_deadline(today) == expected


def beijing_morning(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 0, 0, tzinfo=UTC)  # 08:00 Beijing


def test_report_deadline_reminders_14_and_3_days_before_to_coordinators(units):
    compliance_jobs.report_deadline_reminders(beijing_morning(date(2026, 5, 20)))  # 18 days before 7 June
    assert notes(Kind.REPORT_DEADLINE) == []
    compliance_jobs.report_deadline_reminders(beijing_morning(date(2026, 5, 24)))  # 14 days
    assert recipients(Kind.REPORT_DEADLINE) == sorted([units.coordinator.id, units.shawan_coordinator.id])
    first = notes(Kind.REPORT_DEADLINE)[0]
    assert first.subject == "半年报告将于 2026-06-07 截止" and "还有 14 天" in first.body
    assert first.link == "/compliance/report"
    compliance_jobs.report_deadline_reminders(beijing_morning(date(2026, 5, 26)))  # same window: nothing new
    assert len(notes(Kind.REPORT_DEADLINE)) == 2
    # The run on the 3-days-before day was missed; the next day's run makes it good.
    compliance_jobs.report_deadline_reminders(beijing_morning(date(2026, 6, 5)))
    keys = [n.dedupe_key for n in notes(Kind.REPORT_DEADLINE)]
    assert sum(":3d:" in k for k in keys) == 2 and all("2026-06-07" in k for k in keys)
    compliance_jobs.report_deadline_reminders(beijing_morning(date(2026, 10, 25)))  # 14 days before 8 November
    assert sum("2026-11-08" in n.dedupe_key for n in notes(Kind.REPORT_DEADLINE)) == 2


# --- compliance ------------------------------------------------------------------------------


def test_compliance_alerts_the_regions_coordinators_once_per_worsening(units, make_drill):
    moment = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)  # 02:00 Beijing, 2 September
    assert compliance_jobs.compliance(moment).endswith("none worse.")  # first run: snapshots only
    drill = make_drill(organizer=units.school, starts_at=moment - timedelta(days=40), status=DrillStatus.COMPLETED)
    add_action(drill, units.school_staff, date(2026, 9, 20))  # due within the warning window: at risk

    compliance_jobs.compliance(moment + timedelta(days=1))
    alerts = notes(Kind.COMPLIANCE_WORSENED)
    corrective = [n for n in alerts if ":corrective-actions:" in n.dedupe_key]
    assert [n.user_id for n in corrective] == [units.coordinator.id]
    assert all(n.user_id != units.shawan_coordinator.id for n in alerts if ":region:654202:" in n.dedupe_key)
    snapshot = db.session.scalar(
        sa.select(ComplianceSnapshot).where(
            ComplianceSnapshot.rule_key == "corrective-actions", ComplianceSnapshot.subject_id == WUSU
        )
    )
    assert snapshot.status == ComplianceStatus.AT_RISK

    total = len(notes(Kind.COMPLIANCE_WORSENED))
    compliance_jobs.compliance(moment + timedelta(days=1))  # again for the same moment: nothing new
    compliance_jobs.compliance(moment + timedelta(days=2))  # no change since: nothing new
    assert len(notes(Kind.COMPLIANCE_WORSENED)) == total

    compliance_jobs.compliance(moment + timedelta(days=30))  # now overdue: at risk → missed, a new worsening
    corrective = [n for n in notes(Kind.COMPLIANCE_WORSENED) if ":corrective-actions:" in n.dedupe_key]
    assert [n.user_id for n in corrective] == [units.coordinator.id] * 2


# --- series, calendars, housekeeping ---------------------------------------------------------


def test_materialize_series_creates_the_next_occurrences_once(app, units):
    from drillmgr.drills.series import create_series

    start = at(days=1).replace(hour=2, minute=0)
    with app.test_request_context():
        series = create_series(
            units.school_staff,
            {
                "title": "每月疏散演练",
                "form": "evacuation",
                "scope": "single",
                "organizer_org_id": units.school.id,
                "region_code": WUSU,
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
                "rrule": "FREQ=MONTHLY;COUNT=24",
            },
            horizon=start + timedelta(days=40),
        )
    existing = db.session.scalar(sa.select(sa.func.count()).select_from(Drill).where(Drill.series_id == series.id))
    assert housekeeping_jobs.materialize_series(start) != "0 drills created."
    made = db.session.scalar(sa.select(sa.func.count()).select_from(Drill).where(Drill.series_id == series.id))
    assert made > existing
    assert housekeeping_jobs.materialize_series(start) == "0 drills created."
    assert db.session.get(DrillSeries, series.id).materialized_until is not None


def test_publish_calendars_only_when_something_public_changed(app, units, make_drill, tmp_path):
    from drillmgr.scheduler import runner

    # Noon in Beijing: the five-minute steps below must not cross the local midnight, which changes the calendars.
    moment = at(0).replace(hour=4, minute=0, second=0)

    def run(when):
        """What the run did: "<n> files published." or "Unchanged." (what follows left out)."""
        runner.run_job("publish_calendars", housekeeping_jobs.publish_calendars, when, "test")
        detail = runner.last_detail("publish_calendars")
        assert "+00:00" not in detail and " public drills, last changed " in detail
        return detail.split(". ", 1)[0] + "."

    assert run(moment).endswith(" files published.")
    assert run(moment + timedelta(minutes=5)) == "Unchanged."
    make_drill(organizer=units.school, public=True, starts_at=moment + timedelta(days=3))
    assert run(moment + timedelta(minutes=10)).endswith(" files published.")
    assert run(moment + timedelta(minutes=15)) == "Unchanged."
    make_drill(organizer=units.school, public=False, starts_at=moment + timedelta(days=3))
    assert run(moment + timedelta(minutes=20)) == "Unchanged."


def test_a_failed_compliance_run_leaves_no_snapshot_behind_so_the_alert_comes_next_time(units, make_drill, monkeypatch):
    from drillmgr.scheduler import runner

    moment = datetime(2026, 9, 1, 18, 0, tzinfo=UTC)
    compliance_jobs.compliance(moment)
    db.session.commit()
    drill = make_drill(organizer=units.school, starts_at=moment - timedelta(days=40), status=DrillStatus.COMPLETED)
    add_action(drill, units.school_staff, date(2026, 9, 20))

    def broken(messages):
        raise RuntimeError("mail system down")

    monkeypatch.setattr(compliance_jobs, "notify_many", broken)
    runner.run_job("compliance", compliance_jobs.compliance, moment + timedelta(days=1), "test")
    assert runner.last_detail("compliance", runner.Outcome.FAILED).strip().endswith("mail system down")
    snapshot = db.session.scalar(
        sa.select(ComplianceSnapshot).where(
            ComplianceSnapshot.rule_key == "corrective-actions", ComplianceSnapshot.subject_id == WUSU
        )
    )
    assert snapshot.status == ComplianceStatus.MET  # the worsening was not recorded without its alert

    monkeypatch.undo()
    runner.run_job("compliance", compliance_jobs.compliance, moment + timedelta(days=2), "test")
    assert [n.user_id for n in notes(Kind.COMPLIANCE_WORSENED) if ":corrective-actions:" in n.dedupe_key] == [
        units.coordinator.id
    ]


def test_gather_statistics_gives_the_planner_the_drills_statistics(make_drill):
    for day in range(5):
        make_drill(starts_at=at(days=day + 1))
    message = housekeeping_jobs.gather_statistics(at())
    assert re.fullmatch(r"Statistics gathered in \d+ ms\.", message), message
    assert planner_statistics_of("drills") > 0
