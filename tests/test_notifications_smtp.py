"""The outbox sender against a real SMTP server on loopback (aiosmtpd): retries, backoff, exactly once."""

import email
import socket
from datetime import datetime, timedelta, timezone
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from drillmgr.enums import MailStatus
from drillmgr.extensions import db
from drillmgr.notifications.models import OutboxMail
from drillmgr.notifications.sender import SmtpSettings, SmtpSettingsError, claim, retry_delay, send_pending
from drillmgr.notifications.services import notify

pytestmark = pytest.mark.slow


class Inbox:
    """An aiosmtpd handler that keeps what it receives; refuses recipients listed in `refuse`."""

    def __init__(self, refuse=()):
        self.messages = []
        self.refuse = set(refuse)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_for(port: int, **overrides) -> SmtpSettings:
    config = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_TLS": "none",
        "SMTP_FROM": "drillmgr@example.cn",
        "SMTP_RETRY_SECONDS": "60",
        "SMTP_TIMEOUT": 5,
        "HOST": "drillmgr.test",
    } | overrides
    return SmtpSettings.from_config(config)


@pytest.fixture
def port():
    return free_port()


def start_server(port, inbox) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def queue(make_user, n):
    users = [make_user(email=f"user{i}@example.cn") for i in range(n)]
    for i, user in enumerate(users):
        notify(user, "test", f"演练提醒 {i}", f"第 {i} 条正文", f"/drills/{i}", f"smtp-test-{i}")
    notify(make_user(email=None), "test", "只在站内", "", "", "smtp-test-in-app")
    db.session.commit()
    return users


