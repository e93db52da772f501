"""Readiness checklists (准备清单): templates, runs, "no" answers turned into corrective actions,
and the readiness figures the unit page, the drill page and the compliance dashboard show.

A template applies either to drills of a form (and optionally a scope) — the pre-drill checklist —
or to units of a kind — the standing readiness checklist, run again each school term.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.attachments.models import Attachment
from drillmgr.audit import services as audit
from drillmgr.checklists import uploads
from drillmgr.checklists.defaults import DEFAULT_TEMPLATES
from drillmgr.checklists.models import ChecklistAnswer, ChecklistItem, ChecklistRun, ChecklistTemplate
from drillmgr.checklists.schemas import ChecklistAnswerSchema, ChecklistRunStartSchema
from drillmgr.db import claim_version, lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import Answer, DrillForm, DrillScope, DrillStatus, OrgKind, RegionLevel, Severity
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import local_today, local_zone
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.validation import MISSING, Payload

ACTION_DAYS = 30
TEMPLATE_FIELDS = ("name", "drill_form", "drill_scope", "org_kind", "active")


# --- templates ----------------------------------------------------------------------------------

def ensure_default_templates() -> int:
    """Creates each shipped template unless a template (even a deactivated one) already covers
    what it applies to. Idempotent; returns how many were created."""
    created = 0
    for name, form, scope, kind, texts in DEFAULT_TEMPLATES:
        exists = db.session.scalar(sa.select(ChecklistTemplate.id).where(
            _is_or_null(ChecklistTemplate.drill_form, form), _is_or_null(ChecklistTemplate.drill_scope, scope),
            _is_or_null(ChecklistTemplate.org_kind, kind)).limit(1))
        if exists is None:
            template = ChecklistTemplate(name=name, drill_form=form, drill_scope=scope, org_kind=kind)
            template.items = [ChecklistItem(position=n, text=text) for n, text in enumerate(texts, start=1)]
            db.session.add(template)
            created += 1
    if created:
        db.session.flush()
        audit.record(None, "checklist.defaults", "checklist_template", "defaults", None, {"created": created})
    return created


def _ensure_some_templates() -> None:
    """The shipped defaults appear the first time anybody needs a checklist."""
    if db.session.scalar(sa.select(ChecklistTemplate.id).limit(1)) is None:
        ensure_default_templates()
        db.session.commit()


def _is_or_null(column, value):
    return column.is_(None) if value is None else column == value


def template_for_drill(drill: Drill) -> ChecklistTemplate | None:
    """The active pre-drill template for the drill's form: one for its exact scope before one for any scope."""
    _ensure_some_templates()
    return db.session.scalars(
        sa.select(ChecklistTemplate).where(
            ChecklistTemplate.active.is_(True), ChecklistTemplate.org_kind.is_(None),
            ChecklistTemplate.drill_form == drill.form,
            sa.or_(ChecklistTemplate.drill_scope == drill.scope, ChecklistTemplate.drill_scope.is_(None)))
        .order_by(ChecklistTemplate.drill_scope.is_(None), ChecklistTemplate.id)
    ).first()


def template_for_org(org: Organisation) -> ChecklistTemplate | None:
    _ensure_some_templates()
    return db.session.scalars(
        sa.select(ChecklistTemplate).where(ChecklistTemplate.active.is_(True), ChecklistTemplate.drill_form.is_(None),
                                           ChecklistTemplate.org_kind == org.kind)
        .order_by(ChecklistTemplate.id)
    ).first()


def all_templates() -> list[ChecklistTemplate]:
    _ensure_some_templates()
    return list(db.session.scalars(sa.select(ChecklistTemplate).order_by(
        ChecklistTemplate.active.desc(), ChecklistTemplate.org_kind.is_not(None), ChecklistTemplate.id)))


def get_template(template_id: int) -> ChecklistTemplate:
    template = db.session.get(ChecklistTemplate, template_id)
    if template is None:
        access.not_found(_("No such checklist."))
    return template


