"""Items answered "no" turned into corrective actions: the shortcoming drafted from the item's text, the due
date, and the finding made through the findings feature's own rules."""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments.models import Attachment
from drillmgr.audit import services as audit
from drillmgr.checklists.models import ChecklistRun
from drillmgr.checklists.runs import RunLine, require_fill, run_lines
from drillmgr.db import lock
from drillmgr.drills.models import Drill
from drillmgr.enums import Answer, Severity
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.findings.actions import create_finding, owner_choices
from drillmgr.findings.models import Finding
from drillmgr.localtime import local_today, local_zone

ACTION_DAYS = 30


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
_NEGATIONS = (
    ("在有效期内", "已过有效期"),
    ("已", "未"),
    ("未", ""),
    ("无", "有"),
    ("为", "不是"),
    ("可", "不可"),
    ("畅通", "不畅通"),
    ("一致", "不一致"),
    ("齐全", "不齐全"),
    ("完好", "不完好"),
    ("满足", "不满足"),
    ("充足", "不足"),
    ("有效", "无效"),
    ("到位", "不到位"),
)


def _negate_clause(clause: str) -> str:
    found = [(clause.find(marker), marker, negation) for marker, negation in _NEGATIONS if marker in clause]
    if not found:
        return "未" + clause
    position, marker, negation = min(found, key=lambda f: f[0])
    return clause[:position] + negation + clause[position + len(marker) :]


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
    owners: list[User]


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


def _source_finding(run: ChecklistRun) -> Finding:
    return Finding(drill_id=run.drill_id, checklist_run_id=run.id, region_code=run.region_code, org_id=run.org_id)


def action_draft(actor: User, run: ChecklistRun, item_id: int, today: date | None = None) -> ActionDraft:
    require_fill(actor, run)
    line = _no_line(run, item_id)
    assert line.answer is not None  # answered “no”
    return ActionDraft(
        line=line,
        summary=shortcoming(line.item.text),
        description=(line.answer.note or "").strip(),
        due_on=action_due_on(run, today),
        owners=owner_choices(_source_finding(run)),
    )


def make_corrective_action(
    actor: User, run: ChecklistRun, item_id: int, data: object = None, today: date | None = None
) -> Finding:
    """A "no" answer becomes a finding with its corrective action, followed and closed out like a
    drill's findings. `data` is a finding's input (summary, severity, category, corrective_action
    {description, owner, due_on}); category and owner must be given, the rest defaults to the
    draft. The answer's photo becomes the action's first evidence."""
    require_fill(actor, run)
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
    finding = create_finding(
        actor,
        data,
        region_code=run.region_code,
        org_id=run.org_id,
        drill_id=run.drill_id,
        checklist_run_id=run.id,
        found_on=today,
        today=today,
    )
    line.answer.finding_id = finding.id
    if line.answer.photo_id is not None:
        photo = db.session.get(Attachment, line.answer.photo_id)
        assert photo is not None  # photo_id is a foreign key
        photo.corrective_action_id = finding.corrective_action.id
    audit.record(
        actor, "checklist.run.action", "checklist_run", run.id, None, {"item_id": item_id, "finding_id": finding.id}
    )
    return finding
