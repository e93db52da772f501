"""In-app notifications and the mail outbox they feed.

`notify` only adds rows to the current session: they are committed (or not) together with the
change that caused them. The dedupe key makes every producer idempotent: a key seen before is
skipped, so a job run twice for the same moment notifies nobody twice.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, MailStatus
from drillmgr.extensions import db
from drillmgr.notifications.models import Notification, OutboxMail

# Keys are looked up in slices, below the bound-parameter limits of every supported database.
KEY_LOOKUP_SLICE = 500


class Kind:
    DRILL_REMINDER = "drill_reminder"
    ACTION_DUE = "action_due"
    ACTION_OVERDUE = "action_overdue"
    COMPLIANCE_WORSENED = "compliance_worsened"
    REPORT_DEADLINE = "report_deadline"
    REPORT_SUBMITTED = "report_submitted"
    REPORT_ACCEPTED = "report_accepted"
    REPORT_RETURNED = "report_returned"
    UNIT_REMINDER = "unit_reminder"
    NOTHING_PLANNED = "nothing_planned"
    RECORD_DRILL = "record_drill"
    REVIEW_SUBMITTED = "review_submitted"
    REVIEW_DECIDED = "review_decided"
    REVIEW_REOPENED = "review_reopened"
    ACTION_ASSIGNED = "action_assigned"
    ACTION_DONE = "action_done"
    ACTION_SENT_BACK = "action_sent_back"


@dataclass(frozen=True)
class Message:
    user: User
    kind: str
    subject: str
    body: str
    link: str
    dedupe_key: str


def link_to(endpoint: str, **values: Any) -> str:
    """The site-relative path of a page, or "" when that page is not part of this installation."""
    try:
        return current_app.url_map.bind("").build(endpoint, values)
    except BuildError:
        return ""


def absolute_url(link: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + link if link else ""


def existing_keys(wanted: Iterable[str]) -> set[str]:
    keys = list(dict.fromkeys(wanted))
    found: set[str] = set()
    for start in range(0, len(keys), KEY_LOOKUP_SLICE):
        found.update(
            db.session.scalars(
                sa.select(Notification.dedupe_key).where(
                    Notification.dedupe_key.in_(keys[start : start + KEY_LOOKUP_SLICE])
                )
            )
        )
    return found


def _add(message: Message) -> Notification:
    notification = Notification(
        user_id=message.user.id,
        kind=message.kind,
        subject=message.subject[:300],
        body=message.body,
        link=message.link,
        dedupe_key=message.dedupe_key,
    )
    db.session.add(notification)
    if message.user.email:
        notification_mail = OutboxMail(
            notification=notification,
            to_address=message.user.email,
            subject=message.subject[:300],
            body=_mail_body(message),
        )
        db.session.add(notification_mail)
    return notification


def _mail_body(message: Message) -> str:
    url = absolute_url(message.link)
    return f"{message.body}\n\n{url}\n" if url else f"{message.body}\n"


def notify_many(wanted: Iterable[Message]) -> list[Notification]:
    """Adds the messages whose dedupe keys are new (one lookup for all); returns what was added."""
    messages = [m for m in wanted if m.user.active]
    seen = existing_keys(m.dedupe_key for m in messages)
    added = []
    for message in messages:
        if message.dedupe_key in seen:
            continue
        seen.add(message.dedupe_key)
        added.append(_add(message))
    if added:
        db.session.flush()
    return added


def notify(user: User, kind: str, subject: str, body: str, link: str, dedupe_key: str) -> Notification | None:
    """Adds one notification (and its mail when the user has an address) unless the key was used."""
    added = notify_many([Message(user, kind, subject, body, link, dedupe_key)])
    return added[0] if added else None


# --- drill reminders ---------------------------------------------------------------------------


def drill_reminder_key(drill: Drill, days_before: int, user: User) -> str:
    """Includes the start, so a rescheduled drill is announced again for its new time."""
    return f"{Kind.DRILL_REMINDER}:{drill.id}:{days_before}d:{drill.starts_at:%Y%m%dT%H%M}:{user.id}"


def withdraw_stale_drill_reminders() -> int:
    """Removes the unsent reminders of drills cancelled or deleted since they were queued."""
    pending = db.session.execute(
        sa.select(OutboxMail.id, Notification.id, Notification.dedupe_key)
        .join(Notification, Notification.id == OutboxMail.notification_id)
        .where(OutboxMail.status == MailStatus.PENDING, Notification.kind == Kind.DRILL_REMINDER)
    ).all()
    if not pending:
        return 0
    drill_ids = {int(key.split(":")[1]) for _, _, key in pending}
    planned = set(
        db.session.scalars(sa.select(Drill.id).where(Drill.id.in_(drill_ids), Drill.status == DrillStatus.PLANNED))
    )
    stale = [
        (mail_id, notification_id) for mail_id, notification_id, key in pending if int(key.split(":")[1]) not in planned
    ]
    if stale:
        db.session.execute(sa.delete(OutboxMail).where(OutboxMail.id.in_([m for m, _ in stale])))
        db.session.execute(sa.delete(Notification).where(Notification.id.in_([n for _, n in stale])))
    return len(stale)


# --- reading ---------------------------------------------------------------------------------


def unread_count(user: User) -> int:
    return db.session.execute(
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(access.notification_clause(user), Notification.read_at.is_(None))
    ).scalar_one()


def notifications_query(user: User, unread_only: bool = False) -> sa.Select[tuple[Notification]]:
    query = sa.select(Notification).where(access.notification_clause(user))
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.created_at.desc(), Notification.id.desc())


def mark_read(user: User, notification_id: int, now: datetime | None = None) -> Notification:
    """Marks one of the user's notifications read; NotFound for anyone else's."""
    notification = db.session.scalar(
        sa.select(Notification).where(Notification.id == notification_id, access.notification_clause(user))
    )
    if notification is None:
        access.not_found(_("No such notification."))
    if notification.read_at is None:
        notification.read_at = now or utcnow()
    return notification


def mark_all_read(user: User, now: datetime | None = None) -> int:
    result = db.session.execute(
        sa.update(Notification)
        .where(access.notification_clause(user), Notification.read_at.is_(None))
        .values(read_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    # SQLAlchemy 2.0 types Session.execute() as Result; a DML statement's is a CursorResult, which has rowcount.
    return int(result.rowcount)  # type: ignore[attr-defined]


class OutboxSummary(TypedDict):
    pending: int
    sent: int
    retrying: int
    failed: int
    failing: Sequence[OutboxMail]
    refused: Sequence[OutboxMail]


def outbox_summary() -> OutboxSummary:
    """Pending, sent and refused mail, the pending mails that failed at least once and the latest
    refused ones, for the admins."""
    pending_failed = sa.and_(OutboxMail.status == MailStatus.PENDING, OutboxMail.last_error != "")
    counts = db.session.execute(
        sa.select(
            sa.func.count(sa.case((OutboxMail.status == MailStatus.PENDING, OutboxMail.id))),
            sa.func.count(sa.case((OutboxMail.status == MailStatus.SENT, OutboxMail.id))),
            sa.func.count(sa.case((pending_failed, OutboxMail.id))),
            sa.func.count(sa.case((OutboxMail.status == MailStatus.FAILED, OutboxMail.id))),
        )
    ).one()
    failing = db.session.scalars(
        sa.select(OutboxMail).where(pending_failed).order_by(OutboxMail.next_attempt_at).limit(10)
    ).all()
    refused = db.session.scalars(
        sa.select(OutboxMail).where(OutboxMail.status == MailStatus.FAILED).order_by(OutboxMail.id.desc()).limit(10)
    ).all()
    return {
        "pending": counts[0],
        "sent": counts[1],
        "retrying": counts[2],
        "failed": counts[3],
        "failing": failing,
        "refused": refused,
    }
