"""The live session of an exercise: started by the console (which reveals a double-blind drill to its players
at that moment, never before), paused, resumed and ended, and the clock its injects run by."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.db import claim_version, lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import DrillStatus, Role
from drillmgr.errors import Conflict
from drillmgr.exercises.checks import add_once, require_controller, stale
from drillmgr.exercises.enums import SessionStatus
from drillmgr.exercises.models import ExerciseSession
from drillmgr.exercises.schemas import SessionStepSchema
from drillmgr.extensions import db
from drillmgr.notifications import services as notifications

MAX_REVEALED_LENGTH = timedelta(hours=4)


def session_of(drill: Drill, for_update: bool = False) -> ExerciseSession | None:
    session = db.session.get(ExerciseSession, drill.id)
    if session is not None and for_update:
        lock(session)
    return session


def running_session(drill: Drill, refusal: str) -> ExerciseSession:
    """The drill's session, locked, when it runs; else a Conflict saying `refusal`."""
    session = session_of(drill, for_update=True)
    if session is None or session.status != SessionStatus.RUNNING:
        raise Conflict(refusal)
    return session


def elapsed_seconds(session: ExerciseSession, now: datetime | None = None) -> int:
    now = session.ended_at or now or utcnow()
    paused = session.paused_seconds
    if session.status == SessionStatus.PAUSED and session.paused_at is not None:
        paused += int((now - session.paused_at).total_seconds())
    return max(0, int((now - session.started_at).total_seconds()) - paused)


def _start_drill_now(drill: Drill, now: datetime) -> None:
    """A drill still ahead starts now (keeping its length, up to MAX_REVEALED_LENGTH past now)."""
    length = drill.ends_at - drill.starts_at
    drill.starts_at = now
    drill.ends_at = max(drill.ends_at, now + min(length, MAX_REVEALED_LENGTH))
    drill.sequence += 1
    drill.version += 1
    drill.updated_at = now


def start_session(actor: User, drill: Drill, now: datetime | None = None) -> ExerciseSession:
    """Starts the exercise: the drill starts now. A double-blind drill still ahead is revealed to its players at
    this moment (its start moves to now), never before."""
    require_controller(actor, drill)
    now = now or utcnow()
    if drill.status != DrillStatus.PLANNED:
        raise Conflict(_("Only a planned drill can be started."))
    require_not_filed(drill)
    lock(drill)
    if session_of(drill) is not None:
        raise Conflict(_("The exercise has already been started."))
    revealed = access.is_secret(drill, now)
    if drill.starts_at > now:
        _start_drill_now(drill, now)
    session = ExerciseSession(
        drill_id=drill.id,
        status=SessionStatus.RUNNING,
        started_at=now,
        started_by_id=actor.id,
        revealed_by_console=revealed,
        paused_seconds=0,
        tick=1,
        version=1,
    )
    add_once(session, _("The exercise has already been started."))
    audit.record(actor, "exercise.start", "drill", drill.id, None, {"started_at": now, "revealed_by_console": revealed})
    _tell_players(drill)
    return session


def _tell_players(drill: Drill) -> None:
    """The players learn that the exercise has begun (in-app, and by mail when they have an address): only now,
    as the exercise is revealed to them, and in each one's language."""
    org_ids = [org.id for org in drill.participants]
    if not org_ids:
        return
    players = db.session.scalars(
        sa.select(User).where(User.active.is_(True), User.role == Role.ORG_STAFF, User.org_id.in_(org_ids))
    )
    link = notifications.link_to("exercises.play", drill_id=drill.id)
    messages = []
    for user in players:
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            messages.append(
                notifications.Message(
                    user,
                    "exercise_started",
                    _("The exercise “%(title)s” has begun", title=drill.title),
                    _("Open the players' screen to receive the exercise's messages and answer them."),
                    link,
                    f"exercise_started:{drill.id}:{user.id}",
                )
            )
    notifications.notify_many(messages)


def _step_values(session: ExerciseSession, to: SessionStatus, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"status": to, "tick": session.tick + 1}
    if to == SessionStatus.PAUSED:
        values["paused_at"] = now
    elif session.status == SessionStatus.PAUSED and session.paused_at is not None:
        values["paused_seconds"] = session.paused_seconds + int((now - session.paused_at).total_seconds())
        values["paused_at"] = None
    if to == SessionStatus.ENDED:
        values["ended_at"] = now
    return values


def _step(
    actor: User,
    drill: Drill,
    data: dict[str, Any] | None,
    allowed: tuple[SessionStatus, ...],
    to: SessionStatus,
    action: str,
    now: datetime | None = None,
) -> ExerciseSession:
    require_controller(actor, drill)
    version = SessionStepSchema().load(data or {}).get("version")
    now = now or utcnow()
    session = session_of(drill, for_update=True)
    if session is None:
        raise Conflict(_("The exercise has not been started."))
    if session.status not in allowed:
        raise Conflict(_("The exercise is %(status)s.", status=session.status.label))
    claim_version(session, version, stale(_("exercise")), **_step_values(session, to, now))
    db.session.refresh(session)
    audit.record(actor, action, "drill", drill.id, None, {"status": to.value, "at": now})
    return session


def pause_session(
    actor: User, drill: Drill, data: dict[str, Any] | None = None, now: datetime | None = None
) -> ExerciseSession:
    return _step(actor, drill, data, (SessionStatus.RUNNING,), SessionStatus.PAUSED, "exercise.pause", now)


def resume_session(
    actor: User, drill: Drill, data: dict[str, Any] | None = None, now: datetime | None = None
) -> ExerciseSession:
    return _step(actor, drill, data, (SessionStatus.PAUSED,), SessionStatus.RUNNING, "exercise.resume", now)


def end_session(
    actor: User, drill: Drill, data: dict[str, Any] | None = None, now: datetime | None = None
) -> ExerciseSession:
    return _step(
        actor, drill, data, (SessionStatus.RUNNING, SessionStatus.PAUSED), SessionStatus.ENDED, "exercise.end", now
    )


@dataclass
class SessionState:
    """The drill's session as the console and the players' screens show it (SessionSchema): before the start,
    `not_started` with zeros."""

    drill: Drill
    session: ExerciseSession | None
    now: datetime | None = None

    @property
    def drill_id(self) -> int:
        return self.drill.id

    @property
    def status(self) -> str:
        return self.session.status.value if self.session is not None else "not_started"

    @property
    def started_at(self) -> datetime | None:
        return self.session.started_at if self.session is not None else None

    @property
    def ended_at(self) -> datetime | None:
        return self.session.ended_at if self.session is not None else None

    @property
    def elapsed_seconds(self) -> int:
        return elapsed_seconds(self.session, self.now) if self.session is not None else 0

    @property
    def tick(self) -> int:
        return self.session.tick if self.session is not None else 0

    @property
    def run_blind(self) -> bool:
        return self.session is not None and bool(self.drill.double_blind and self.session.revealed_by_console)

    @property
    def version(self) -> int:
        return self.session.version if self.session is not None else 0
