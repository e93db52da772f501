"""Readiness checklist templates (准备清单): the shipped defaults, and the prefecture officers' editing of
templates and their items.

A template applies either to drills of a form (and optionally a scope) — the pre-drill checklist —
or to units of a kind — the standing readiness checklist, run again each school term.
"""

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import QueryableAttribute

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.checklists.defaults import DEFAULT_TEMPLATES
from drillmgr.checklists.models import ChecklistItem, ChecklistTemplate
from drillmgr.checklists.schemas import ChecklistItemSchema, ChecklistTemplateSchema
from drillmgr.db import claim_version, lock
from drillmgr.drills.models import Drill
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation

TEMPLATE_FIELDS = ("name", "drill_form", "drill_scope", "org_kind", "active")


def ensure_default_templates() -> int:
    """Creates each shipped template unless a template (even a deactivated one) already covers
    what it applies to. Idempotent; returns how many were created."""
    created = 0
    for name, form, scope, kind, texts in DEFAULT_TEMPLATES:
        exists = db.session.scalar(
            sa.select(ChecklistTemplate.id)
            .where(
                _is_or_null(ChecklistTemplate.drill_form, form),
                _is_or_null(ChecklistTemplate.drill_scope, scope),
                _is_or_null(ChecklistTemplate.org_kind, kind),
            )
            .limit(1)
        )
        if exists is None:
            template = ChecklistTemplate(name=name, drill_form=form, drill_scope=scope, org_kind=kind)
            template.items = [ChecklistItem(position=n, text=text) for n, text in enumerate(texts, start=1)]
            db.session.add(template)
            created += 1
    if created:
        db.session.flush()
        audit.record(access.SYSTEM, "checklist.defaults", "checklist_template", "defaults", None, {"created": created})
    return created


def _ensure_some_templates() -> None:
    """The shipped defaults appear the first time anybody needs a checklist."""
    if db.session.scalar(sa.select(ChecklistTemplate.id).limit(1)) is None:
        ensure_default_templates()


def _is_or_null(column: QueryableAttribute[Any], value: object) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def template_for_drill(drill: Drill) -> ChecklistTemplate | None:
    """The active pre-drill template for the drill's form: one for its exact scope before one for any scope."""
    _ensure_some_templates()
    return db.session.scalars(
        sa.select(ChecklistTemplate)
        .where(
            ChecklistTemplate.active.is_(True),
            ChecklistTemplate.org_kind.is_(None),
            ChecklistTemplate.drill_form == drill.form,
            sa.or_(ChecklistTemplate.drill_scope == drill.scope, ChecklistTemplate.drill_scope.is_(None)),
        )
        .order_by(ChecklistTemplate.drill_scope.is_(None), ChecklistTemplate.id)
    ).first()


def template_for_org(org: Organisation) -> ChecklistTemplate | None:
    _ensure_some_templates()
    return db.session.scalars(
        sa.select(ChecklistTemplate)
        .where(
            ChecklistTemplate.active.is_(True),
            ChecklistTemplate.drill_form.is_(None),
            ChecklistTemplate.org_kind == org.kind,
        )
        .order_by(ChecklistTemplate.id)
    ).first()


def all_templates() -> list[ChecklistTemplate]:
    _ensure_some_templates()
    return list(
        db.session.scalars(
            sa.select(ChecklistTemplate).order_by(
                ChecklistTemplate.active.desc(), ChecklistTemplate.org_kind.is_not(None), ChecklistTemplate.id
            )
        )
    )


def get_template(template_id: int) -> ChecklistTemplate:
    template = db.session.get(ChecklistTemplate, template_id)
    if template is None:
        access.not_found(_("No such checklist."))
    return template


