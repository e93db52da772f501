"""The MSEL (master scenario events list): the injects the controller releases to the players, each at its
minutes after the start, with the action expected of them and the objective it tests."""

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import Condition
from drillmgr.errors import Conflict, NotFound, ValidationError
from drillmgr.exercises.checks import drill_of, record_added, require_design, require_unreleased, revise, stale
from drillmgr.exercises.defaults import CONDITION_INJECTS
from drillmgr.exercises.inject_files import detach
from drillmgr.exercises.models import Inject, Objective
from drillmgr.exercises.schemas import InjectSchema
from drillmgr.exercises.sessions import session_of
from drillmgr.extensions import db
from drillmgr.validation import MISSING

MAX_INJECTS = 300
SEED_SPACING_MINUTES = 5
INJECT_FIELDS = ("number", "offset_minutes", "sender", "recipient", "message", "expected_action", "objective_id")


def injects(drill: Drill) -> list[Inject]:
    return list(
        db.session.scalars(
            sa.select(Inject)
            .where(Inject.drill_id == drill.id)
            .order_by(Inject.offset_minutes, Inject.number, Inject.id)
        )
    )


def get_inject(actor: User, inject_id: int) -> Inject:
    """An inject `actor` may know of: the design's insiders always, players once it is released."""
    inject = db.session.get(Inject, inject_id)
    if inject is None:
        raise NotFound(_("No such inject."))
    drill = access.get_visible_drill(actor, inject.drill_id)
    if access.can_see_exercise_design(actor, drill):
        return inject
    if inject.released_at is None or not access.can_view_live_exercise(actor, drill, session_of(drill)):
        raise NotFound(_("No such inject."))
    return inject


def read_inject(drill: Drill, data: dict[str, Any], partial: bool) -> tuple[Reading, dict[str, Any]]:
    """The inject's values; an explicit null objective unlinks it (elsewhere a null is no value)."""
    p = InjectSchema().read(data, partial=partial)
    if data.get("objective_id", MISSING) is None:
        p.values["objective_id"] = None
    objective_id = p.values.get("objective_id")
    if objective_id is not None:
        objective = db.session.get(Objective, objective_id)
        if objective is None or objective.drill_id != drill.id:
            p.error("objective_id", _("No such objective in this exercise."))
    return p, p.values


def next_number(drill: Drill) -> int:
    return 1 + (db.session.scalar(sa.select(sa.func.max(Inject.number)).where(Inject.drill_id == drill.id)) or 0)


def require_room(drill: Drill, more: int = 1, replacing: bool = False) -> None:
    """An MSEL holds at most MAX_INJECTS injects: `more` added to those there (`replacing`: instead of them)."""
    count = (
        0
        if replacing
        else db.session.scalar(sa.select(sa.func.count()).select_from(Inject).where(Inject.drill_id == drill.id))
    )
    if (count or 0) + more > MAX_INJECTS:
        raise ValidationError(_("An MSEL has at most %(n)d injects.", n=MAX_INJECTS))


def new_inject(actor: User, drill: Drill, data: dict[str, Any], action: str, **fixed: Any) -> Inject:
    """An inject read from `data` and added to the MSEL (numbered after the others unless it says)."""
    p, values = read_inject(drill, data, partial=False)
    p.check()
    require_room(drill)
    values.setdefault("number", next_number(drill))
    inject = Inject(drill_id=drill.id, **values, **fixed)
    record_added(actor, inject, action, INJECT_FIELDS)
    return inject


def add_inject(actor: User, drill: Drill, data: dict[str, Any]) -> Inject:
    require_design(actor, drill)
    return new_inject(actor, drill, data, "inject.create")


def update_inject(actor: User, inject: Inject, data: dict[str, Any]) -> Inject:
    drill = drill_of(inject)
    require_design(actor, drill)
    p, values = read_inject(drill, data, partial=True)
    p.check()
    require_unreleased(inject)
    revise(
        actor,
        inject,
        values,
        values.pop("version", None),
        stale(_("inject")),
        "inject.update",
        INJECT_FIELDS,
        updated_at=utcnow(),
    )
    return inject


def delete_inject(actor: User, inject: Inject) -> None:
    require_design(actor, drill_of(inject))
    require_unreleased(inject)
    audit.record(actor, "inject.delete", "inject", inject.id, audit.snapshot(inject, INJECT_FIELDS))
    detach(inject)
    db.session.delete(inject)
    db.session.flush()


def _scenario_lines(drill: Drill) -> list[tuple[str, str, str, str]]:
    """The earthquake itself, then one line per condition of the drill (night, severe cold, outages...)."""
    magnitude = f"{drill.magnitude}" if drill.magnitude is not None else "6.0"
    place = drill.location or drill.region.name
    lines = [
        (
            "地震台网",
            "现场指挥部",
            f"{place}附近发生{magnitude}级地震，震源深度10公里，震感强烈。",
            "启动应急响应，开设现场指挥部，组织灾情收集。",
        )
    ]
    conditions = drill.conditions or []
    lines.extend(CONDITION_INJECTS[condition] for condition in Condition if condition.value in conditions)
    return lines


def seed_from_scenario(actor: User, drill: Drill) -> list[Inject]:
    """The first injects from the drill's scenario, SEED_SPACING_MINUTES apart, added after what is there."""
    require_design(actor, drill)
    if session_of(drill) is not None:
        raise Conflict(_("The exercise has started; add unplanned injects from the console instead."))
    lines = _scenario_lines(drill)
    require_room(drill, len(lines))
    number = next_number(drill)
    made = [
        Inject(
            drill_id=drill.id,
            number=number + i,
            offset_minutes=SEED_SPACING_MINUTES * i,
            sender=sender,
            recipient=recipient,
            message=message,
            expected_action=expected,
        )
        for i, (sender, recipient, message, expected) in enumerate(lines)
    ]
    db.session.add_all(made)
    db.session.flush()
    audit.record(actor, "inject.seed", "drill", drill.id, None, {"injects": [i.id for i in made]})
    return made
