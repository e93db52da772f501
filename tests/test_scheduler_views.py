"""The admins' page of job runs, failures, the lease and the mail outbox."""

import pytest

from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.notifications.services import notify
from drillmgr.scheduler import runner as scheduler
from tests.conftest import at, login


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.VIEWER, Role.ORG_STAFF])
def test_job_runs_are_for_admins_only(client, make_user, role):
    login(client, make_user(role))
    assert client.get("/admin/jobs/").status_code == 403


def test_admin_sees_recent_runs_failures_and_the_outbox(client, make_user):
    admin = make_user(Role.ADMIN)
    scheduler.acquire_lease("host:123:abc", 30)
    scheduler.run_job(
        "drill_reminders", lambda moment: "3 upcoming drills, 5 reminders sent", at(hours=-1), "host:123:abc"
    )
    scheduler.run_job("compliance", lambda moment: 1 / 0, at(hours=-2), "host:123:abc")
    notify(make_user(email="x@example.cn"), "test", "s", "b", "", "outbox-1")
    db.session.commit()
    login(client, admin)
    page = text(client.get("/admin/jobs/"))
    assert "host:123:abc" in page and "3 upcoming drills, 5 reminders sent" in page
    assert "ZeroDivisionError" in page and "待发送 1 封（其中重试中 0 封），已发送 0 封" in page
    failures = text(client.get("/admin/jobs/?failures=1"))
    assert "ZeroDivisionError" in failures and "5 reminders sent" not in failures
    only = text(client.get("/admin/jobs/?job=drill_reminders"))
    assert "5 reminders sent" in only and "ZeroDivisionError" not in only
    assert "任务运行记录" in page and "每 3600 秒" in page and "每天 02:00" in page
    menu = text(client.get("/"))
    assert 'href="/admin/jobs/"' in menu


def test_an_unreadable_schedule_setting_is_shown_to_the_admin(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_SCHEDULE", "compliance=hourly")
    login(client, make_user(Role.ADMIN))
    page = text(client.get("/admin/jobs/"))
    assert "无法读取 SCHEDULER_SCHEDULE 设置" in page and "cannot read schedule &#39;hourly&#39;" in page


def test_refused_mail_and_the_calendar_record_are_shown_in_beijing_time(client, make_user, make_drill, make_org):
    import sqlalchemy as sa

    from drillmgr.enums import MailStatus
    from drillmgr.notifications.models import OutboxMail
    from drillmgr.scheduler import housekeeping_jobs

    notify(make_user(email="gone@example.cn"), "test", "演练提醒", "b", "", "outbox-refused")
    db.session.flush()
    mail = db.session.scalar(sa.select(OutboxMail).where(OutboxMail.to_address == "gone@example.cn"))
    mail.status, mail.last_error = MailStatus.FAILED, "SMTPRecipientsRefused: 550 no such mailbox"
    drill = make_drill(organizer=make_org(), public=True, starts_at=at(days=3))
    scheduler.run_job("publish_calendars", housekeeping_jobs.publish_calendars, at(hours=-1), "host:1:a")
    db.session.commit()
    login(client, make_user(Role.ADMIN))
    page = text(client.get("/admin/jobs/"))
    assert (
        "1 封被拒收（不再重试；站内通知仍保留）" in page and "gone@example.cn" in page and "550 no such mailbox" in page
    )
    from drillmgr.formatting import local_datetime

    assert "+00:00" not in page
    assert f"公开演练 1 次，最近变更于 {local_datetime(drill.updated_at)}。" in page
