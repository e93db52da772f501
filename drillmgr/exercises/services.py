"""Exercise design and conduct (HSEEP's shape): objectives and their templates, the MSEL of injects (with XLSX
import and export), the live session that reveals and runs a (double-blind) tabletop, players' responses,
evaluations per objective, participants' feedback, and the after-action report drafted from them.

Services know nothing of the request: they take the acting user and plain data, check access here, and raise
drillmgr.errors exceptions that the views and the API turn into answers."""
import io
import secrets
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from drillmgr.access import services as access
from drillmgr.audit import services as audit
from drillmgr.db import claim_version, lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import Condition, DrillStatus, Focus
from drillmgr.errors import Conflict, NotFound, ValidationError
from drillmgr.exercises.defaults import CONDITION_INJECTS, DEFAULT_OBJECTIVES
from drillmgr.exercises.enums import Rating, SessionStatus
from drillmgr.exercises.models import (Evaluation, ExerciseSession, Feedback, Inject, InjectResponse, Objective,
                                       ObjectiveTemplate)
from drillmgr.extensions import db
from drillmgr.localtime import api_datetime
from drillmgr.validation import MISSING, Payload, plain_text

MAX_TEXT = 5000
MAX_OFFSET_MINUTES = 7 * 24 * 60  # a week: no tabletop or live drill runs longer
MAX_OBJECTIVES = 50
MAX_INJECTS = 300
MAX_MSEL_BYTES = 2 * 1024 * 1024
FEEDBACK_DAYS = 14
FEEDBACK_SALT = "exercise-feedback"
RATING_ORDER = [Rating.P, Rating.S, Rating.M, Rating.U]


def _stale(what: str) -> str:
    return _("Someone else changed this %(what)s meanwhile. Reload it and apply your change again.", what=what)


def _text(p: Payload, name: str, required: bool = False, max_length: int = MAX_TEXT):
    return p.string(name, required=required, max_length=max_length, plain=True)


# --- objective templates ---------------------------------------------------------------------

def ensure_default_templates() -> int:
    """The shipped templates, once: only while there is none at all (an admin's deletions stay deleted)."""
    if db.session.scalar(sa.select(ObjectiveTemplate.id).limit(1)) is not None:
        return 0
    created = 0
    for focus, texts in DEFAULT_OBJECTIVES.items():
        for position, text in enumerate(texts, start=1):
            db.session.add(ObjectiveTemplate(focus=focus, text=text, position=position))
            created += 1
    db.session.flush()
    audit.record(None, "objective_template.defaults", "objective_template", "defaults", None, {"created": created})
    db.session.commit()
    return created


def templates(active_only: bool = True) -> list[ObjectiveTemplate]:
    ensure_default_templates()
    query = sa.select(ObjectiveTemplate)
    if active_only:
        query = query.where(ObjectiveTemplate.active.is_(True))
    rows = list(db.session.scalars(query))
    order = list(Focus)
    return sorted(rows, key=lambda t: (order.index(t.focus), t.position, t.id))


def get_template(template_id: int) -> ObjectiveTemplate:
    template = db.session.get(ObjectiveTemplate, template_id)
    if template is None:
        raise NotFound(_("No such objective template."))
    return template


def _read_template(data: dict, partial: bool) -> tuple[Payload, dict]:
    p = Payload(data, partial=partial)
    values = {"focus": p.choice("focus", Focus, required=True), "text": _text(p, "text", required=True, max_length=500),
              "position": p.integer("position", minimum=0, maximum=10_000), "active": p.boolean("active")}
    return p, {k: v for k, v in values.items() if v is not MISSING}


def create_template(actor, data: dict) -> ObjectiveTemplate:
    access.require(access.can_edit_objective_templates(actor), _("Only prefecture officers edit objective templates."))
    p, values = _read_template(data, partial=False)
    p.check()
    template = ObjectiveTemplate(**values)
    db.session.add(template)
    db.session.flush()
    audit.record(actor, "objective_template.create", "objective_template", template.id, None,
                 audit.snapshot(template, ("focus", "text", "active")))
    db.session.commit()
    return template


def update_template(actor, template: ObjectiveTemplate, data: dict) -> ObjectiveTemplate:
    access.require(access.can_edit_objective_templates(actor), _("Only prefecture officers edit objective templates."))
    p, values = _read_template(data, partial=True)
    version = p.version()
    p.check()
    before = audit.snapshot(template, ("focus", "text", "active"))
    claim_version(template, version, _stale(_("template")))
    for name, value in values.items():
        setattr(template, name, value)
    audit.record(actor, "objective_template.update", "objective_template", template.id, before,
                 audit.snapshot(template, ("focus", "text", "active")))
    db.session.commit()
    return template


def template_to_dict(template: ObjectiveTemplate) -> dict:
    return {"id": template.id, "focus": template.focus.value, "text": template.text, "position": template.position,
            "active": template.active, "version": template.version}


# --- objectives --------------------------------------------------------------------------------

def _require_design(actor, drill: Drill) -> None:
    access.require(access.can_design_exercise(actor, drill), _("Only the drill's organisers design its exercise."))
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("The drill is cancelled."))
    require_not_filed(drill)


def objectives(drill: Drill) -> list[Objective]:
    return list(db.session.scalars(sa.select(Objective).where(Objective.drill_id == drill.id)
                                   .order_by(Objective.position, Objective.id)))


def get_objective(actor, objective_id: int) -> Objective:
    """An objective whose design `actor` may see; anything else is a 404."""
    objective = db.session.get(Objective, objective_id)
    if objective is None:
        raise NotFound(_("No such objective."))
    drill = access.get_visible_drill(actor, objective.drill_id)
    if not access.can_see_exercise_design(actor, drill):
        raise NotFound(_("No such objective."))
    return objective