def _read_template(data: dict, template: ChecklistTemplate | None) -> tuple[Payload, dict]:
    p = Payload(data, partial=template is not None)
    values = {"name": p.string("name", required=True, max_length=200),
              "drill_form": p.choice("drill_form", DrillForm), "drill_scope": p.choice("drill_scope", DrillScope),
              "org_kind": p.choice("org_kind", OrgKind), "active": p.boolean("active")}
    for field in ("drill_form", "drill_scope", "org_kind"):
        if p.has(field) and data[field] in (None, ""):
            values[field] = None
    values = {k: v for k, v in values.items() if v is not MISSING}
    merged = {f: getattr(template, f) for f in TEMPLATE_FIELDS} if template is not None else {"active": True}
    merged.update(values)
    if (merged.get("drill_form") is None) == (merged.get("org_kind") is None):
        p.error("drill_form", _("A checklist applies either to drills of a form or to units of a kind."))
    elif merged.get("drill_scope") is not None and merged.get("drill_form") is None:
        p.error("drill_scope", _("A drill scope needs a drill form."))
    elif merged.get("active") and not p.errors:
        clash = sa.select(ChecklistTemplate.id).where(
            ChecklistTemplate.active.is_(True), _is_or_null(ChecklistTemplate.drill_form, merged.get("drill_form")),
            _is_or_null(ChecklistTemplate.drill_scope, merged.get("drill_scope")),
            _is_or_null(ChecklistTemplate.org_kind, merged.get("org_kind")))
        if template is not None:
            clash = clash.where(ChecklistTemplate.id != template.id)
        if db.session.scalar(clash) is not None:
            p.error("name", _("Another active checklist already applies to the same drills or units; "
                              "deactivate it first."))
    return p, values


def create_template(actor, data: dict) -> ChecklistTemplate:
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    p, values = _read_template(data, None)
    p.check()
    template = ChecklistTemplate(**values)
    db.session.add(template)
    db.session.flush()
    audit.record(actor, "checklist.create", "checklist_template", template.id, None,
                 audit.snapshot(template, TEMPLATE_FIELDS))
    db.session.commit()
    return template


def update_template(actor, template: ChecklistTemplate, data: dict) -> ChecklistTemplate:
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    p, values = _read_template(data, template)
    version = p.version()
    p.check()
    claim_version(template, version, _("Someone else changed this checklist meanwhile. Reload it and apply your "
                                       "change again."))
    before = audit.snapshot(template, TEMPLATE_FIELDS)
    for field, value in values.items():
        setattr(template, field, value)
    audit.record(actor, "checklist.update", "checklist_template", template.id, before,
                 audit.snapshot(template, TEMPLATE_FIELDS))
    db.session.commit()
    return template


def _read_item_text(data: dict) -> str:
    p = Payload(data)
    text = p.string("text", required=True, max_length=500)
    p.check()
    return text


def add_item(actor, template: ChecklistTemplate, data: dict) -> ChecklistItem:
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    text = _read_item_text(data)
    lock(template)  # items added or moved at the same moment are numbered one after the other
    item = ChecklistItem(text=text, position=max((i.position for i in template.items), default=0) + 1)
    template.items.append(item)
    db.session.flush()
    audit.record(actor, "checklist.item.add", "checklist_template", template.id, None,
                 {"item_id": item.id, "text": text})
    db.session.commit()
    return item


def _template_item(template: ChecklistTemplate, item_id: int) -> ChecklistItem:
    item = next((i for i in template.items if i.id == item_id), None)
    if item is None:
        access.not_found(_("No such checklist item."))
    return item