def _read_template(data: dict[str, Any], template: ChecklistTemplate | None) -> tuple[Reading, dict[str, Any]]:
    """The values given (`version` apart); a null or empty form, scope or kind clears it."""
    p = ChecklistTemplateSchema().read(data, partial=template is not None)
    values = {k: v for k, v in p.values.items() if k != "version"}
    for field in ("drill_form", "drill_scope", "org_kind"):
        if field in data and data[field] in (None, ""):
            values[field] = None
    merged = {f: getattr(template, f) for f in TEMPLATE_FIELDS} if template is not None else {"active": True}
    merged.update(values)
    if (merged.get("drill_form") is None) == (merged.get("org_kind") is None):
        p.error("drill_form", _("A checklist applies either to drills of a form or to units of a kind."))
    elif merged.get("drill_scope") is not None and merged.get("drill_form") is None:
        p.error("drill_scope", _("A drill scope needs a drill form."))
    elif merged.get("active") and not p.errors:
        clash = sa.select(ChecklistTemplate.id).where(
            ChecklistTemplate.active.is_(True),
            _is_or_null(ChecklistTemplate.drill_form, merged.get("drill_form")),
            _is_or_null(ChecklistTemplate.drill_scope, merged.get("drill_scope")),
            _is_or_null(ChecklistTemplate.org_kind, merged.get("org_kind")),
        )
        if template is not None:
            clash = clash.where(ChecklistTemplate.id != template.id)
        if db.session.scalar(clash) is not None:
            p.error(
                "name", _("Another active checklist already applies to the same drills or units; deactivate it first.")
            )
    return p, values


def create_template(actor: User, data: dict[str, Any]) -> ChecklistTemplate:
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    p, values = _read_template(data, None)
    p.check()
    template = ChecklistTemplate(**values)
    db.session.add(template)
    db.session.flush()
    audit.record(
        actor, "checklist.create", "checklist_template", template.id, None, audit.snapshot(template, TEMPLATE_FIELDS)
    )
    return template


def update_template(actor: User, template: ChecklistTemplate, data: dict[str, Any]) -> ChecklistTemplate:
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    p, values = _read_template(data, template)
    p.check()
    version = p.values.get("version")
    claim_version(
        template, version, _("Someone else changed this checklist meanwhile. Reload it and apply your change again.")
    )
    before = audit.snapshot(template, TEMPLATE_FIELDS)
    for field, value in values.items():
        setattr(template, field, value)
    audit.record(
        actor, "checklist.update", "checklist_template", template.id, before, audit.snapshot(template, TEMPLATE_FIELDS)
    )
    return template


def _read_item_text(data: dict[str, Any]) -> str:
    text: str = ChecklistItemSchema(only=("text",)).load(data)["text"]
    return text


def add_item(actor: User, template: ChecklistTemplate, data: dict[str, Any]) -> ChecklistItem:
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    text = _read_item_text(data)
    lock(template)  # items added or moved at the same moment are numbered one after the other
    item = ChecklistItem(text=text, position=max((i.position for i in template.items), default=0) + 1)
    template.items.append(item)
    db.session.flush()
    audit.record(
        actor, "checklist.item.add", "checklist_template", template.id, None, {"item_id": item.id, "text": text}
    )
    return item


def _template_item(template: ChecklistTemplate, item_id: int) -> ChecklistItem:
    item = next((i for i in template.items if i.id == item_id), None)
    if item is None:
        access.not_found(_("No such checklist item."))
    return item


def update_item(actor: User, template: ChecklistTemplate, item_id: int, data: dict[str, Any]) -> ChecklistItem:
    """Changes an item's text or (de)activates it. Items are never deleted: old runs answered them."""
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    lock(template)
    item = _template_item(template, item_id)
    values = ChecklistItemSchema().load(data, partial=True)
    before = {"text": item.text, "active": item.active}
    item.text = values.get("text", item.text)
    item.active = values.get("active", item.active)
    audit.record(
        actor,
        "checklist.item.update",
        "checklist_template",
        template.id,
        {"item_id": item.id, **before},
        {"item_id": item.id, "text": item.text, "active": item.active},
    )
    return item


def move_item(actor: User, template: ChecklistTemplate, item_id: int, offset: int) -> None:
    """Moves an item up (offset -1) or down (+1) and renumbers the template's items 1…n."""
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    lock(template)
    items = sorted(template.items, key=lambda i: (i.position, i.id))
    item = _template_item(template, item_id)
    index = items.index(item)
    target = min(max(index + offset, 0), len(items) - 1)
    items.insert(target, items.pop(index))
    for position, each in enumerate(items, start=1):
        each.position = position
    audit.record(
        actor,
        "checklist.item.move",
        "checklist_template",
        template.id,
        {"item_id": item_id, "position": index + 1},
        {"item_id": item_id, "position": target + 1},
    )
    db.session.flush()
    db.session.expire(template, ["items"])
