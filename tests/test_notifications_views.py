"""The bell, the notifications page and the admins' job-run page."""
from datetime import timedelta

import pytest

from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.notifications.models import Notification
from drillmgr.notifications.services import notify
from drillmgr.scheduler import services as scheduler
from tests.conftest import at, login


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def staff(make_org, make_user):
    return make_user(org=make_org())


def test_bell_shows_the_unread_count(client, staff):
    login(client, staff)
    assert 'id="bell-count"' not in text(client.get("/"))
    for i in range(3):
        notify(staff, "test", f"提醒{i}", "", "", f"bell-{i}")
    db.session.commit()
    page = text(client.get("/"))
    assert 'id="bell"' in page and '<span class="position-absolute top-0 start-100' in page
    assert 'id="bell-count">3</span>' in page


def test_notifications_page_lists_marks_read_and_opens_the_link(client, staff, make_user):
    first = notify(staff, "test", "演练提醒：秋季疏散", "正文一", "/notifications/?from=link", "page-1")
    notify(staff, "test", "整改到期", "正文二", "", "page-2")
    notify(make_user(), "test", "别人的提醒", "", "", "page-3")
    db.session.commit()
    login(client, staff)
    page = text(client.get("/notifications/"))
    assert "演练提醒：秋季疏散" in page and "整改到期" in page and "别人的提醒" not in page
    assert "标记为已读" in page

    response = client.post(f"/notifications/{first.id}/read", data={"open": "1"})
    assert response.status_code == 302 and response.headers["Location"] == "/notifications/?from=link"
    assert db.session.get(Notification, first.id, populate_existing=True).read_at is not None
    unread = text(client.get("/notifications/?unread=1"))
    assert "整改到期" in unread and "演练提醒：秋季疏散" not in unread

    client.post("/notifications/read-all")
    assert 'id="bell-count"' not in text(client.get("/notifications/"))


def test_someone_elses_notification_cannot_be_marked(client, staff, make_user):
    theirs = notify(make_user(), "test", "别人的", "", "", "theirs")
    db.session.commit()
    login(client, staff)
    assert client.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert db.session.get(Notification, theirs.id, populate_existing=True).read_at is None


def test_notifications_need_login(client):
    assert client.get("/notifications/").status_code == 302


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.VIEWER, Role.ORG_STAFF])
def test_job_runs_are_for_admins_only(client, make_user, role):
    login(client, make_user(role))
    assert client.get("/admin/jobs/").status_code == 403


def test_admin_sees_recent_runs_failures_and_the_outbox(client, make_user):
    admin = make_user(Role.ADMIN)
    scheduler.acquire_lease("host:123:abc", 30)
    scheduler.run_job("drill_reminders", lambda moment: "3 upcoming drills, 5 reminders sent", at(hours=-1), "host:123:abc")
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