def update_item(actor, template: ChecklistTemplate, item_id: int, data: dict) -> ChecklistItem:
    """Changes an item's text or (de)activates it. Items are never deleted: old runs answered them."""
    access.require(access.can_edit_checklist_templates(actor), _("Only prefecture officers edit checklists."))
    lock(template)
    item = _template_item(template, item_id)
    p = Payload(data, partial=True)
    text = p.string("text", required=True, max_length=500)
    active = p.boolean("active")
    p.check()
    before = {"text": item.text, "active": item.active}
    if text is not MISSING:
        item.text = text
    if active is not MISSING:
        item.active = active
    audit.record(actor, "checklist.item.update", "checklist_template", template.id,
                 {"item_id": item.id, **before}, {"item_id": item.id, "text": item.text, "active": item.active})
    db.session.commit()
    return item


def move_item(actor, template: ChecklistTemplate, item_id: int, offset: int) -> None:
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
    audit.record(actor, "checklist.item.move", "checklist_template", template.id, {"item_id": item_id,
                 "position": index + 1}, {"item_id": item_id, "position": target + 1})
    db.session.commit()
    db.session.expire(template, ["items"])


# --- runs -----------------------------------------------------------------------------------------

@dataclass
class RunLine:
    item: ChecklistItem
    answer: ChecklistAnswer | None

    @property
    def value(self) -> Answer | None:
        return self.answer.answer if self.answer is not None else None


def run_lines(run: ChecklistRun) -> list[RunLine]:
    """The run's items in template order: the active ones, plus retired ones this run already answered."""
    answers = {a.item_id: a for a in run.answers}
    return [RunLine(item, answers.get(item.id)) for item in run.template.items
            if item.active or item.id in answers]


@dataclass
class Progress:
    answered: int
    total: int
    no: int

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0


def progress(run: ChecklistRun) -> Progress:
    lines = run_lines(run)
    return Progress(answered=sum(1 for line in lines if line.value is not None), total=len(lines),
                    no=sum(1 for line in lines if line.value == Answer.NO))


def start_drill_run(actor, drill: Drill) -> ChecklistRun:
    """The drill's pre-drill checklist run: the existing one, or a new one."""
    access.require(access.can_edit_drill(actor, drill), _("You cannot prepare this drill."))
    lock(drill)  # two starts at once: the second waits and finds the first one's run
    existing = db.session.scalars(sa.select(ChecklistRun).where(ChecklistRun.drill_id == drill.id)
                                  .order_by(ChecklistRun.id.desc())).first()
    if existing is not None:
        return existing
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill was cancelled."))
    template = template_for_drill(drill)
    if template is None:
        raise ValidationError(_("No pre-drill checklist applies to this kind of drill."))
    run = ChecklistRun(template=template, drill_id=drill.id, org_id=drill.organizer_org_id,
                       region_code=drill.region_code, run_by_id=actor.id)
    return _add_run(actor, run)


def start_readiness_run(actor, org: Organisation) -> ChecklistRun:
    """The unit's unfinished readiness run, or a new one (a unit runs its checklist again each term)."""
    access.require(access.can_start_readiness_run(actor, org), _("You cannot run this unit's checklist."))
    lock(org)  # two starts at once: the second waits and finds the first one's run
    existing = db.session.scalars(sa.select(ChecklistRun).where(
        ChecklistRun.org_id == org.id, ChecklistRun.drill_id.is_(None), ChecklistRun.completed_at.is_(None))
        .order_by(ChecklistRun.id.desc())).first()
    if existing is not None:
        return existing
    template = template_for_org(org)
    if template is None:
        raise ValidationError(_("No readiness checklist applies to units of this kind."))
    run = ChecklistRun(template=template, org_id=org.id, region_code=org.region_code, run_by_id=actor.id)
    return _add_run(actor, run)