def _read_objective(data: dict, partial: bool) -> tuple[Payload, dict]:
    p = Payload(data, partial=partial)
    template_id = p.integer("template_id", minimum=1, default=None)
    template = db.session.get(ObjectiveTemplate, template_id) if template_id else None
    if template_id and template is None:
        p.error("template_id", _("No such objective template."))
    values = {
        "text": _text(p, "text", required=template is None, max_length=500),
        "measure": _text(p, "measure"),
        "focus": p.choices("focus", Focus, required=template is None),
        "plan": _text(p, "plan", max_length=300),
    }
    if template is not None:
        if values["text"] in (MISSING, ""):
            values["text"] = template.text
        if values["focus"] in (MISSING, []):
            values["focus"] = [template.focus]
    if values["focus"] is not MISSING:
        if not values["focus"]:
            p.error("focus", _("Name at least one focus link."))
        values["focus"] = [f.value for f in values["focus"]]
    return p, {k: v for k, v in values.items() if v is not MISSING}


OBJECTIVE_FIELDS = ("text", "measure", "focus", "plan")


def add_objective(actor, drill: Drill, data: dict) -> Objective:
    _require_design(actor, drill)
    p, values = _read_objective(data, partial=False)
    p.check()
    existing = objectives(drill)
    if len(existing) >= MAX_OBJECTIVES:
        raise ValidationError(_("An exercise has at most %(n)d objectives.", n=MAX_OBJECTIVES))
    objective = Objective(drill_id=drill.id, position=len(existing) + 1, created_by_id=actor.id, **values)
    db.session.add(objective)
    db.session.flush()
    audit.record(actor, "objective.create", "objective", objective.id, None,
                 audit.snapshot(objective, OBJECTIVE_FIELDS))
    db.session.commit()
    return objective


def update_objective(actor, objective: Objective, data: dict) -> Objective:
    drill = db.session.get(Drill, objective.drill_id)
    _require_design(actor, drill)
    p, values = _read_objective(data, partial=True)
    version = p.version()
    p.check()
    before = audit.snapshot(objective, OBJECTIVE_FIELDS)
    claim_version(objective, version, _stale(_("objective")), updated_at=utcnow())
    for name, value in values.items():
        setattr(objective, name, value)
    audit.record(actor, "objective.update", "objective", objective.id, before,
                 audit.snapshot(objective, OBJECTIVE_FIELDS))
    db.session.commit()
    return objective


def delete_objective(actor, objective: Objective) -> None:
    drill = db.session.get(Drill, objective.drill_id)
    _require_design(actor, drill)
    if db.session.scalar(sa.select(Evaluation.id).where(Evaluation.objective_id == objective.id).limit(1)):
        raise Conflict(_("This objective has been evaluated; it cannot be deleted."))
    audit.record(actor, "objective.delete", "objective", objective.id, audit.snapshot(objective, OBJECTIVE_FIELDS))
    db.session.delete(objective)
    db.session.commit()


def objective_to_dict(objective: Objective) -> dict:
    return {"id": objective.id, "drill_id": objective.drill_id, "position": objective.position,
            "text": objective.text, "measure": objective.measure, "focus": list(objective.focus or []),
            "plan": objective.plan, "version": objective.version}


# --- injects (MSEL) ------------------------------------------------------------------------------

def injects(drill: Drill) -> list[Inject]:
    return list(db.session.scalars(sa.select(Inject).where(Inject.drill_id == drill.id)
                                   .order_by(Inject.offset_minutes, Inject.number, Inject.id)))


def get_inject(actor, inject_id: int) -> Inject:
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


INJECT_FIELDS = ("number", "offset_minutes", "sender", "recipient", "message", "expected_action", "objective_id")


def _read_inject(drill: Drill, data: dict, partial: bool) -> tuple[Payload, dict]:
    p = Payload(data, partial=partial)
    values = {
        "number": p.integer("number", minimum=0, maximum=10_000),
        "offset_minutes": p.integer("offset_minutes", required=True, minimum=0, maximum=MAX_OFFSET_MINUTES),
        "sender": _text(p, "sender", max_length=200),
        "recipient": _text(p, "recipient", max_length=200),
        "message": _text(p, "message", required=True),
        "expected_action": _text(p, "expected_action"),
        "objective_id": p.integer("objective_id", minimum=1, default=MISSING),
    }
    if p.has("objective_id") and p.data["objective_id"] is None:
        values["objective_id"] = None
    if values["objective_id"] not in (MISSING, None):
        objective = db.session.get(Objective, values["objective_id"])
        if objective is None or objective.drill_id != drill.id:
            p.error("objective_id", _("No such objective in this exercise."))
    return p, {k: v for k, v in values.items() if v is not MISSING}


def _next_number(drill: Drill) -> int:
    return 1 + (db.session.scalar(sa.select(sa.func.max(Inject.number)).where(Inject.drill_id == drill.id)) or 0)


def _count_injects(drill: Drill) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Inject).where(Inject.drill_id == drill.id))


def add_inject(actor, drill: Drill, data: dict) -> Inject:
    _require_design(actor, drill)
    p, values = _read_inject(drill, data, partial=False)
    p.check()
    if _count_injects(drill) >= MAX_INJECTS:
        raise ValidationError(_("An MSEL has at most %(n)d injects.", n=MAX_INJECTS))
    values.setdefault("number", _next_number(drill))
    inject = Inject(drill_id=drill.id, **values)
    db.session.add(inject)
    db.session.flush()
    audit.record(actor, "inject.create", "inject", inject.id, None, audit.snapshot(inject, INJECT_FIELDS))
    db.session.commit()
    return inject


def _require_unreleased(inject: Inject) -> None:
    if inject.released_at is not None:
        raise Conflict(_("This inject has been released to the players; it stays as it was."))


def update_inject(actor, inject: Inject, data: dict) -> Inject:
    drill = db.session.get(Drill, inject.drill_id)
    _require_design(actor, drill)
    p, values = _read_inject(drill, data, partial=True)
    version = p.version()
    p.check()
    _require_unreleased(inject)
    before = audit.snapshot(inject, INJECT_FIELDS)
    claim_version(inject, version, _stale(_("inject")), updated_at=utcnow())
    for name, value in values.items():
        setattr(inject, name, value)
    audit.record(actor, "inject.update", "inject", inject.id, before, audit.snapshot(inject, INJECT_FIELDS))
    db.session.commit()
    return inject


