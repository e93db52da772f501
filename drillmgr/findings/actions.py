"""Findings and their corrective actions (整改措施), followed until someone other than the owner verifies
them (动态销号)."""

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.db import lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import ActionStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.findings.notices import tell_assigned, tell_step
from drillmgr.findings.reviews import require_completed
from drillmgr.findings.schemas import FindingSchema
from drillmgr.localtime import local_today, to_local

FINDING_FIELDS = ("summary", "severity", "category", "found_on")
ACTION_FIELDS = ("description", "owner_id", "due_on", "status")
ACTION_PREFIX = "corrective_action."

# Allowed status changes: who may make them, and what the audit log calls them.
OWNER, VERIFIER = "owner", "verifier"
TRANSITIONS = {
    (ActionStatus.OPEN, ActionStatus.IN_PROGRESS): (OWNER, "action.start"),
    (ActionStatus.IN_PROGRESS, ActionStatus.DONE): (OWNER, "action.done"),
    (ActionStatus.DONE, ActionStatus.VERIFIED): (VERIFIER, "action.verify"),
    (ActionStatus.DONE, ActionStatus.IN_PROGRESS): (VERIFIER, "action.send_back"),
}


def _read_finding(data: object, partial: bool) -> tuple[Reading, dict[str, Any], dict[str, Any]]:
    """The finding's values and its corrective action's (without the key `corrective_action`)."""
    reading = FindingSchema().read(data, partial=partial)
    values = dict(reading.values)
    return reading, values, dict(values.pop("corrective_action", None) or {})