def start_run(actor, data: dict) -> ChecklistRun:
    """From an API body naming exactly one of `drill_id` (pre-drill) and `org_id` (standing readiness)."""
    p = ChecklistRunStartSchema().read(data)
    drill_id, org_id = p.values.get("drill_id"), p.values.get("org_id")
    if (drill_id is None) == (org_id is None) and not p.errors:
        p.error("drill_id", _("Give either drill_id or org_id."))
    p.check()
    if drill_id is not None:
        return start_drill_run(actor, access.get_visible_drill(actor, drill_id))
    assert org_id is not None  # exactly one of them was given
    return start_readiness_run(actor, access.get_visible_org(actor, org_id))


def _add_run(actor, run: ChecklistRun) -> ChecklistRun:
    db.session.add(run)
    db.session.flush()
    audit.record(actor, "checklist.run.start", "checklist_run", run.id, None,
                 {"template_id": run.template_id, "drill_id": run.drill_id, "org_id": run.org_id})
    db.session.commit()
    return run


def get_visible_run(user, run_id: int) -> ChecklistRun:
    run = db.session.get(ChecklistRun, run_id)
    if run is None or not access.can_view_checklist_run(user, run):
        access.not_found(_("No such checklist run."))
    return run


def _require_fill(actor, run: ChecklistRun) -> None:
    access.require(access.can_fill_checklist_run(actor, run), _("You cannot fill in this checklist."))


def _require_open(run: ChecklistRun) -> None:
    if run.completed_at is not None:
        raise Conflict(_("This checklist run is complete and can no longer be changed."))


def save_answers(actor, run: ChecklistRun, answers: dict, photos: dict | None = None) -> ChecklistRun:
    """`answers` maps item ids to {"answer": "yes"|"no"|"na"|None, "note": str}; `photos` maps item ids
    to (stream, filename). Every error is collected under "item-<id>"; nothing changes if any."""
    _require_fill(actor, run)
    lock(run)  # answers saved at the same moment are applied one after the other
    _require_open(run)
    if not isinstance(answers, dict):
        raise ValidationError(_("The answers must be an object keyed by item id."))
    lines = {line.item.id: line for line in run_lines(run)}
    errors: dict[str, list[str]] = {}
    readings = {}
    for key, entry in answers.items():
        item_id = int(key) if str(key).isdigit() else None
        field = f"item-{key}"
        if item_id not in lines:
            errors[field] = [_("No such item in this checklist.")]
            continue
        try:
            p = ChecklistAnswerSchema().read(entry, partial=True)
        except ValidationError as error:
            errors[field] = [error.detail]
            continue
        reading = {"answer": p.values.get("answer", MISSING), "note": p.values.get("note", MISSING)}
        if entry.get("answer", MISSING) in (None, ""):
            reading["answer"] = None
        if p.errors:
            errors[field] = [message for messages in p.errors.values() for message in messages]
        readings[item_id] = reading
    for key in (photos or {}):
        if key not in lines:
            errors[f"item-{key}"] = [_("No such item in this checklist.")]
    if errors:
        raise ValidationError(_("The input is not valid."), errors)
    changed: dict[int, dict] = {}
    for item_id, reading in readings.items():
        answer = _answer_row(run, lines[item_id])
        if reading["answer"] is not MISSING:
            answer.answer = reading["answer"]
        if reading["note"] is not MISSING:
            answer.note = reading["note"]
        changed[item_id] = {"answer": answer.answer.value if answer.answer else None, "note": answer.note}
    for item_id, (stream, filename) in (photos or {}).items():
        photo = uploads.store(stream, filename, actor, images_only=True, field=f"item-{item_id}",
                              checklist_run_id=run.id)
        db.session.flush()
        _answer_row(run, lines[item_id]).photo_id = photo.id
        changed.setdefault(item_id, {})["photo_id"] = photo.id
    audit.record(actor, "checklist.run.answer", "checklist_run", run.id, None,
                 {str(k): v for k, v in changed.items()})
    db.session.commit()
    return run


def _answer_row(run: ChecklistRun, line: RunLine) -> ChecklistAnswer:
    if line.answer is None:
        line.answer = ChecklistAnswer(item_id=line.item.id, note="")
        run.answers.append(line.answer)
    return line.answer


