"""Checklist runs: a drill's pre-drill checklist or a unit's standing readiness checklist, started, answered
item by item (with a photo) and completed."""

from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.checklists import uploads
from drillmgr.checklists.models import ChecklistAnswer, ChecklistItem, ChecklistRun
from drillmgr.checklists.schemas import ChecklistAnswerSchema, ChecklistRunStartSchema
from drillmgr.checklists.templates import template_for_drill, template_for_org
from drillmgr.db import lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import Answer, DrillStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.validation import MISSING, parse_id


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
    return [RunLine(item, answers.get(item.id)) for item in run.template.items if item.active or item.id in answers]


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
    return Progress(
        answered=sum(1 for line in lines if line.value is not None),
        total=len(lines),
        no=sum(1 for line in lines if line.value == Answer.NO),
    )


def start_drill_run(actor: User, drill: Drill) -> ChecklistRun:
    """The drill's pre-drill checklist run: the existing one, or a new one."""
    access.require(access.can_edit_drill(actor, drill), _("You cannot prepare this drill."))
    lock(drill)  # two starts at once: the second waits and finds the first one's run
    existing = db.session.scalars(
        sa.select(ChecklistRun).where(ChecklistRun.drill_id == drill.id).order_by(ChecklistRun.id.desc())
    ).first()
    if existing is not None:
        return existing
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill was cancelled."))
    template = template_for_drill(drill)
    if template is None:
        raise ValidationError(_("No pre-drill checklist applies to this kind of drill."))
    run = ChecklistRun(
        template=template,
        drill_id=drill.id,
        org_id=drill.organizer_org_id,
        region_code=drill.region_code,
        run_by_id=actor.id,
    )
    return _add_run(actor, run)


def start_readiness_run(actor: User, org: Organisation) -> ChecklistRun:
    """The unit's unfinished readiness run, or a new one (a unit runs its checklist again each term)."""
    access.require(access.can_start_readiness_run(actor, org), _("You cannot run this unit's checklist."))
    lock(org)  # two starts at once: the second waits and finds the first one's run
    existing = db.session.scalars(
        sa.select(ChecklistRun)
        .where(ChecklistRun.org_id == org.id, ChecklistRun.drill_id.is_(None), ChecklistRun.completed_at.is_(None))
        .order_by(ChecklistRun.id.desc())
    ).first()
    if existing is not None:
        return existing
    template = template_for_org(org)
    if template is None:
        raise ValidationError(_("No readiness checklist applies to units of this kind."))
    run = ChecklistRun(template=template, org_id=org.id, region_code=org.region_code, run_by_id=actor.id)
    return _add_run(actor, run)


def start_run(actor: User, data: dict[str, Any]) -> ChecklistRun:
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


def _add_run(actor: User, run: ChecklistRun) -> ChecklistRun:
    db.session.add(run)
    db.session.flush()
    audit.record(
        actor,
        "checklist.run.start",
        "checklist_run",
        run.id,
        None,
        {"template_id": run.template_id, "drill_id": run.drill_id, "org_id": run.org_id},
    )
    return run


def get_visible_run(user: User, run_id: int) -> ChecklistRun:
    run = db.session.get(ChecklistRun, run_id)
    if run is None or not access.can_view_checklist_run(user, run):
        access.not_found(_("No such checklist run."))
    return run


def require_fill(actor: User, run: ChecklistRun) -> None:
    access.require(access.can_fill_checklist_run(actor, run), _("You cannot fill in this checklist."))


def _require_open(run: ChecklistRun) -> None:
    if run.completed_at is not None:
        raise Conflict(_("This checklist run is complete and can no longer be changed."))


Photo = tuple[IO[bytes], str]


def save_answers(
    actor: User, run: ChecklistRun, answers: dict[str, Any], photos: dict[int, Photo] | None = None
) -> ChecklistRun:
    """`answers` maps item ids to {"answer": "yes"|"no"|"na"|None, "note": str}; `photos` maps item ids
    to (stream, filename). Every error is collected under "item-<id>"; nothing changes if any."""
    require_fill(actor, run)
    lock(run)  # answers saved at the same moment are applied one after the other
    _require_open(run)
    if not isinstance(answers, dict):
        raise ValidationError(_("The answers must be an object keyed by item id."))
    photos = photos or {}
    lines = {line.item.id: line for line in run_lines(run)}
    readings = _read_answers(answers, photos, lines)
    changed: dict[int, dict[str, Any]] = {}
    for item_id, reading in readings.items():
        answer = _answer_row(run, lines[item_id])
        if reading["answer"] is not MISSING:
            answer.answer = reading["answer"]
        if reading["note"] is not MISSING:
            answer.note = reading["note"]
        changed[item_id] = {"answer": answer.answer.value if answer.answer else None, "note": answer.note}
    for item_id, (stream, filename) in photos.items():
        photo = uploads.store(
            stream, filename, actor, images_only=True, field=f"item-{item_id}", checklist_run_id=run.id
        )
        db.session.flush()
        _answer_row(run, lines[item_id]).photo_id = photo.id
        changed.setdefault(item_id, {})["photo_id"] = photo.id
    audit.record(actor, "checklist.run.answer", "checklist_run", run.id, None, {str(k): v for k, v in changed.items()})
    return run


def _read_answers(
    answers: dict[str, Any], photos: dict[int, Photo], lines: dict[int, RunLine]
) -> dict[int, dict[str, Any]]:
    """Each answered item's answer and note (MISSING when left out); refuses them all if any is wrong."""
    errors: dict[str, list[str]] = {}
    readings = {}
    for key, entry in answers.items():
        item_id = parse_id(str(key))
        field = f"item-{key}"
        if item_id is None or item_id not in lines:
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
    for photo_key in photos:
        if photo_key not in lines:
            errors[f"item-{photo_key}"] = [_("No such item in this checklist.")]
    if errors:
        raise ValidationError(_("The input is not valid."), errors)
    return readings


def _answer_row(run: ChecklistRun, line: RunLine) -> ChecklistAnswer:
    if line.answer is None:
        line.answer = ChecklistAnswer(item_id=line.item.id, note="")
        run.answers.append(line.answer)
    return line.answer


def complete_run(actor: User, run: ChecklistRun, now: datetime | None = None) -> ChecklistRun:
    require_fill(actor, run)
    lock(run)
    _require_open(run)
    missing = [line.item.text for line in run_lines(run) if line.value is None]
    if missing:
        raise ValidationError(
            _("Answer every item before completing the checklist."),
            {"answers": [_("Not answered: %(item)s", item=text) for text in missing]},
        )
    run.completed_at = now or utcnow()
    audit.record(
        actor,
        "checklist.run.complete",
        "checklist_run",
        run.id,
        None,
        {"completed_at": run.completed_at, "no": progress(run).no},
    )
    return run


def run_query(
    user: User, org_id: int | None = None, drill_id: int | None = None, standing: bool | None = None
) -> sa.Select[tuple[ChecklistRun]]:
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
    names: dict[int | None, str] = dict(
        db.session.execute(sa.select(Organisation.id, Organisation.name).where(Organisation.id.in_(org_ids)))
        .tuples()
        .all()
    )
    return {r.id: titles.get(r.drill_id, "") if r.drill_id else names.get(r.org_id, "") for r in runs}