def delete_inject(actor, inject: Inject) -> None:
    drill = db.session.get(Drill, inject.drill_id)
    _require_design(actor, drill)
    _require_unreleased(inject)
    audit.record(actor, "inject.delete", "inject", inject.id, audit.snapshot(inject, INJECT_FIELDS))
    old = _detach(inject)
    db.session.delete(inject)
    db.session.commit()
    _remove_file(old)


MAP_OR_PHOTO = ("image/jpeg", "image/png", "application/pdf")


def _detach(inject: Inject):
    """Drops the inject's file row (the stored file goes once the change is committed: _remove_file)."""
    attachment = inject.attachment
    if attachment is None:
        return None
    inject.attachment_id = None
    db.session.delete(attachment)
    return attachment.stored_name


def _remove_file(stored_name: str | None) -> None:
    if stored_name:
        from drillmgr.attachments.services import upload_dir

        (upload_dir() / stored_name).unlink(missing_ok=True)


def attach_file(actor, inject: Inject, stream, filename: str) -> Inject:
    """A map or photo (JPEG, PNG or PDF) sent with the inject's message, replacing any before; until the release
    only the design's insiders may fetch it (it is no drill file, so the drill's file list never shows it)."""
    from drillmgr.checklists.uploads import store

    drill = db.session.get(Drill, inject.drill_id)
    _require_design(actor, drill)
    _require_unreleased(inject)
    attachment = store(stream, filename, actor)
    if attachment.content_type not in MAP_OR_PHOTO:
        db.session.rollback()
        message = _("Only a map or photo (JPEG, PNG or PDF) can go with an inject.")
        raise ValidationError(message, {"file": [message]})
    old = _detach(inject)
    db.session.flush()
    inject.attachment_id = attachment.id
    inject.version += 1
    audit.record(actor, "inject.attach", "inject", inject.id, None, {"filename": attachment.filename})
    db.session.commit()
    _remove_file(old)
    return inject


def seed_from_scenario(actor, drill: Drill) -> list[Inject]:
    """The first injects from the drill's scenario: the earthquake itself, then one per condition
    (night, severe cold, the outages, casualties), five minutes apart. Added after what is there."""
    _require_design(actor, drill)
    if session_of(drill) is not None:
        raise Conflict(_("The exercise has started; add unplanned injects from the console instead."))
    magnitude = f"{drill.magnitude}" if drill.magnitude is not None else "6.0"
    place = drill.location or drill.region.name
    lines = [("地震台网", "现场指挥部", f"{place}附近发生{magnitude}级地震，震源深度10公里，震感强烈。",
              "启动应急响应，开设现场指挥部，组织灾情收集。")]
    for condition in Condition:
        if condition.value in (drill.conditions or []):
            lines.append(CONDITION_INJECTS[condition])
    start = _count_injects(drill)
    if start + len(lines) > MAX_INJECTS:
        raise ValidationError(_("An MSEL has at most %(n)d injects.", n=MAX_INJECTS))
    number = _next_number(drill)
    made = []
    for i, (sender, recipient, message, expected) in enumerate(lines):
        inject = Inject(drill_id=drill.id, number=number + i, offset_minutes=5 * i, sender=sender, recipient=recipient,
                        message=message, expected_action=expected)
        db.session.add(inject)
        made.append(inject)
    db.session.flush()
    audit.record(actor, "inject.seed", "drill", drill.id, None, {"injects": [i.id for i in made]})
    db.session.commit()
    return made


def inject_to_dict(inject: Inject, design: bool = True, responses: list[InjectResponse] | None = None) -> dict:
    """`design`: for the design's insiders, with the expected action and the objective; players get what was
    sent to them."""
    answer = {"id": inject.id, "drill_id": inject.drill_id, "number": inject.number,
              "offset_minutes": inject.offset_minutes, "sender": inject.sender, "recipient": inject.recipient,
              "message": inject.message, "unplanned": inject.unplanned, "released_at": api_datetime(inject.released_at),
              "attachment": ({"filename": inject.attachment.filename, "content_type": inject.attachment.content_type,
                              "size": inject.attachment.size} if inject.attachment is not None else None)}
    if design:
        answer |= {"expected_action": inject.expected_action, "objective_id": inject.objective_id,
                   "version": inject.version}
    if responses is not None:
        answer["responses"] = [response_to_dict(r) for r in responses]
    return answer


# --- MSEL as XLSX ----------------------------------------------------------------------------------

def _msel_headers() -> list[tuple[str, str]]:
    return [("number", _("No.")), ("offset_minutes", _("Minutes after start")), ("sender", _("Sent by")),
            ("recipient", _("Sent to")), ("message", _("Message")), ("expected_action", _("Expected action")),
            ("objective", _("Objective no."))]


# Header cells read in either language, so that a sheet exported in one language imports in the other.
_HEADER_ALIASES = {
    "number": {"no.", "number", "序号"},
    "offset_minutes": {"minutes after start", "offset", "时间（分钟）", "开始后分钟"},
    "sender": {"from", "sent by", "发出方"}, "recipient": {"to", "sent to", "接收方"},
    "message": {"message", "信息", "情景信息"},
    "expected_action": {"expected action", "预期行动"}, "objective": {"objective no.", "objective", "检验目标"},
}