def complete_run(actor, run: ChecklistRun, now: datetime | None = None) -> ChecklistRun:
    _require_fill(actor, run)
    lock(run)
    _require_open(run)
    missing = [line.item.text for line in run_lines(run) if line.value is None]
    if missing:
        raise ValidationError(_("Answer every item before completing the checklist."),
                              {"answers": [_("Not answered: %(item)s", item=text) for text in missing]})
    run.completed_at = now or utcnow()
    audit.record(actor, "checklist.run.complete", "checklist_run", run.id, None,
                 {"completed_at": run.completed_at, "no": progress(run).no})
    db.session.commit()
    return run


def action_due_on(run: ChecklistRun, today: date | None = None) -> date:
    """A month from today, or the day before the drill when that is sooner and still ahead."""
    today = today or local_today()
    due = today + timedelta(days=ACTION_DAYS)
    if run.drill_id is not None:
        drill = db.session.get(Drill, run.drill_id)
        assert drill is not None  # drill_id is a foreign key
        eve = drill.starts_at.astimezone(local_zone()).date() - timedelta(days=1)
        if today <= eve < due:
            due = eve
    return due


# Markers of a met requirement and how each reads when it is not met, first match in a clause wins.
_NEGATIONS = (("在有效期内", "已过有效期"), ("已", "未"), ("未", ""), ("无", "有"), ("为", "不是"),
              ("可", "不可"), ("畅通", "不畅通"), ("一致", "不一致"), ("齐全", "不齐全"), ("完好", "不完好"),
              ("满足", "不满足"), ("充足", "不足"), ("有效", "无效"), ("到位", "不到位"))


def _negate_clause(clause: str) -> str:
    found = [(clause.find(marker), marker, negation) for marker, negation in _NEGATIONS if marker in clause]
    if not found:
        return "未" + clause
    position, marker, negation = min(found, key=lambda f: f[0])
    return clause[:position] + negation + clause[position + len(marker):]


def shortcoming(requirement: str) -> str:
    """What an item answered "no" says is wrong: "清点人数方法已明确（班主任点名…）" becomes
    "清点人数方法未明确". A first draft, which the user corrects before saving."""
    text = re.sub(r"（[^）]*）|\([^)]*\)", "", requirement).strip().rstrip("。；;")
    clauses = [c.strip() for c in re.split(r"[，,；;]|且", text) if c.strip()]
    return "，或".join(_negate_clause(c) for c in clauses)[:500] or requirement[:500]


@dataclass
class ActionDraft:
    """What the "make it a corrective action" form starts from; category and owner are left to the user."""

    line: RunLine
    summary: str
    description: str
    due_on: date
    owners: list


def _no_line(run: ChecklistRun, item_id: int) -> RunLine:
    line = next((line for line in run_lines(run) if line.item.id == item_id), None)
    if line is None:
        access.not_found(_("No such checklist item."))
    if line.value != Answer.NO:
        raise Conflict(_("Only items answered “no” become corrective actions."))
    assert line.answer is not None  # answered “no”
    if line.answer.finding_id is not None:
        raise Conflict(_("This item already has a corrective action."))
    return line


def _source_finding(run: ChecklistRun):
    from drillmgr.findings.models import Finding

    return Finding(drill_id=run.drill_id, checklist_run_id=run.id, region_code=run.region_code, org_id=run.org_id)


def action_draft(actor, run: ChecklistRun, item_id: int, today: date | None = None) -> ActionDraft:
    from drillmgr.findings.services import owner_choices

    _require_fill(actor, run)
    line = _no_line(run, item_id)
    assert line.answer is not None  # answered “no”
    return ActionDraft(line=line, summary=shortcoming(line.item.text), description=(line.answer.note or "").strip(),
                       due_on=action_due_on(run, today), owners=owner_choices(_source_finding(run)))


