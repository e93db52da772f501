"""Delivering the outbox by SMTP.

Each mail is claimed with a conditional UPDATE before it is sent, so two senders never send the
same mail; it is marked sent only after the server accepted it. A permanent refusal (5xx) marks it
failed for good; a temporary one pushes that mail's next attempt back exponentially. One mail's
trouble never holds back the others: a connection the server dropped or closed (421) is replaced
for the next mail. A sender killed before the server accepted the mail leaves it to be sent once the
claim lapses; killed after, the mail goes again with the Message-ID it kept, for receivers to drop.

So the sender is not a service: it is the runner of its own small units of work (drillmgr.unit_of_work.unit),
one for withdrawing stale reminders, one per claim, one per mail's outcome, each committed before the next
step, so that a crash never loses a claim or sends a mail already marked sent. The scheduler's send_mail job
calls it; what a job commits at its end is then nothing more.
"""

import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.db import utcnow
from drillmgr.enums import MailStatus
from drillmgr.extensions import db
from drillmgr.unit_of_work import unit
from drillmgr.notifications.models import OutboxMail
from drillmgr.notifications.services import withdraw_stale_drill_reminders
from drillmgr.validation import parse_whole_number

TLS_MODES = ("none", "starttls", "ssl")
MAX_RETRY_DELAY = timedelta(hours=1)
# How long a claimed mail stays out of other senders' reach: well above one SMTP conversation.
CLAIM_HOLD = timedelta(minutes=10)
SERVICE_CLOSING = 421


class SmtpSettingsError(ValueError):
    """The SMTP_* settings cannot work; raised at start rather than dropping mail silently."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: str
    username: str
    password: str
    sender: str
    retry_seconds: int
    timeout: float
    message_id_domain: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SmtpSettings | None":
        """The settings, None when SMTP_HOST is empty (mail off), or SmtpSettingsError listing every problem."""
        host = str(config.get("SMTP_HOST") or "").strip()
        if not host:
            return None
        problems = []
        raw_port = str(config.get("SMTP_PORT", "")).strip()
        port = parse_whole_number(raw_port) or 0
        if not 1 <= port <= 65535:
            problems.append(f"SMTP_PORT must be a whole number from 1 to 65535, not {raw_port!r}")
        tls = str(config.get("SMTP_TLS", "none")).strip().lower()
        if tls not in TLS_MODES:
            problems.append(f"SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        username = str(config.get("SMTP_USERNAME") or "")
        password = str(config.get("SMTP_PASSWORD") or "")
        if bool(username) != bool(password):
            problems.append("SMTP_USERNAME and SMTP_PASSWORD must be given together")
        sender = str(config.get("SMTP_FROM") or "").strip()
        if "@" not in parseaddr(sender)[1]:
            problems.append(f"SMTP_FROM must be an e-mail address, not {sender!r}")
        raw_retry = str(config.get("SMTP_RETRY_SECONDS", "60")).strip()
        retry_seconds = parse_whole_number(raw_retry) or 0
        if retry_seconds < 1:
            problems.append(f"SMTP_RETRY_SECONDS must be a positive whole number, not {raw_retry!r}")
        if problems:
            raise SmtpSettingsError("invalid SMTP settings: " + "; ".join(problems))
        return cls(
            host=host,
            port=port,
            tls=tls,
            username=username,
            password=password,
            sender=sender,
            retry_seconds=retry_seconds,
            timeout=float(config.get("SMTP_TIMEOUT", 20)),
            message_id_domain=config.get("HOST", "localhost"),
        )

    def connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.tls == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                connection.starttls(context=context)
        if self.username:
            connection.login(self.username, self.password)
        return connection


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    refused: int = 0
    withdrawn: int = 0

    def __str__(self) -> str:
        return str(
            _(
                "%(sent)d sent, %(failed)d failed (to be retried), %(refused)d refused for good, "
                "%(withdrawn)d withdrawn.",
                sent=self.sent,
                failed=self.failed,
                refused=self.refused,
                withdrawn=self.withdrawn,
            )
        )


def retry_delay(attempts: int, retry_seconds: int) -> timedelta:
    """60 s, 2 min, 4 min … capped at an hour (for the default base of 60 s)."""
    return min(timedelta(seconds=retry_seconds * 2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def claim(mail_id: int, now: datetime) -> bool:
    """Takes a due mail for this sender (a unit of its own); False when another sender has it or it is not due."""
    with unit():
        result = db.session.execute(
            sa.update(OutboxMail)
            .where(OutboxMail.id == mail_id, OutboxMail.status == MailStatus.PENDING, OutboxMail.next_attempt_at <= now)
            .values(next_attempt_at=now + CLAIM_HOLD, attempts=OutboxMail.attempts + 1)
            .execution_options(synchronize_session=False)
        )
    # SQLAlchemy 2.0 types Session.execute() as Result; a DML statement's is a CursorResult, which has rowcount.
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def build_message(mail: OutboxMail, settings: SmtpSettings) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = mail.message_id or f"<outbox-{mail.id}@{settings.message_id_domain}>"
    message.set_content(mail.body)
    return message


def smtp_code(error: Exception) -> int | None:
    """The server's reply code in an SMTP error, if it gave one."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return next((code for code, _reply in error.recipients.values()), None)
    code = getattr(error, "smtp_code", None)
    return code if isinstance(code, int) else None