def msel_xlsx(drill: Drill) -> bytes:
    from openpyxl import Workbook

    positions = {o.id: o.position for o in objectives(drill)}
    book = Workbook()
    sheet = book.active
    sheet.title = "MSEL"
    sheet.append([label for _name, label in _msel_headers()])
    for inject in injects(drill):
        sheet.append([inject.number, inject.offset_minutes, inject.sender, inject.recipient, inject.message,
                      inject.expected_action, positions.get(inject.objective_id)])
    for column, width in zip("ABCDEFG", (6, 10, 16, 16, 60, 40, 10), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _header_field(cell) -> str | None:
    text = str(cell or "").strip().lower()
    for name, aliases in _HEADER_ALIASES.items():
        if text in aliases or text == dict(_msel_headers())[name].lower():
            return name
    return None


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return plain_text(str(value)).strip()


def import_msel(actor, drill: Drill, content: bytes) -> list[Inject]:
    """Replaces the MSEL with the sheet's rows: all of them or none, each error naming its line. Only before
    the exercise starts."""
    from openpyxl import load_workbook

    _require_design(actor, drill)
    if session_of(drill) is not None:
        raise Conflict(_("The exercise has started; its MSEL can no longer be replaced."))
    if len(content) > MAX_MSEL_BYTES:
        raise ValidationError(_("The file is too large."), {"file": [_("The file is too large.")]})
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        rows = list(book.worksheets[0].iter_rows(values_only=True, max_row=MAX_INJECTS + 2, max_col=20))
    except Exception:  # noqa: BLE001 — whatever a broken or foreign file makes openpyxl raise
        message = _("This is not an Excel (.xlsx) workbook.")
        raise ValidationError(message, {"file": [message]}) from None
    if not rows:
        message = _("The sheet is empty.")
        raise ValidationError(message, {"file": [message]})
    columns = [_header_field(cell) for cell in rows[0]]
    if "message" not in columns or "offset_minutes" not in columns:
        message = _("The first row must name the columns, at least “%(a)s” and “%(b)s”.",
                    a=dict(_msel_headers())["offset_minutes"], b=dict(_msel_headers())["message"])
        raise ValidationError(message, {"file": [message]})
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(_cell_text(c) for c in row)]
    if len(body) > MAX_INJECTS:
        raise ValidationError(_("An MSEL has at most %(n)d injects.", n=MAX_INJECTS))
    by_position = {o.position: o.id for o in objectives(drill)}
    line_errors: list[str] = []
    made = []
    for line, row in body:
        record = {name: _cell_text(value) for name, value in zip(columns, row, strict=False) if name}
        data = {key: record.get(key, "") for key in ("sender", "recipient", "message", "expected_action")}
        data["offset_minutes"] = record.get("offset_minutes", "")
        if record.get("number"):
            data["number"] = record["number"]
        objective = record.get("objective", "")
        if objective:
            position = objective.removeprefix("目标").strip()
            if not position.isdigit() or int(position) not in by_position:
                line_errors.append(_("Line %(line)d, %(field)s: %(msg)s", line=line, field="objective",
                                     msg=_("No objective numbered %(n)s in this exercise.", n=objective[:20])))
                continue
            data["objective_id"] = by_position[int(position)]
        p, values = _read_inject(drill, data, partial=False)
        for name, messages in p.errors.items():
            line_errors.extend(_("Line %(line)d, %(field)s: %(msg)s", line=line, field=name, msg=m) for m in messages)
        if not p.errors:
            made.append(values)
    if line_errors:
        raise ValidationError(_("Nothing was imported."), {"lines": line_errors})
    db.session.execute(sa.delete(Inject).where(Inject.drill_id == drill.id))
    rows_made = []
    for n, values in enumerate(made, start=1):
        values.setdefault("number", n)
        inject = Inject(drill_id=drill.id, **values)
        db.session.add(inject)
        rows_made.append(inject)
    db.session.flush()
    audit.record(actor, "msel.import", "drill", drill.id, None, {"injects": len(rows_made)})
    db.session.commit()
    return rows_made


# --- the live session ------------------------------------------------------------------------------

def session_of(drill: Drill, for_update: bool = False) -> ExerciseSession | None:
    session = db.session.get(ExerciseSession, drill.id)
    if session is not None and for_update:
        lock(session)
    return session


def elapsed_seconds(session: ExerciseSession, now: datetime | None = None) -> int:
    now = session.ended_at or now or utcnow()
    paused = session.paused_seconds
    if session.status == SessionStatus.PAUSED and session.paused_at is not None:
        paused += int((now - session.paused_at).total_seconds())
    return max(0, int((now - session.started_at).total_seconds()) - paused)


def _require_controller(actor, drill: Drill) -> None:
    access.require(access.can_design_exercise(actor, drill), _("Only the drill's organisers control its exercise."))


def start_session(actor, drill: Drill, now: datetime | None = None) -> ExerciseSession:
    """Starts the exercise: the drill starts now. A double-blind drill still ahead is revealed to its players at
    this moment (its start moves to now), never before."""
    _require_controller(actor, drill)
    now = now or utcnow()
    if drill.status != DrillStatus.PLANNED:
        raise Conflict(_("Only a planned drill can be started."))
    require_not_filed(drill)
    lock(drill)
    if session_of(drill) is not None:
        raise Conflict(_("The exercise has already been started."))
    revealed = access.is_secret(drill, now)
    if drill.starts_at > now:
        length = drill.ends_at - drill.starts_at
        drill.starts_at = now
        drill.ends_at = max(drill.ends_at, now + min(length, timedelta(hours=4)))
        drill.sequence += 1
        drill.version += 1
        drill.updated_at = now
    session = ExerciseSession(drill_id=drill.id, status=SessionStatus.RUNNING, started_at=now,
                              started_by_id=actor.id, revealed_by_console=revealed, paused_seconds=0, tick=1, version=1)
    db.session.add(session)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("The exercise has already been started.")) from None
    audit.record(actor, "exercise.start", "drill", drill.id, None, {"started_at": now, "revealed_by_console": revealed})
    _tell_players(drill)
    db.session.commit()
    return session


def _tell_players(drill: Drill) -> None:
    """The players learn that the exercise has begun (in-app, and by mail when they have an address): only now,
    as the exercise is revealed to them, and in each one's language."""
    from flask_babel import force_locale

    from drillmgr.accounts.models import User
    from drillmgr.enums import Role
    from drillmgr.notifications import services as notifications

    org_ids = [org.id for org in drill.participants]
    if not org_ids:
        return
    players = db.session.scalars(sa.select(User).where(User.active.is_(True), User.role == Role.ORG_STAFF,
                                                      User.org_id.in_(org_ids)))
    link = notifications.link_to("exercises.play", drill_id=drill.id)
    messages = []
    for user in players:
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            messages.append(notifications.Message(
                user, "exercise_started", _("The exercise “%(title)s” has begun", title=drill.title),
                _("Open the players' screen to receive the exercise's messages and answer them."), link,
                f"exercise_started:{drill.id}:{user.id}"))
    notifications.notify_many(messages)