def make_corrective_action(actor, run: ChecklistRun, item_id: int, data: dict | None = None,
                           today: date | None = None):
    """A "no" answer becomes a finding with its corrective action, followed and closed out like a
    drill's findings. `data` is a finding's input (summary, severity, category, corrective_action
    {description, owner, due_on}); category and owner must be given, the rest defaults to the
    draft. The answer's photo becomes the action's first evidence."""
    from drillmgr.findings.services import create_finding

    _require_fill(actor, run)
    lock(run)  # a second click waits, then finds the first click's action
    line = _no_line(run, item_id)
    assert line.answer is not None  # answered “no”
    if data is not None and not isinstance(data, dict):
        raise ValidationError(_("The request body must be a JSON object."))
    data = dict(data or {})
    today = today or local_today()
    note = (line.answer.note or "").strip()
    raw_action = data.get("corrective_action")
    action = {} if raw_action is None else dict(raw_action) if isinstance(raw_action, dict) else raw_action
    if isinstance(action, dict):
        action.setdefault("description", note or _("Correct: %(item)s", item=line.item.text))
        action.setdefault("due_on", action_due_on(run, today).isoformat())
    data.setdefault("summary", shortcoming(line.item.text))
    data.setdefault("severity", Severity.MAJOR.value)
    data["corrective_action"] = action
    finding = create_finding(actor, data, region_code=run.region_code, org_id=run.org_id, drill_id=run.drill_id,
                             checklist_run_id=run.id, found_on=today, today=today, commit=False)
    line.answer.finding_id = finding.id
    if line.answer.photo_id is not None:
        photo = db.session.get(Attachment, line.answer.photo_id)
        assert photo is not None  # photo_id is a foreign key
        photo.corrective_action_id = finding.corrective_action.id
    audit.record(actor, "checklist.run.action", "checklist_run", run.id, None,
                 {"item_id": item_id, "finding_id": finding.id})
    db.session.commit()
    return finding


def run_query(user, org_id: int | None = None, drill_id: int | None = None, standing: bool | None = None):
    query = sa.select(ChecklistRun).where(access.checklist_run_clause(user))
    if org_id is not None:
        query = query.where(ChecklistRun.org_id == org_id)
    if drill_id is not None:
        query = query.where(ChecklistRun.drill_id == drill_id)
    if standing is not None:
        query = query.where(ChecklistRun.drill_id.is_(None) if standing else ChecklistRun.drill_id.is_not(None))
    return query.order_by(ChecklistRun.started_at.desc(), ChecklistRun.id.desc())


def run_subjects(runs: list[ChecklistRun]) -> dict[int, str]:
    """What each run is about — its drill's title or its unit's name — in two queries for a whole page."""
    drill_ids = {r.drill_id for r in runs if r.drill_id}
    org_ids = {r.org_id for r in runs if r.org_id and not r.drill_id}
    titles = dict(db.session.execute(sa.select(Drill.id, Drill.title).where(Drill.id.in_(drill_ids))).tuples().all())
    names: dict[int | None, str] = dict(db.session.execute(sa.select(Organisation.id, Organisation.name)
                                                           .where(Organisation.id.in_(org_ids))).tuples().all())
    return {r.id: titles.get(r.drill_id, "") if r.drill_id else names.get(r.org_id, "") for r in runs}


# --- what the drill page, the unit page and the dashboard show -----------------------------------

@dataclass
class DrillChecklist:
    template: ChecklistTemplate | None
    run: ChecklistRun | None
    progress: Progress | None
    can_start: bool


def drill_checklist(user, drill: Drill) -> DrillChecklist | None:
    """The drill's pre-drill checklist as its page shows it; None when none applies and none was run."""
    run = db.session.scalars(sa.select(ChecklistRun).where(ChecklistRun.drill_id == drill.id,
                                                           access.checklist_run_clause(user))
                             .order_by(ChecklistRun.id.desc())).first()
    template = run.template if run is not None else template_for_drill(drill)
    if template is None:
        return None
    can_start = run is None and drill.status == DrillStatus.PLANNED and access.can_edit_drill(user, drill)
    return DrillChecklist(template, run, progress(run) if run else None, can_start)


