"""The exercise's objectives: what it tests, tied to focus links and to the plan (预案) it tests."""

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import Focus
from drillmgr.errors import Conflict, NotFound, ValidationError
from drillmgr.exercises.checks import drill_of, record_added, require_design, require_given, revise, stale
from drillmgr.exercises.models import Evaluation, Objective, ObjectiveTemplate
from drillmgr.exercises.schemas import ObjectiveSchema
from drillmgr.extensions import db
from drillmgr.validation import MISSING

MAX_OBJECTIVES = 50
OBJECTIVE_FIELDS = ("text", "measure", "focus", "plan")


def objectives(drill: Drill) -> list[Objective]:
    return list(
        db.session.scalars(
            sa.select(Objective).where(Objective.drill_id == drill.id).order_by(Objective.position, Objective.id)
        )
    )


def get_objective(actor: User, objective_id: int) -> Objective:
    """An objective whose design `actor` may see; anything else is a 404."""
    objective = db.session.get(Objective, objective_id)
    if objective is None:
        raise NotFound(_("No such objective."))
    drill = access.get_visible_drill(actor, objective.drill_id)
    if not access.can_see_exercise_design(actor, drill):
        raise NotFound(_("No such objective."))
    return objective


def _template(p: Reading) -> ObjectiveTemplate | None:
    template_id = p.values.pop("template_id", None)
    template = db.session.get(ObjectiveTemplate, template_id) if template_id else None
    if template_id and template is None:
        p.error("template_id", _("No such objective template."))
    return template


def _focus_read(p: Reading, data: dict[str, Any]) -> Any:
    """The focus links read (MISSING when left out); of a list naming unknown ones, those known."""
    raw = data.get("focus")
    if "focus" in p.errors and isinstance(raw, list):
        return list(dict.fromkeys(Focus(v) for v in raw if v in Focus.values()))
    return p.values.get("focus", MISSING)


def _read_objective(data: dict[str, Any], partial: bool) -> tuple[Reading, dict[str, Any]]:
    """The objective's values; without a template, its text and focus links are required."""
    p = ObjectiveSchema().read(data, partial=partial)
    template = _template(p)
    text, focus = p.values.get("text", MISSING), _focus_read(p, data)
    if template is None:
        require_given(p, data, "text", partial, blank=text == "")
        require_given(p, data, "focus", partial)
    else:
        text = template.text if text in (MISSING, "") else text
        focus = [template.focus] if focus in (MISSING, []) else focus
    if focus is not MISSING:
        if not focus:
            p.error("focus", _("Name at least one focus link."))
        focus = [f.value for f in focus]
    return p, p.values | {name: value for name, value in (("text", text), ("focus", focus)) if value is not MISSING}


def add_objective(actor: User, drill: Drill, data: dict[str, Any]) -> Objective:
    require_design(actor, drill)
    p, values = _read_objective(data, partial=False)
    p.check()
    existing = objectives(drill)
    if len(existing) >= MAX_OBJECTIVES:
        raise ValidationError(_("An exercise has at most %(n)d objectives.", n=MAX_OBJECTIVES))
    objective = Objective(drill_id=drill.id, position=len(existing) + 1, created_by_id=actor.id, **values)
    record_added(actor, objective, "objective.create", OBJECTIVE_FIELDS)
    return objective


def update_objective(actor: User, objective: Objective, data: dict[str, Any]) -> Objective:
    require_design(actor, drill_of(objective))
    p, values = _read_objective(data, partial=True)
    p.check()
    revise(
        actor,
        objective,
        values,
        values.pop("version", None),
        stale(_("objective")),
        "objective.update",
        OBJECTIVE_FIELDS,
        updated_at=utcnow(),
    )
    return objective


def delete_objective(actor: User, objective: Objective) -> None:
    require_design(actor, drill_of(objective))
    if db.session.scalar(sa.select(Evaluation.id).where(Evaluation.objective_id == objective.id).limit(1)):
        raise Conflict(_("This objective has been evaluated; it cannot be deleted."))
    audit.record(actor, "objective.delete", "objective", objective.id, audit.snapshot(objective, OBJECTIVE_FIELDS))
    db.session.delete(objective)
    db.session.flush()