def _step(actor, drill: Drill, data: dict | None, allowed: tuple, to: SessionStatus, action: str,
          now: datetime | None = None) -> ExerciseSession:
    _require_controller(actor, drill)
    p = Payload(data or {})
    version = p.version()
    p.check()
    now = now or utcnow()
    session = session_of(drill, for_update=True)
    if session is None:
        raise Conflict(_("The exercise has not been started."))
    if session.status not in allowed:
        raise Conflict(_("The exercise is %(status)s.", status=session.status.label))
    values = {"status": to, "tick": session.tick + 1}
    if to == SessionStatus.PAUSED:
        values["paused_at"] = now
    elif session.status == SessionStatus.PAUSED:
        values["paused_seconds"] = session.paused_seconds + int((now - session.paused_at).total_seconds())
        values["paused_at"] = None
    if to == SessionStatus.ENDED:
        values["ended_at"] = now
    claim_version(session, version, _stale(_("exercise")), **values)
    db.session.refresh(session)
    audit.record(actor, action, "drill", drill.id, None, {"status": to.value, "at": now})
    db.session.commit()
    return session


def pause_session(actor, drill: Drill, data: dict | None = None, now=None) -> ExerciseSession:
    return _step(actor, drill, data, (SessionStatus.RUNNING,), SessionStatus.PAUSED, "exercise.pause", now)


def resume_session(actor, drill: Drill, data: dict | None = None, now=None) -> ExerciseSession:
    return _step(actor, drill, data, (SessionStatus.PAUSED,), SessionStatus.RUNNING, "exercise.resume", now)


def end_session(actor, drill: Drill, data: dict | None = None, now=None) -> ExerciseSession:
    return _step(actor, drill, data, (SessionStatus.RUNNING, SessionStatus.PAUSED), SessionStatus.ENDED,
                 "exercise.end", now)


def _release(actor, session: ExerciseSession, inject: Inject, now: datetime) -> None:
    inject.released_at = now
    inject.released_by_id = actor.id if actor is not None else None
    inject.version += 1
    session.tick += 1
    audit.record(actor, "inject.release", "inject", inject.id, None, {"released_at": now})


def release_inject(actor, inject: Inject, now: datetime | None = None) -> Inject:
    drill = db.session.get(Drill, inject.drill_id)
    _require_controller(actor, drill)
    now = now or utcnow()
    session = session_of(drill, for_update=True)
    if session is None or session.status != SessionStatus.RUNNING:
        raise Conflict(_("Injects are released while the exercise runs."))
    db.session.refresh(inject)
    _require_unreleased(inject)
    _release(actor, session, inject, now)
    db.session.commit()
    return inject


def release_due(actor, drill: Drill, now: datetime | None = None) -> list[Inject]:
    """The console's clock: releases every planned inject whose time has come (minutes after the start,
    pauses not counted)."""
    _require_controller(actor, drill)
    now = now or utcnow()
    session = session_of(drill, for_update=True)
    if session is None or session.status != SessionStatus.RUNNING:
        raise Conflict(_("Injects are released while the exercise runs."))
    minutes = elapsed_seconds(session, now) // 60
    due = list(db.session.scalars(sa.select(Inject).where(
        Inject.drill_id == drill.id, Inject.released_at.is_(None), Inject.offset_minutes <= minutes)
        .order_by(Inject.offset_minutes, Inject.number, Inject.id)))
    for inject in due:
        _release(actor, session, inject, now)
    db.session.commit()
    return due


def add_unplanned(actor, drill: Drill, data: dict, now: datetime | None = None) -> Inject:
    """An inject the controller makes up during the exercise: kept in the MSEL as unplanned, released at once."""
    _require_controller(actor, drill)
    now = now or utcnow()
    session = session_of(drill, for_update=True)
    if session is None or session.status != SessionStatus.RUNNING:
        raise Conflict(_("Unplanned injects are added while the exercise runs."))
    data = dict(data) | {"offset_minutes": elapsed_seconds(session, now) // 60}
    p, values = _read_inject(drill, data, partial=False)
    p.check()
    if _count_injects(drill) >= MAX_INJECTS:
        raise ValidationError(_("An MSEL has at most %(n)d injects.", n=MAX_INJECTS))
    values.setdefault("number", _next_number(drill))
    inject = Inject(drill_id=drill.id, unplanned=True, **values)
    db.session.add(inject)
    db.session.flush()
    audit.record(actor, "inject.unplanned", "inject", inject.id, None, audit.snapshot(inject, INJECT_FIELDS))
    _release(actor, session, inject, now)
    db.session.commit()
    return inject


def session_to_dict(drill: Drill, session: ExerciseSession | None, now: datetime | None = None) -> dict:
    if session is None:
        return {"drill_id": drill.id, "status": "not_started", "started_at": None, "ended_at": None,
                "elapsed_seconds": 0, "tick": 0, "run_blind": False, "version": 0}
    return {"drill_id": drill.id, "status": session.status.value, "started_at": api_datetime(session.started_at),
            "ended_at": api_datetime(session.ended_at), "elapsed_seconds": elapsed_seconds(session, now),
            "tick": session.tick,
            "run_blind": bool(drill.double_blind and session.revealed_by_console), "version": session.version}


def live_tick(actor, drill: Drill) -> int | None:
    """What a player's screen polls: the session's tick (one small read), or None when there is nothing to see."""
    session = session_of(drill)
    if not access.can_view_live_exercise(actor, drill, session):
        raise NotFound(_("No such drill."))
    return session.tick if session is not None else 0


def live_state(actor, drill: Drill, now: datetime | None = None) -> dict:
    """The live exercise as `actor` may see it: players get the released injects and their own answers; the
    design's insiders every inject, expected actions and all responses."""
    session = session_of(drill)
    if not access.can_view_live_exercise(actor, drill, session, now):
        raise NotFound(_("No such drill."))
    design = access.can_see_exercise_design(actor, drill)
    rows = injects(drill) if design else [i for i in injects(drill) if i.released_at is not None]
    if session is None and not design:
        rows = []
    answers: dict[int, list[InjectResponse]] = {}
    if rows:
        query = sa.select(InjectResponse).where(InjectResponse.inject_id.in_([i.id for i in rows]))
        if not design:
            query = query.where(InjectResponse.user_id == actor.id)
        for response in db.session.scalars(query.order_by(InjectResponse.responded_at, InjectResponse.id)):
            answers.setdefault(response.inject_id, []).append(response)
    rows.sort(key=lambda i: (i.released_at is None, i.released_at or now or utcnow(), i.offset_minutes, i.number))
    return {"session": session_to_dict(drill, session, now),
            "controller": design and access.can_design_exercise(actor, drill),
            "may_respond": session is not None and session.status == SessionStatus.RUNNING
            and access.can_respond_to_injects(actor, drill),
            "injects": [inject_to_dict(i, design, answers.get(i.id, [])) for i in rows]}


def respond(actor, inject: Inject, data: dict, now: datetime | None = None) -> InjectResponse:
    """A player records their decision on a released inject, once; the time it took is kept."""
    drill = db.session.get(Drill, inject.drill_id)
    access.require(access.can_respond_to_injects(actor, drill),
                   _("Only the participating units' staff answer injects."))
    p = Payload(data)
    decision = _text(p, "decision", required=True)
    p.check()
    now = now or utcnow()
    session = session_of(drill)
    if session is None or session.status != SessionStatus.RUNNING or inject.released_at is None:
        raise Conflict(_("Injects are answered while the exercise runs, once they are released."))
    response = InjectResponse(inject_id=inject.id, user_id=actor.id, decision=decision, responded_at=now,
                              seconds_taken=max(0, int((now - inject.released_at).total_seconds())))
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("You have already answered this inject.")) from None
    db.session.execute(sa.update(ExerciseSession).where(ExerciseSession.drill_id == drill.id)
                       .values(tick=ExerciseSession.tick + 1).execution_options(synchronize_session=False))
    audit.record(actor, "inject.respond", "inject", inject.id, None, {"response": response.id})
    db.session.commit()
    return response