def owner_choices(finding: Finding) -> list[User]:
    """The users who may own this finding's corrective action (for the owner pick list)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(access.finding_owner_clause(finding))
            .order_by(User.role, User.display_name, User.username)
        )
    )


def _check_owner(p: Reading, finding: Finding, owner_id: int) -> None:
    allowed = db.session.scalar(sa.select(User.id).where(User.id == owner_id, access.finding_owner_clause(finding)))
    if allowed is None:
        p.error(
            ACTION_PREFIX + "owner",
            _(
                "This user cannot own the corrective action: choose staff of the "
                "units concerned, an evaluator, or a coordinator of the region."
            ),
        )


def _check_dates(p: Reading, found_on: date | None, due_on: date | None, created_on: date | None = None) -> None:
    """`created_on`: when the action was (or is being) created, if its due date is being set: an action is
    never due before it existed."""
    if found_on is not None and found_on > local_today():
        p.error("found_on", _("A finding cannot be dated in the future."))
    if found_on is not None and due_on is not None and due_on < found_on:
        p.error(
            ACTION_PREFIX + "due_on",
            _("The due date cannot be before the finding's date (%(date)s).", date=found_on.isoformat()),
        )
    elif created_on is not None and due_on is not None and due_on < created_on:
        p.error(
            ACTION_PREFIX + "due_on",
            _("A corrective action cannot be due before it was created (%(date)s).", date=created_on.isoformat()),
        )


def _finding_snapshot(finding: Finding) -> dict[str, Any]:
    return audit.snapshot(finding, FINDING_FIELDS) | audit.snapshot(finding.corrective_action, ACTION_FIELDS)


def _require_drill_not_filed(drill_id: int) -> None:
    drill = db.session.get(Drill, drill_id)
    assert drill is not None  # the callers pass a drill's id, or a foreign key to one
    require_not_filed(drill)


def create_finding(
    actor: User,
    data: dict[str, Any],
    *,
    region_code: str,
    org_id: int | None = None,
    drill_id: int | None = None,
    checklist_run_id: int | None = None,
    found_on: date | None = None,
    today: date | None = None,
) -> Finding:
    """Records a finding from a drill or a checklist run, with its corrective action (status open).

    The caller has already checked that `actor` may record findings for this source; the scope
    values (region, organisation) come from the source, never from the input."""
    if drill_id is not None:
        _require_drill_not_filed(drill_id)
    p, values, action_values = _read_finding(data, partial=False)
    values.pop("version", None)
    finding = Finding(
        drill_id=drill_id,
        checklist_run_id=checklist_run_id,
        region_code=region_code,
        org_id=org_id,
        created_by_id=actor.id,
        version=1,
    )
    finding.found_on = values.pop("found_on", None) or found_on or local_today()
    if action_values.get("status", ActionStatus.OPEN) != ActionStatus.OPEN:
        p.error(
            ACTION_PREFIX + "status",
            _("A new corrective action starts as “%(status)s”.", status=ActionStatus.OPEN.label),
        )
    if "owner_id" in action_values:
        _check_owner(p, finding, action_values["owner_id"])
    _check_dates(p, finding.found_on, action_values.get("due_on"), today or local_today())
    p.check()
    for name, value in values.items():
        setattr(finding, name, value)
    finding.corrective_action = CorrectiveAction(
        description=action_values["description"],
        owner_id=action_values["owner_id"],
        due_on=action_values["due_on"],
        status=ActionStatus.OPEN,
    )
    db.session.add(finding)
    db.session.flush()
    audit.record(actor, "finding.create", "finding", finding.id, None, _finding_snapshot(finding))
    tell_assigned(actor, finding)
    return finding


def add_drill_finding(actor: User, drill: Drill, data: dict[str, Any]) -> Finding:
    access.require(access.can_edit_drill(actor, drill), _("Only the drill's organiser can record its findings."))
    require_completed(drill)
    return create_finding(
        actor,
        data,
        region_code=drill.region_code,
        org_id=drill.organizer_org_id,
        drill_id=drill.id,
        found_on=min(to_local(drill.ends_at).date(), local_today()),
    )


def next_statuses(status: ActionStatus) -> list[ActionStatus]:
    return [to for (frm, to) in TRANSITIONS if frm == status]


def _transition(
    actor: User, finding: Finding, to: ActionStatus, reason: str
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    action = finding.corrective_action
    step = TRANSITIONS.get((action.status, to))
    if step is None:
        allowed = "、".join(f"“{s.label}”" for s in next_statuses(action.status)) or _("none")
        raise Conflict(
            _(
                "A corrective action cannot go from “%(frm)s” to “%(to)s”. Possible next steps: %(next)s.",
                frm=action.status.label,
                to=to.label,
                next=allowed,
            )
        )
    who, name = step
    if who == OWNER:
        access.require(
            access.can_work_on_action(actor, action),
            _("Only the owner of this corrective action can move it to “%(to)s”.", to=to.label),
        )
    else:
        if actor.id == action.owner_id:
            access.deny(_("The owner cannot check their own corrective action; someone else must (dynamic close-out)."))
        access.require(
            access.can_verify_action(actor, action),
            _("Only the drill's organiser or a coordinator of its region can check corrective actions."),
        )
    if name == "action.send_back" and not reason:
        raise ValidationError(
            _("The input is not valid."),
            {ACTION_PREFIX + "reason": [_("Say what is still missing when sending an action back.")]},
        )
    before = {"status": action.status}
    action.status = to
    now = utcnow()
    if to == ActionStatus.DONE:
        action.done_at = now
    elif to == ActionStatus.VERIFIED:
        action.verified_at, action.verified_by_id = now, actor.id
    elif name == "action.send_back":
        action.done_at = None
    return name, before, {"status": to, "reason": reason} if reason else {"status": to}


def update_finding(actor: User, finding: Finding, data: dict[str, Any]) -> Finding:
    """Changes a finding and its action (managers) and/or moves the action's status (owner/verifier)."""
    p, values, action_values = _read_finding(data, partial=True)
    version = values.pop("version", None)
    target = action_values.pop("status", None)
    reason = action_values.pop("reason", "")
    # Lock the row, then read it afresh: concurrent steps are checked one after the other (PostgreSQL).
    lock(finding)
    db.session.refresh(finding.corrective_action)
    action = finding.corrective_action
    if version is not None and version != finding.version:
        raise Conflict(_("Someone else changed this finding meanwhile. Reload the page and apply your change again."))
    edits = {k: v for k, v in values.items() if getattr(finding, k) != v}
    action_edits = {k: v for k, v in action_values.items() if getattr(action, k) != v}
    moves = target is not None and target != action.status
    if action.status == ActionStatus.VERIFIED and (edits or action_edits or moves):
        raise Conflict(_("This corrective action is verified and closed; it cannot be changed."))
    if edits or action_edits:
        access.require(
            access.can_manage_finding(actor, finding),
            _("Only the drill's organiser or a coordinator of its region can change this finding."),
        )
    if "owner_id" in action_edits:
        _check_owner(p, finding, action_edits["owner_id"])
    _check_dates(
        p,
        edits.get("found_on", finding.found_on),
        action_edits.get("due_on", action.due_on),
        to_local(finding.created_at).date() if "due_on" in action_edits else None,
    )
    p.check()
    if finding.drill_id is not None and (edits or "description" in action_edits):
        _require_drill_not_filed(finding.drill_id)
    before = _finding_snapshot(finding)
    step = _transition(actor, finding, target, reason) if moves else None
    if edits or action_edits:
        for name, value in edits.items():
            setattr(finding, name, value)
        for name, value in action_edits.items():
            setattr(action, name, value)
        audit.record(actor, "finding.update", "finding", finding.id, before, _finding_snapshot(finding))
    if step is not None:
        audit.record(actor, step[0], "corrective_action", action.id, step[1], step[2])
    if edits or action_edits or step is not None:
        finding.version += 1
        if "owner_id" in action_edits:
            tell_assigned(actor, finding)
        if step is not None:
            tell_step(actor, finding, step[0], reason)
    return finding


def drill_findings(drill: Drill) -> list[Finding]:
    return list(
        db.session.scalars(
            sa.select(Finding)
            .where(Finding.drill_id == drill.id)
            .options(
                joinedload(Finding.corrective_action).joinedload(CorrectiveAction.owner),
                joinedload(Finding.corrective_action).joinedload(CorrectiveAction.verified_by),
            )
            .order_by(Finding.found_on, Finding.id)
        ).unique()
    )
