"""Participants' feedback: signed links handed out once the exercise has ended, one answer per link and no
account, summed up for the after-action report."""

import secrets
import statistics
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus
from drillmgr.errors import Conflict, NotFound
from drillmgr.exercises.checks import add_once, require_controller
from drillmgr.exercises.enums import SessionStatus
from drillmgr.exercises.models import Feedback
from drillmgr.exercises.schemas import FEEDBACK_DAYS, FeedbackLinkRequestSchema, FeedbackSchema
from drillmgr.exercises.sessions import session_of
from drillmgr.extensions import db

FEEDBACK_SALT = "exercise-feedback"
MAX_TOKEN = 500
MAX_RESPONDENT = 64


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FEEDBACK_SALT)


def _feedback_open(drill: Drill) -> bool:
    session = session_of(drill)
    return drill.status == DrillStatus.COMPLETED or (session is not None and session.status == SessionStatus.ENDED)


def feedback_tokens(actor: User, drill: Drill, data: dict[str, Any]) -> list[str]:
    """`count` signed links, one per participant, each good for one answer within FEEDBACK_DAYS. Only after the
    exercise: a link must never tell of a double-blind exercise before it runs."""
    require_controller(actor, drill)
    count = FeedbackLinkRequestSchema().load(data).get("count", 1)
    if not _feedback_open(drill):
        raise Conflict(_("Feedback links are issued once the exercise has ended."))
    serializer = _serializer()
    audit.record(actor, "feedback.links", "drill", drill.id, None, {"count": count})
    return [str(serializer.dumps({"d": drill.id, "r": secrets.token_hex(8)})) for _i in range(count)]


def read_feedback_token(token: str) -> tuple[Drill, str]:
    """The drill and respondent a link names; a bad or expired link is a 404."""
    try:
        payload = _serializer().loads(token[:MAX_TOKEN], max_age=FEEDBACK_DAYS * 86400)
        drill = db.session.get(Drill, int(payload["d"])) if 0 < int(payload["d"]) < 2**31 else None
        respondent = str(payload["r"])[:MAX_RESPONDENT]
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
        drill = None
    if drill is None:
        raise NotFound(_("This feedback link is not valid or has expired."))
    return drill, respondent


def feedback_given(drill: Drill, respondent: str) -> bool:
    return (
        db.session.scalar(
            sa.select(Feedback.id).where(Feedback.drill_id == drill.id, Feedback.respondent == respondent)
        )
        is not None
    )


def submit_feedback(token: str, data: dict[str, Any], now: datetime | None = None) -> Feedback:
    drill, respondent = read_feedback_token(token)
    values = {"strengths": "", "improvements": ""} | FeedbackSchema().load(data)
    used = _("This link has already been used to answer.")
    if feedback_given(drill, respondent):
        raise Conflict(used)
    feedback = Feedback(drill_id=drill.id, respondent=respondent, submitted_at=now or utcnow(), **values)
    add_once(feedback, used)
    return feedback


def _mean(values: list[int]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def feedback_summary(drill: Drill) -> dict[str, Any]:
    rows = list(db.session.scalars(sa.select(Feedback).where(Feedback.drill_id == drill.id).order_by(Feedback.id)))
    return {
        "count": len(rows),
        "overall_mean": _mean([r.overall for r in rows]),
        "realism_mean": _mean([r.realism for r in rows]),
        "strengths": [r.strengths for r in rows if r.strengths],
        "improvements": [r.improvements for r in rows if r.improvements],
    }