def response_to_dict(response: InjectResponse) -> dict:
    return {"id": response.id, "inject_id": response.inject_id, "user_id": response.user_id,
            "player": response.user.display_name or response.user.username if response.user else "",
            "decision": response.decision, "responded_at": api_datetime(response.responded_at),
            "seconds_taken": response.seconds_taken}


def focus_coverage(drill: Drill) -> list[dict]:
    """For each focus link of the drill (a comprehensive live drill's key links above all): `planned` when an
    objective names it, `exercised` when such an objective was tested — an inject of it released and answered,
    or an evaluator rated it."""
    rows = objectives(drill)
    rated = {e.objective_id for e in evaluations(drill)}
    answered = set()
    tested = [i for i in injects(drill) if i.objective_id is not None and i.released_at is not None]
    if tested:
        answered_injects = set(db.session.scalars(sa.select(InjectResponse.inject_id).where(
            InjectResponse.inject_id.in_([i.id for i in tested]))))
        answered = {i.objective_id for i in tested if i.id in answered_injects}
    coverage = []
    for focus in drill.focus:
        of_link = [o for o in rows if focus.value in (o.focus or [])]
        coverage.append({"focus": focus.value, "label": focus.label, "planned": bool(of_link),
                         "exercised": any(o.id in rated or o.id in answered for o in of_link)})
    return coverage


# --- evaluation ----------------------------------------------------------------------------------

EVALUATION_FIELDS = ("rating", "observations", "strengths", "improvements")


def evaluations(drill: Drill) -> list[Evaluation]:
    return list(db.session.scalars(
        sa.select(Evaluation).join(Objective, Evaluation.objective_id == Objective.id)
        .where(Objective.drill_id == drill.id).order_by(Objective.position, Evaluation.id)))


def save_evaluation(actor, objective: Objective, data: dict) -> Evaluation:
    """The evaluator's guide for one objective: created with version 0, revised with the version read."""
    drill = db.session.get(Drill, objective.drill_id)
    access.require(access.can_evaluate_exercise(actor, drill), _("Only the drill's evaluators rate its objectives."))
    require_not_filed(drill)
    p = Payload(data)
    values = {"rating": p.choice("rating", Rating, required=True), "observations": _text(p, "observations"),
              "strengths": _text(p, "strengths"), "improvements": _text(p, "improvements")}
    version = p.integer("version", minimum=0, default=0)
    p.check()
    if session_of(drill) is None and drill.status != DrillStatus.COMPLETED:
        raise Conflict(_("Objectives are rated once the exercise has started."))
    evaluation = db.session.scalar(sa.select(Evaluation).where(Evaluation.objective_id == objective.id,
                                                               Evaluation.evaluator_id == actor.id))
    values = {k: ("" if v is MISSING else v) for k, v in values.items()}
    if evaluation is None:
        if version not in (0, None):
            raise Conflict(_stale(_("evaluation")))
        evaluation = Evaluation(objective_id=objective.id, evaluator_id=actor.id, version=1, **values)
        db.session.add(evaluation)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict(_stale(_("evaluation"))) from None
        audit.record(actor, "evaluation.create", "evaluation", evaluation.id, None,
                     audit.snapshot(evaluation, EVALUATION_FIELDS))
    else:
        before = audit.snapshot(evaluation, EVALUATION_FIELDS)
        claim_version(evaluation, version or -1, _stale(_("evaluation")), updated_at=utcnow())
        for name, value in values.items():
            setattr(evaluation, name, value)
        audit.record(actor, "evaluation.update", "evaluation", evaluation.id, before,
                     audit.snapshot(evaluation, EVALUATION_FIELDS))
    db.session.commit()
    return evaluation


def get_evaluation(actor, evaluation_id: int) -> Evaluation:
    evaluation = db.session.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound(_("No such evaluation."))
    get_objective(actor, evaluation.objective_id)
    return evaluation


