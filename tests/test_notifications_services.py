"""notify(): a notification and its mail in the cause's transaction, once per dedupe key; reading them."""

import pytest
import sqlalchemy as sa

from drillmgr.enums import MailStatus
from drillmgr.errors import NotFound
from drillmgr.extensions import db
from drillmgr.notifications import services
from drillmgr.notifications.models import Notification, OutboxMail
from drillmgr.notifications.services import Message, notify


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_notify_adds_notification_and_mail_for_a_user_with_an_address(make_user):
    user = make_user(email="zhang@example.cn")
    note = notify(user, "test", "主题", "正文", "/drills/1", "key-1")
    db.session.commit()
    mail = db.session.scalar(sa.select(OutboxMail))
    assert note.user_id == user.id and note.read_at is None
    assert (mail.notification_id, mail.to_address, mail.subject, mail.status) == (
        note.id,
        "zhang@example.cn",
        "主题",
        MailStatus.PENDING,
    )
    assert mail.body == "正文\n\nhttp://localhost/drills/1\n"


def test_user_without_email_gets_the_notification_in_app_only(make_user):
    notify(make_user(email=None), "test", "主题", "正文", "", "key-1")
    assert count(Notification) == 1 and count(OutboxMail) == 0


def test_same_dedupe_key_notifies_once(make_user):
    user = make_user(email="a@example.cn")
    assert notify(user, "test", "一", "", "", "same") is not None
    assert notify(user, "test", "二", "", "", "same") is None
    added = services.notify_many(
        [
            Message(user, "test", "三", "", "", "same"),
            Message(user, "test", "四", "", "", "new"),
            Message(user, "test", "五", "", "", "new"),
        ]
    )
    assert [n.subject for n in added] == ["四"]
    assert count(Notification) == 2 and count(OutboxMail) == 2


def test_notification_and_mail_live_and_die_with_the_transaction_of_their_cause(make_user, make_org):
    user = make_user(email="a@example.cn")
    org = make_org(name="原名")
    org.name = "新名"
    notify(user, "test", "单位改名", "", "", "rename")
    db.session.rollback()
    assert count(Notification) == 0 and count(OutboxMail) == 0
    assert db.session.get(type(org), org.id).name == "原名"


@pytest.fixture
def request_context(app):
    with app.test_request_context():
        yield


def test_reading_marks_only_ones_own(request_context, make_user):
    me, other = make_user(), make_user()
    mine = [notify(me, "test", f"第{i}条", "", "", f"me-{i}") for i in range(3)]
    theirs = notify(other, "test", "别人的", "", "", "other")
    db.session.commit()
    assert services.unread_count(me) == 3
    services.mark_read(me, mine[0].id)
    assert services.unread_count(me) == 2
    with pytest.raises(NotFound):
        services.mark_read(me, theirs.id)
    assert db.session.get(Notification, theirs.id).read_at is None
    assert services.mark_all_read(me) == 2
    assert services.unread_count(me) == 0 and services.unread_count(other) == 1
    listed = db.session.scalars(services.notifications_query(me)).all()
    assert {n.id for n in listed} == {n.id for n in mine}
    assert db.session.scalars(services.notifications_query(me, unread_only=True)).all() == []


def test_inactive_users_are_not_notified(make_user):
    assert notify(make_user(active=False, email="x@example.cn"), "test", "s", "", "", "k") is None
    assert count(Notification) == 0


def test_link_to_is_empty_for_a_page_this_installation_lacks(app):
    assert services.link_to("notifications.index") == "/notifications/"
    assert services.link_to("no_such.page") == ""
