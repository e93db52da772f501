"""The controller's console and the players' screens while the exercise runs: injects released (planned ones
when their time comes, unplanned ones made up on the spot), the state each screen polls, and players' answers."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.errors import Conflict, NotFound
from drillmgr.exercises.checks import add_once, drill_of, require_controller, require_unreleased
from drillmgr.exercises.enums import SessionStatus
from drillmgr.exercises.injects import injects, new_inject
from drillmgr.exercises.models import ExerciseSession, Inject, InjectResponse
from drillmgr.exercises.schemas import PLAYER_HIDDEN, InjectResponseSchema, InjectSchema, SessionSchema
from drillmgr.exercises.sessions import SessionState, elapsed_seconds, running_session, session_of
from drillmgr.extensions import db


def _released_while_running() -> str:
    return str(_("Injects are released while the exercise runs."))


def _release(actor: User, session: ExerciseSession, inject: Inject, now: datetime) -> None:
    inject.released_at = now
    inject.released_by_id = actor.id
    inject.version += 1
    session.tick += 1
    audit.record(actor, "inject.release", "inject", inject.id, None, {"released_at": now})


def release_inject(actor: User, inject: Inject, now: datetime | None = None) -> Inject:
    drill = drill_of(inject)
    require_controller(actor, drill)
    session = running_session(drill, _released_while_running())
    db.session.refresh(inject)
    require_unreleased(inject)
    _release(actor, session, inject, now or utcnow())
    return inject


def release_due(actor: User, drill: Drill, now: datetime | None = None) -> list[Inject]:
    """The console's clock: releases every planned inject whose time has come (minutes after the start,
    pauses not counted)."""
    require_controller(actor, drill)
    now = now or utcnow()
    session = running_session(drill, _released_while_running())
    minutes = elapsed_seconds(session, now) // 60
    due = list(
        db.session.scalars(
            sa.select(Inject)
            .where(Inject.drill_id == drill.id, Inject.released_at.is_(None), Inject.offset_minutes <= minutes)
            .order_by(Inject.offset_minutes, Inject.number, Inject.id)
        )
    )
    for inject in due:
        _release(actor, session, inject, now)
    return due


def add_unplanned(actor: User, drill: Drill, data: dict[str, Any], now: datetime | None = None) -> Inject:
    """An inject the controller makes up during the exercise: kept in the MSEL as unplanned, released at once."""
    require_controller(actor, drill)
    now = now or utcnow()
    session = running_session(drill, _("Unplanned injects are added while the exercise runs."))
    data = dict(data) | {"offset_minutes": elapsed_seconds(session, now) // 60}
    inject = new_inject(actor, drill, data, "inject.unplanned", unplanned=True)
    _release(actor, session, inject, now)
    return inject


def live_tick(actor: User, drill: Drill) -> int:
    """What a player's screen polls: the session's tick (one small read), 0 before the start."""
    session = session_of(drill)
    if not access.can_view_live_exercise(actor, drill, session):
        raise NotFound(_("No such drill."))
    return session.tick if session is not None else 0


def _answers(actor: User, rows: list[Inject], design: bool) -> dict[int, list[InjectResponse]]:
    """The answers to `rows` that `actor` may read: all of them for the design's insiders, else their own."""
    answers: dict[int, list[InjectResponse]] = {}
    if not rows:
        return answers
    query = sa.select(InjectResponse).where(InjectResponse.inject_id.in_([i.id for i in rows]))
    if not design:
        query = query.where(InjectResponse.user_id == actor.id)
    for response in db.session.scalars(query.order_by(InjectResponse.responded_at, InjectResponse.id)):
        answers.setdefault(response.inject_id, []).append(response)
    return answers


def live_state(actor: User, drill: Drill, now: datetime | None = None) -> dict[str, Any]:
    """The live exercise as `actor` may see it: players get the released injects and their own answers; the
    design's insiders every inject, expected actions and all responses."""
    session = session_of(drill)
    if not access.can_view_live_exercise(actor, drill, session, now):
        raise NotFound(_("No such drill."))
    design = access.can_see_exercise_design(actor, drill)
    rows = injects(drill) if design else [i for i in injects(drill) if i.released_at is not None]
    if session is None and not design:
        rows = []
    answers = _answers(actor, rows, design)
    latest = now or utcnow()
    rows.sort(key=lambda i: (i.released_at is None, i.released_at or latest, i.offset_minutes, i.number))
    return {
        "session": SessionSchema().dump(SessionState(drill, session, now)),
        "controller": design and access.can_design_exercise(actor, drill),
        "may_respond": session is not None
        and session.status == SessionStatus.RUNNING
        and access.can_respond_to_injects(actor, drill),
        "injects": InjectSchema(many=True, answers=answers, exclude=() if design else PLAYER_HIDDEN).dump(rows),
    }


def respond(actor: User, inject: Inject, data: dict[str, Any], now: datetime | None = None) -> InjectResponse:
    """A player records their decision on a released inject, once; the time it took is kept."""
    drill = drill_of(inject)
    access.require(
        access.can_respond_to_injects(actor, drill), _("Only the participating units' staff answer injects.")
    )
    decision = InjectResponseSchema().load(data)["decision"]
    now = now or utcnow()
    session = session_of(drill)
    if session is None or session.status != SessionStatus.RUNNING or inject.released_at is None:
        raise Conflict(_("Injects are answered while the exercise runs, once they are released."))
    response = InjectResponse(
        inject_id=inject.id,
        user_id=actor.id,
        decision=decision,
        responded_at=now,
        seconds_taken=max(0, int((now - inject.released_at).total_seconds())),
    )
    add_once(response, _("You have already answered this inject."))
    db.session.execute(
        sa.update(ExerciseSession)
        .where(ExerciseSession.drill_id == drill.id)
        .values(tick=ExerciseSession.tick + 1)
        .execution_options(synchronize_session=False)
    )
    audit.record(actor, "inject.respond", "inject", inject.id, None, {"response": response.id})
    return response