def evaluation_to_finding(actor, evaluation: Evaluation, data: dict):
    """An evaluator's observation becomes a finding of the drill, with its corrective action, in one step
    (the drill must be completed, as for any finding)."""
    from drillmgr.findings import services as findings

    objective = db.session.get(Objective, evaluation.objective_id)
    drill = db.session.get(Drill, objective.drill_id)
    if evaluation.finding_id is not None:
        raise Conflict(_("This observation is already a finding."))
    data = dict(data)
    data.setdefault("summary", (evaluation.improvements or evaluation.observations or objective.text)[:500])
    finding = findings.add_drill_finding(actor, drill, data)
    evaluation.finding_id = finding.id
    db.session.commit()
    return finding


def evaluation_to_dict(evaluation: Evaluation) -> dict:
    return {"id": evaluation.id, "objective_id": evaluation.objective_id, "evaluator_id": evaluation.evaluator_id,
            "evaluator": evaluation.evaluator.display_name or evaluation.evaluator.username,
            "rating": evaluation.rating.value, "observations": evaluation.observations,
            "strengths": evaluation.strengths, "improvements": evaluation.improvements,
            "finding_id": evaluation.finding_id, "version": evaluation.version}


def overall_rating(ratings: list[Rating]) -> Rating | None:
    """The objective's rating across evaluators: the most frequent, a tie going to the worse."""
    if not ratings:
        return None
    counts = Counter(ratings)
    return max(counts, key=lambda r: (counts[r], RATING_ORDER.index(r)))


# --- feedback --------------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=FEEDBACK_SALT)


def _feedback_open(drill: Drill) -> bool:
    session = session_of(drill)
    return drill.status == DrillStatus.COMPLETED or (session is not None and session.status == SessionStatus.ENDED)


def feedback_tokens(actor, drill: Drill, data: dict) -> list[str]:
    """`count` signed links, one per participant, each good for one answer within FEEDBACK_DAYS. Only after the
    exercise: a link must never tell of a double-blind exercise before it runs."""
    _require_controller(actor, drill)
    p = Payload(data)
    count = p.integer("count", minimum=1, maximum=200, default=1)
    p.check()
    if not _feedback_open(drill):
        raise Conflict(_("Feedback links are issued once the exercise has ended."))
    serializer = _serializer()
    audit.record(actor, "feedback.links", "drill", drill.id, None, {"count": count})
    db.session.commit()
    return [serializer.dumps({"d": drill.id, "r": secrets.token_hex(8)}) for _i in range(count)]


def read_feedback_token(token: str) -> tuple[Drill, str]:
    """The drill and respondent a link names; a bad or expired link is a 404."""
    try:
        payload = _serializer().loads(token[:500], max_age=FEEDBACK_DAYS * 86400)
        drill = db.session.get(Drill, int(payload["d"])) if 0 < int(payload["d"]) < 2**31 else None
        respondent = str(payload["r"])[:64]
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError):
        drill = None
    if drill is None:
        raise NotFound(_("This feedback link is not valid or has expired."))
    return drill, respondent


def feedback_given(drill: Drill, respondent: str) -> bool:
    return db.session.scalar(sa.select(Feedback.id).where(Feedback.drill_id == drill.id,
                                                          Feedback.respondent == respondent)) is not None


def submit_feedback(token: str, data: dict, now: datetime | None = None) -> Feedback:
    drill, respondent = read_feedback_token(token)
    p = Payload(data)
    values = {"overall": p.integer("overall", required=True, minimum=1, maximum=5),
              "realism": p.integer("realism", required=True, minimum=1, maximum=5),
              "strengths": _text(p, "strengths", max_length=2000),
              "improvements": _text(p, "improvements", max_length=2000)}
    p.check()
    if feedback_given(drill, respondent):
        raise Conflict(_("This link has already been used to answer."))
    feedback = Feedback(drill_id=drill.id, respondent=respondent, submitted_at=now or utcnow(),
                        **{k: ("" if v is MISSING else v) for k, v in values.items()})
    db.session.add(feedback)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_("This link has already been used to answer.")) from None
    db.session.commit()
    return feedback


def feedback_summary(drill: Drill) -> dict:
    rows = list(db.session.scalars(sa.select(Feedback).where(Feedback.drill_id == drill.id).order_by(Feedback.id)))

    def mean(values):
        return round(statistics.fmean(values), 1) if values else None

    return {"count": len(rows), "overall_mean": mean([r.overall for r in rows]),
            "realism_mean": mean([r.realism for r in rows]),
            "strengths": [r.strengths for r in rows if r.strengths],
            "improvements": [r.improvements for r in rows if r.improvements]}


# --- the after-action report -----------------------------------------------------------------------

@dataclass
class ObjectiveResult:
    objective: Objective
    evaluations: list[Evaluation]
    rating: Rating | None
    injects: list[Inject] = field(default_factory=list)

    @property
    def focus_labels(self) -> str:
        return "、".join(str(Focus(f).label) for f in self.objective.focus or [])


@dataclass
class InjectResult:
    inject: Inject
    responses: int
    first_seconds: int | None
    median_seconds: int | None


@dataclass
class AfterAction:
    drill: Drill
    session: ExerciseSession | None
    objectives: list[ObjectiveResult]
    timeline: list[InjectResult]
    feedback: dict
    findings: list
    improvement_plan: list[dict]