def _connection_lost(connection: smtplib.SMTP, error: Exception) -> bool:
    """Whether the connection cannot carry the next mail: dropped, closed by the server (421, which
    smtplib answers by closing), or any error that is not the server's answer about this one mail."""
    if getattr(connection, "sock", None) is None or smtp_code(error) == SERVICE_CLOSING:
        return True
    return not isinstance(error, (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused))


def _retry_later(mail: OutboxMail, now: datetime, settings: SmtpSettings, error: Exception) -> None:
    with unit():
        mail.next_attempt_at = now + retry_delay(mail.attempts, settings.retry_seconds)
        mail.last_error = f"{type(error).__name__}: {error}"[:2000]


def _refused(mail: OutboxMail, error: Exception) -> None:
    with unit():
        mail.status = MailStatus.FAILED
        mail.last_error = f"{type(error).__name__}: {error}"[:2000]


def _sent(mail: OutboxMail) -> None:
    with unit():
        mail.status = MailStatus.SENT
        mail.sent_at = utcnow()
        mail.last_error = ""


def _close(connection: smtplib.SMTP | None) -> None:
    if connection is None:
        return
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


def send_pending(
    settings: SmtpSettings, now: datetime | None = None, limit: int = 200, keep_going: Callable[[], bool] = lambda: True
) -> SendReport:
    """Sends the due mails, one at a time, while `keep_going()`. A server that cannot be reached
    defers every mail of this run; anything else concerns the one mail it happened to."""
    now = now or utcnow()
    with unit():
        report = SendReport(withdrawn=withdraw_stale_drill_reminders())
    due = list(
        db.session.scalars(
            sa.select(OutboxMail.id)
            .where(OutboxMail.status == MailStatus.PENDING, OutboxMail.next_attempt_at <= now)
            .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
            .limit(limit)
        )
    )
    connection = None
    unreachable = None
    try:
        for mail_id in due:
            if not keep_going() or not claim(mail_id, now):
                continue
            mail = db.session.get(OutboxMail, mail_id, populate_existing=True)
            assert mail is not None  # claim() has just taken it
            if not mail.message_id:
                with unit():
                    mail.message_id = f"<outbox-{mail.id}@{settings.message_id_domain}>"
            if unreachable is None and connection is None:
                try:
                    connection = settings.connect()
                except OSError as error:
                    unreachable = error
            if unreachable is not None:
                _retry_later(mail, now, settings, unreachable)
                report.failed += 1
                continue
            assert connection is not None  # reachable: connected above
            try:
                connection.send_message(build_message(mail, settings))
            except OSError as error:  # smtplib's errors are OSErrors too
                code = smtp_code(error)
                if code is not None and 500 <= code < 600:
                    _refused(mail, error)
                    report.refused += 1
                else:
                    _retry_later(mail, now, settings, error)
                    report.failed += 1
                if _connection_lost(connection, error):
                    connection.close()
                    connection = None
                continue
            _sent(mail)
            report.sent += 1
    finally:
        _close(connection)
    return report
