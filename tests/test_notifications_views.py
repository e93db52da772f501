"""The bell and the notifications page."""

import pytest

from drillmgr.extensions import db
from drillmgr.notifications.models import Notification
from drillmgr.notifications.services import notify
from tests.conftest import login


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
