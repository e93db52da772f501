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
from drillmgr.exercises.checks import record_added, revise, stale
from drillmgr.exercises.defaults import DEFAULT_OBJECTIVES
from drillmgr.exercises.models import ObjectiveTemplate
from drillmgr.exercises.schemas import ObjectiveTemplateSchema
from drillmgr.extensions import db

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
    audit.record(
        access.SYSTEM, "objective_template.defaults", "objective_template", "defaults", None, {"created": created}
    )
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


def require_template_editor(actor: User) -> None:
    access.require(access.can_edit_objective_templates(actor), _("Only prefecture officers edit objective templates."))


def create_template(actor: User, data: dict[str, Any]) -> ObjectiveTemplate:
    require_template_editor(actor)
    template = ObjectiveTemplate(**ObjectiveTemplateSchema().load(data))
    record_added(actor, template, "objective_template.create", TEMPLATE_FIELDS)
    return template


def update_template(actor: User, template: ObjectiveTemplate, data: dict[str, Any]) -> ObjectiveTemplate:
    require_template_editor(actor)
    values = ObjectiveTemplateSchema().load(data, partial=True)
    revise(
        actor,
        template,
        values,
        values.pop("version", None),
        stale(_("template")),
        "objective_template.update",
        TEMPLATE_FIELDS,
    )
    return template