@dataclass
class UnitReadiness:
    template: ChecklistTemplate | None
    last_run: ChecklistRun | None
    open_run: ChecklistRun | None
    age_days: int | None
    this_term: bool
    can_start: bool


def unit_readiness(user, org: Organisation, today: date | None = None) -> UnitReadiness:
    today = today or local_today()
    runs = db.session.scalars(sa.select(ChecklistRun).where(
        ChecklistRun.org_id == org.id, ChecklistRun.drill_id.is_(None), access.checklist_run_clause(user))
        .order_by(ChecklistRun.completed_at.desc(), ChecklistRun.id.desc())).all()
    open_run = next((r for r in runs if r.completed_at is None), None)
    last_run = next((r for r in runs if r.completed_at is not None), None)
    last_day = last_run.completed_at.astimezone(local_zone()).date() if last_run and last_run.completed_at else None
    age = (today - last_day).days if last_day else None
    first, _last = term_bounds(today)
    return UnitReadiness(
        template=template_for_org(org), last_run=last_run, open_run=open_run, age_days=age,
        this_term=last_day is not None and last_day >= first,
        can_start=access.can_start_readiness_run(user, org))


def term_bounds(day: date) -> tuple[date, date]:
    """The school term containing `day`: spring 1 Feb – 31 Jul, autumn 1 Aug – 31 Jan."""
    if 2 <= day.month <= 7:
        return date(day.year, 2, 1), date(day.year, 7, 31)
    start_year = day.year if day.month >= 8 else day.year - 1
    return date(start_year, 8, 1), date(start_year + 1, 1, 31)


def _local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(timezone.utc)


def readiness_for(user, region_code: str, today: date | None = None) -> list[dict]:
    """readiness_summary for a region the user may see."""
    access.require(access.can_view_readiness_figures(user, region_code), _("This region is outside your scope."))
    return readiness_summary(region_code, today)


def readiness_summary(region_code: str, today: date | None = None) -> list[dict]:
    """Per county in `region_code`'s subtree (or the county containing it): the units that have a
    standing readiness checklist, how many completed a run this term, and the share. One query."""
    first, last = term_bounds(today or local_today())
    county = aliased(Region)
    unit_region = aliased(Region)
    target = db.session.get(Region, region_code)
    if target is None:
        return []
    kinds = sa.select(ChecklistTemplate.org_kind).where(ChecklistTemplate.active.is_(True),
                                                        ChecklistTemplate.org_kind.is_not(None))
    ready = sa.select(ChecklistRun.org_id).where(
        ChecklistRun.drill_id.is_(None), ChecklistRun.org_id.is_not(None),
        ChecklistRun.completed_at >= _local_midnight_utc(first),
        ChecklistRun.completed_at < _local_midnight_utc(last + timedelta(days=1)))
    in_scope = sa.or_(county.path.startswith(target.path, autoescape=False),
                      sa.literal(target.path).startswith(county.path, autoescape=False))
    rows = db.session.execute(
        sa.select(county.code, county.name, sa.func.count(Organisation.id),
                  sa.func.count(Organisation.id).filter(Organisation.id.in_(ready)))
        .select_from(county)
        .outerjoin(unit_region, unit_region.path.startswith(county.path, autoescape=False))
        .outerjoin(Organisation, sa.and_(Organisation.region_code == unit_region.code, Organisation.kind.in_(kinds)))
        .where(county.level == RegionLevel.COUNTY, in_scope)
        .group_by(county.code, county.name).order_by(county.code)
    ).all()
    return [{"code": code, "name": name, "units": units, "ready": ready_count,
             "share": ready_count / units if units else None, "term": (first, last)}
            for code, name, units, ready_count in rows]