def soon() -> datetime:
    """A moment just after mails queued now (they are due at once), for the sender's `now`."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=1)


def mails():
    return db.session.scalars(
        sa.select(OutboxMail).order_by(OutboxMail.id).execution_options(populate_existing=True)
    ).all()


def test_server_down_then_up_every_mail_delivered_exactly_once(make_user, port):
    queue(make_user, 5)
    settings = settings_for(port)
    t0 = soon()

    report = send_pending(settings, now=t0)  # nothing listens on the port
    assert (report.sent, report.failed) == (0, 5)
    for mail in mails():
        assert mail.status == MailStatus.PENDING and mail.attempts == 1
        assert mail.next_attempt_at == t0 + timedelta(seconds=60) and "Connection" in mail.last_error

    assert (send_pending(settings, now=t0 + timedelta(seconds=30)).failed) == 0  # backing off: not tried
    report = send_pending(settings, now=t0 + timedelta(seconds=61))  # still down: the delay doubles
    assert report.failed == 5
    assert {m.next_attempt_at for m in mails()} == {t0 + timedelta(seconds=61 + 120)}

    inbox = Inbox()
    server = start_server(port, inbox)
    try:
        report = send_pending(settings, now=t0 + timedelta(seconds=200))
        assert (report.sent, report.failed) == (5, 0)
        assert send_pending(settings, now=t0 + timedelta(hours=5)).sent == 0
    finally:
        server.stop()
    assert sorted(m["To"] for m in inbox.messages) == sorted(f"user{i}@example.cn" for i in range(5))
    subjects = sorted(m["Subject"] for m in inbox.messages)
    assert subjects == [f"演练提醒 {i}" for i in range(5)]
    first = next(m for m in inbox.messages if m["Subject"] == "演练提醒 0")
    assert first.get_content().replace("\r\n", "\n") == "第 0 条正文\n\nhttp://localhost/drills/0\n"
    assert first["From"] == "drillmgr@example.cn" and first["Message-ID"].endswith("@drillmgr.test>")
    assert len({m["Message-ID"] for m in inbox.messages}) == 5
    assert all(m.status == MailStatus.SENT and m.sent_at is not None and m.last_error == "" for m in mails())


class Refusing(Inbox):
    """Answers RCPT for `address` with `reply` (a 550 is permanent, a 450 or 421 temporary; smtplib
    closes its connection on a 421), or drops the connection at DATA for `drop`, without an answer."""

    def __init__(self, reply_to=None, reply="", drop=None):
        super().__init__()
        self.reply_to, self.reply, self.drop = reply_to, reply, drop
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.reply_to:
            return self.reply
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.drop in envelope.rcpt_tos:
            server.transport.close()
            return "250 OK"  # never reaches the client
        return await super().handle_DATA(server, session, envelope)


def by_address(address):
    return next(m for m in mails() if m.to_address == address)


def send_with(port, inbox, now, **settings):
    server = start_server(port, inbox)
    try:
        return send_pending(settings_for(port, **settings), now=now)
    finally:
        server.stop()


def test_a_permanent_refusal_fails_the_mail_for_good_and_the_rest_go_out(make_user, port):
    from drillmgr.notifications.models import Notification
    from drillmgr.notifications.services import outbox_summary

    queue(make_user, 3)
    t0 = soon()
    report = send_with(port, Refusing("user1@example.cn", "550 5.1.1 no such mailbox"), t0)
    assert (report.sent, report.failed, report.refused) == (2, 0, 1)
    refused = by_address("user1@example.cn")
    assert refused.status == MailStatus.FAILED and refused.attempts == 1 and "550" in refused.last_error
    later = Inbox()
    assert send_with(port, later, t0 + timedelta(days=2)).sent == 0 and later.messages == []
    assert by_address("user1@example.cn").attempts == 1  # never tried again
    assert db.session.get(Notification, refused.notification_id) is not None  # the in-app notice stands
    summary = outbox_summary()
    assert summary["failed"] == 1 and [m.to_address for m in summary["refused"]] == ["user1@example.cn"]


@pytest.mark.parametrize("reply", ["450 4.2.1 mailbox busy", "421 4.7.0 too many connections, closing"])
def test_a_temporary_refusal_backs_off_that_mail_alone_on_a_fresh_connection(make_user, port, reply):
    queue(make_user, 4)
    t0 = soon()
    inbox = Refusing("user1@example.cn", reply)
    report = send_with(port, inbox, t0)
    assert (report.sent, report.failed, report.refused) == (3, 1, 0)
    assert sorted(m["To"] for m in inbox.messages) == ["user0@example.cn", "user2@example.cn", "user3@example.cn"]
    refused = by_address("user1@example.cn")
    assert refused.status == MailStatus.PENDING and reply[:3] in refused.last_error
    assert refused.next_attempt_at == t0 + timedelta(seconds=60)
    assert {m.next_attempt_at for m in mails() if m.status == MailStatus.SENT} <= {t0 + timedelta(minutes=10)}
    if reply.startswith("421"):  # the closed connection was not used again: a new one carried the rest
        assert inbox.connections == 2
    # Its own backoff, not the others': retried (and delivered) once it is due.
    retry = Inbox()
    assert send_with(port, retry, t0 + timedelta(seconds=61)).sent == 1
    assert [m["To"] for m in retry.messages] == ["user1@example.cn"]


def test_a_dropped_connection_holds_back_only_the_mail_it_was_carrying(make_user, port):
    queue(make_user, 4)
    t0 = soon()
    inbox = Refusing(drop="user1@example.cn")
    report = send_with(port, inbox, t0)
    assert (report.sent, report.failed) == (3, 1)
    assert sorted(m["To"] for m in inbox.messages) == ["user0@example.cn", "user2@example.cn", "user3@example.cn"]
    dropped = by_address("user1@example.cn")
    assert dropped.status == MailStatus.PENDING and dropped.attempts == 1
    assert dropped.next_attempt_at == t0 + timedelta(seconds=60)
    assert inbox.connections == 2


def test_a_mail_keeps_its_message_id_and_a_claim_left_by_a_killed_sender_is_sent_once(make_user, port):
    queue(make_user, 2)
    t0 = soon()
    first, second = mails()[:2]
    assert claim(first.id, t0)  # a sender that was killed before the server answered
    send_with(port, Refusing("user1@example.cn", "451 try later"), t0)
    message_id = by_address("user1@example.cn").message_id
    assert message_id == f"<outbox-{second.id}@drillmgr.test>"
    inbox = Inbox()
    # Before the claim lapses nobody sends the killed sender's mail; after, it goes once, with its own id.
    assert send_with(port, inbox, t0 + timedelta(minutes=5), HOST="renamed.test").sent == 1
    assert send_with(port, inbox, t0 + timedelta(minutes=11), HOST="renamed.test").sent == 1
    assert send_with(port, inbox, t0 + timedelta(hours=2), HOST="renamed.test").sent == 0
    ids = {m["To"]: m["Message-ID"] for m in inbox.messages}
    assert sorted(m["To"] for m in inbox.messages) == ["user0@example.cn", "user1@example.cn"]
    assert ids["user1@example.cn"] == message_id  # kept from its first attempt
    assert ids["user0@example.cn"] == f"<outbox-{first.id}@renamed.test>"


def test_a_mail_is_claimed_by_one_sender_only(make_user):
    queue(make_user, 1)
    mail_id, now = mails()[0].id, soon()
    assert claim(mail_id, now)
    assert not claim(mail_id, now)  # a second sender finds it taken
    assert mails()[0].attempts == 1


def test_retry_delay_doubles_up_to_an_hour():
    assert [retry_delay(n, 60).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert retry_delay(20, 60) == timedelta(hours=1)


def test_no_smtp_host_means_mail_is_off():
    assert SmtpSettings.from_config({"SMTP_HOST": ""}) is None


def test_malformed_settings_are_refused_with_every_problem_named():
    with pytest.raises(SmtpSettingsError) as caught:
        SmtpSettings.from_config(
            {
                "SMTP_HOST": "mail.example.cn",
                "SMTP_PORT": "25x",
                "SMTP_TLS": "tls",
                "SMTP_USERNAME": "user",
                "SMTP_PASSWORD": "",
                "SMTP_FROM": "nobody",
            }
        )
    message = str(caught.value)
    for part in ("SMTP_PORT", "'25x'", "SMTP_TLS", "starttls", "SMTP_USERNAME and SMTP_PASSWORD", "SMTP_FROM"):
        assert part in message
    with pytest.raises(SmtpSettingsError, match="SMTP_PORT"):
        SmtpSettings.from_config({"SMTP_HOST": "h", "SMTP_PORT": "70000", "SMTP_FROM": "a@b.cn"})


def test_scheduler_refuses_to_start_with_a_malformed_smtp_setting(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example.cn")
    monkeypatch.setitem(app.config, "SMTP_TLS", "yes please")
    result = runner.invoke(args=["scheduler"])
    assert result.exit_code != 0
    assert "invalid SMTP settings" in result.output and "SMTP_TLS" in result.output


def test_scheduler_refuses_to_start_with_a_malformed_schedule(app, runner, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_SCHEDULE", "drill_reminders=hourly")
    result = runner.invoke(args=["scheduler"])
    assert result.exit_code != 0 and "cannot read schedule 'hourly'" in result.output
