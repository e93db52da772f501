"""The objective templates: typical, measurable objectives per focus link that admins keep, offered when an
organiser adds an objective."""
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.enums import Focus
from drillmgr.errors import NotFound
from drillmgr.exercises.checks import given, record_added, revise, stale, text
from drillmgr.exercises.defaults import DEFAULT_OBJECTIVES
from drillmgr.exercises.models import ObjectiveTemplate
from drillmgr.exercises.objectives import MAX_OBJECTIVE_TEXT
from drillmgr.extensions import db
from drillmgr.validation import Payload

TEMPLATE_FIELDS = ("focus", "text", "active")


def ensure_default_templates() -> int:
    """The shipped templates, once: only while there is none at all (an admin's deletions stay deleted)."""
    if db.session.scalar(sa.select(ObjectiveTemplate.id).limit(1)) is not None:
        return 0
    created = 0
    for focus, texts in DEFAULT_OBJECTIVES.items():
        for position, line in enumerate(texts, start=1):
            db.session.add(ObjectiveTemplate(focus=focus, text=line, position=position))
            created += 1
    db.session.flush()
    audit.record(access.SYSTEM, "objective_template.defaults", "objective_template", "defaults", None,
                 {"created": created})
    return created


def templates(active_only: bool = True) -> list[ObjectiveTemplate]:
    ensure_default_templates()
    query = sa.select(ObjectiveTemplate)
    if active_only:
        query = query.where(ObjectiveTemplate.active.is_(True))
    order = list(Focus)
    return sorted(db.session.scalars(query), key=lambda t: (order.index(t.focus), t.position, t.id))


def get_template(template_id: int) -> ObjectiveTemplate:
    template = db.session.get(ObjectiveTemplate, template_id)
    if template is None:
        raise NotFound(_("No such objective template."))
    return template


def _read_template(data: dict[str, Any], partial: bool) -> tuple[Payload, dict[str, Any]]:
    p = Payload(data, partial=partial)
    values = {"focus": p.choice("focus", Focus, required=True),
              "text": text(p, "text", required=True, max_length=MAX_OBJECTIVE_TEXT),
              "position": p.integer("position", minimum=0, maximum=10_000), "active": p.boolean("active")}
    return p, given(values)


def require_template_editor(actor: User) -> None:
    access.require(access.can_edit_objective_templates(actor), _("Only prefecture officers edit objective templates."))


def create_template(actor: User, data: dict[str, Any]) -> ObjectiveTemplate:
    require_template_editor(actor)
    p, values = _read_template(data, partial=False)
    p.check()
    template = ObjectiveTemplate(**values)
    record_added(actor, template, "objective_template.create", TEMPLATE_FIELDS)
    return template


def update_template(actor: User, template: ObjectiveTemplate, data: dict[str, Any]) -> ObjectiveTemplate:
    require_template_editor(actor)
    p, values = _read_template(data, partial=True)
    version = p.version()
    p.check()
    revise(actor, template, values, version, stale(_("template")), "objective_template.update", TEMPLATE_FIELDS)
    return template


def template_to_dict(template: ObjectiveTemplate) -> dict[str, Any]:
    return {"id": template.id, "focus": template.focus.value, "text": template.text, "position": template.position,
            "active": template.active, "version": template.version}
