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
    config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none", "SMTP_FROM": "drillmgr@example.cn",
              "SMTP_RETRY_SECONDS": "60", "SMTP_TIMEOUT": 5, "DRILLMGR_HOST": "drillmgr.test"} | overrides
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
    return db.session.scalars(sa.select(OutboxMail).order_by(OutboxMail.id).execution_options(
        populate_existing=True)).all()


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


def test_a_refused_recipient_is_retried_alone_while_the_rest_go_out(make_user, port):
    queue(make_user, 3)
    inbox = Inbox(refuse={"user1@example.cn"})
    server = start_server(port, inbox)
    try:
        report = send_pending(settings_for(port), now=soon())
    finally:
        server.stop()
    assert (report.sent, report.failed) == (2, 1)
    refused = next(m for m in mails() if m.to_address == "user1@example.cn")
    assert refused.status == MailStatus.PENDING and "550" in refused.last_error
    assert sorted(m["To"] for m in inbox.messages) == ["user0@example.cn", "user2@example.cn"]


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
        SmtpSettings.from_config({"SMTP_HOST": "mail.example.cn", "SMTP_PORT": "25x", "SMTP_TLS": "tls",
                                  "SMTP_USERNAME": "user", "SMTP_PASSWORD": "", "SMTP_FROM": "nobody"})
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