def after_action(actor, drill: Drill) -> AfterAction:
    from drillmgr.findings import services as findings

    access.require(access.can_see_exercise_design(actor, drill), _("Only the drill's organisers and evaluators "
                                                                      "read its exercise report."))
    all_injects = injects(drill)
    by_objective: dict[int, list[Evaluation]] = {}
    for evaluation in evaluations(drill):
        by_objective.setdefault(evaluation.objective_id, []).append(evaluation)
    results = [ObjectiveResult(o, by_objective.get(o.id, []),
                               overall_rating([e.rating for e in by_objective.get(o.id, [])]),
                               [i for i in all_injects if i.objective_id == o.id]) for o in objectives(drill)]
    seconds: dict[int, list[int]] = {}
    if all_injects:
        for inject_id, taken in db.session.execute(sa.select(InjectResponse.inject_id, InjectResponse.seconds_taken)
                                                   .where(InjectResponse.inject_id.in_([i.id for i in all_injects]))):
            seconds.setdefault(inject_id, []).append(taken)
    timeline = [InjectResult(i, len(seconds.get(i.id, [])), min(seconds[i.id]) if seconds.get(i.id) else None,
                             int(statistics.median(seconds[i.id])) if seconds.get(i.id) else None)
                for i in all_injects if i.released_at is not None]
    timeline.sort(key=lambda r: r.inject.released_at)
    drill_findings = findings.drill_findings(drill)
    finding_by_id = {f.id: f for f in drill_findings}
    plan = []
    for result in results:
        linked = [finding_by_id[e.finding_id] for e in result.evaluations if e.finding_id in finding_by_id]
        action = linked[0].corrective_action if linked else None
        plan.append({
            "objective": result.objective.text, "capability": result.focus_labels,
            "rating": result.rating.value if result.rating else "",
            "strengths": "；".join(e.strengths for e in result.evaluations if e.strengths),
            "improvements": "；".join(e.improvements for e in result.evaluations if e.improvements),
            "corrective_action": action.description if action else "",
            "owner": (action.owner.display_name or action.owner.username) if action else "",
            "due_on": action.due_on.isoformat() if action else "",
        })
    return AfterAction(drill, session_of(drill), results, timeline, feedback_summary(drill), drill_findings, plan)


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return _("%(m)d min %(s)d s", m=seconds // 60, s=seconds % 60)


def review_draft(report: AfterAction) -> dict:
    """The review's texts drafted from the exercise, in the current language; the organiser edits them."""
    lines = []
    if report.session is not None:
        lines.append(_("The exercise ran for %(t)s; %(n)d injects were released, %(u)d of them unplanned.",
                       t=_minutes(elapsed_seconds(report.session)), n=len(report.timeline),
                       u=sum(1 for r in report.timeline if r.inject.unplanned)))
    for row in report.timeline:
        lines.append(_("Inject %(no)d (%(sender)s → %(recipient)s): %(answers)d answers, first after %(first)s, "
                       "median %(median)s.", no=row.inject.number, sender=row.inject.sender or "—",
                       recipient=row.inject.recipient or "—", answers=row.responses,
                       first=_minutes(row.first_seconds), median=_minutes(row.median_seconds)))
    ratings = []
    observations = []
    for result in report.objectives:
        label = result.rating.label if result.rating else _("not rated")
        ratings.append(_("Objective %(no)d “%(text)s” (%(focus)s): %(rating)s.", no=result.objective.position,
                         text=result.objective.text, focus=result.focus_labels, rating=label))
        observations.extend(e.observations for e in result.evaluations if e.observations)
    feedback = report.feedback
    if feedback["count"]:
        ratings.append(_("Participant feedback: %(n)d answers, overall %(o)s / 5, realism %(r)s / 5.",
                         n=feedback["count"], o=feedback["overall_mean"], r=feedback["realism_mean"]))
    strengths = [e.strengths for r in report.objectives for e in r.evaluations if e.strengths] + feedback["strengths"]
    improvements = [e.improvements for r in report.objectives for e in r.evaluations if e.improvements] + \
        feedback["improvements"]
    return {"execution": "\n".join(lines + ratings), "command_coordination": "\n".join(observations),
            "went_well": "\n".join(strengths), "recommendations": "\n".join(improvements)}


def fill_review(actor, drill: Drill) -> dict:
    """Writes the draft into the drill's after-action review, only into fields still empty (what the organiser
    wrote stays), through the findings feature's own rules (completed drill, revisable review)."""
    from drillmgr.findings import services as findings

    draft = review_draft(after_action(actor, drill))
    review = findings.review_of(drill)
    data = {name: text for name, text in draft.items() if text and not (getattr(review, name, "") or "").strip()}
    data["version"] = review.version if review is not None else 0
    findings.save_review(actor, drill, data)
    return draft


def report_docx(report: AfterAction) -> bytes:
    """The report a county files, as a Word document: summary, objectives and ratings, the inject timeline,
    feedback, findings and the HSEEP-style AAR/IP table."""
    from docx import Document
    from docx.oxml.ns import qn

    from drillmgr.formatting import local_datetime

    document = Document()
    style = document.styles["Normal"]
    style.font.name = "SimSun"
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "SimSun")
    drill = report.drill
    document.add_heading(_("After-action report (演练评估报告)") + f" · {drill.title}", level=1)
    document.add_paragraph(f"{drill.form.label} · {drill.organizer_name} · {local_datetime(drill.starts_at)}")
    draft = review_draft(report)
    document.add_heading(_("How the exercise went"), level=2)
    for line in draft["execution"].splitlines():
        document.add_paragraph(line)

    def table(headers, rows):
        grid = document.add_table(rows=1, cols=len(headers))
        grid.style = "Table Grid"
        for cell, text in zip(grid.rows[0].cells, headers, strict=True):
            cell.text = str(text)
        for row in rows:
            for cell, text in zip(grid.add_row().cells, row, strict=True):
                cell.text = "" if text is None else str(text)

    document.add_heading(_("Inject timeline"), level=2)
    table([_("No."), _("Released"), _("Sent by"), _("Sent to"), _("Message"), _("Answers"), _("First answer"),
           _("Median")],
          [(r.inject.number, local_datetime(r.inject.released_at, "HH:mm:ss"), r.inject.sender, r.inject.recipient,
            r.inject.message, r.responses, _minutes(r.first_seconds), _minutes(r.median_seconds))
           for r in report.timeline])
    document.add_heading(_("Improvement plan (AAR/IP)"), level=2)
    table([_("Objective"), _("Capability"), _("Rating"), _("Strengths"), _("Areas for improvement"),
           _("Corrective action"), _("Owner"), _("Due")],
          [(row["objective"], row["capability"], row["rating"], row["strengths"], row["improvements"],
            row["corrective_action"], row["owner"], row["due_on"]) for row in report.improvement_plan])
    if report.findings:
        document.add_heading(_("Findings"), level=2)
        for finding in report.findings:
            document.add_paragraph(f"{finding.summary}（{finding.severity.label}）", style="List Bullet")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
