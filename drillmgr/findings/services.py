"""After-action reviews (总结评估) and their filing (备案); findings and their corrective actions
(整改措施), followed until someone other than the owner verifies them (动态销号)."""
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload, lazyload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments import services as attachments
from drillmgr.attachments.models import Attachment
from drillmgr.audit import services as audit
from drillmgr.audit.models import AuditEntry
from drillmgr.db import lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import is_filed, require_not_filed
from drillmgr.enums import ActionStatus, DrillStatus, FilingStatus, FindingCategory, Role, Severity
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.formatting import local_date
from drillmgr.localtime import api_datetime, local_today, to_local
from drillmgr.notifications import services as notifications
from drillmgr.validation import MISSING, Payload, reason_text

MAX_TEXT = 10_000
REVIEW_TEXT_FIELDS = ("execution", "plan_soundness", "command_coordination", "staff_handling",
                      "equipment_fitness", "recommendations", "went_well")
REVIEW_FIELDS = REVIEW_TEXT_FIELDS + ("plan_revision_needed",)
FILING_FIELDS = ("filing_status", "return_reason")
REVISABLE = (FilingStatus.DRAFT, FilingStatus.RETURNED, FilingStatus.REOPENED)
FINDING_FIELDS = ("summary", "severity", "category", "found_on")
ACTION_FIELDS = ("description", "owner_id", "due_on", "status")
ACTION_PREFIX = "corrective_action."


# --- after-action review ---------------------------------------------------------------------

def review_of(drill: Drill, for_update: bool = False) -> Review | None:
    """`for_update` locks the row (PostgreSQL), so that two concurrent steps are checked one after
    the other against the same state."""
    review = db.session.get(Review, drill.id)
    if review is not None and for_update:
        lock(review)
    return review


def _require_completed(drill: Drill) -> None:
    if drill.status != DrillStatus.COMPLETED:
        raise Conflict(_("The drill is %(status)s: reviews and findings are recorded once it is completed.",
                         status=drill.status.label))


def _read_version(p: Payload):
    return p.integer("version", minimum=0)


def _check_review_version(review: Review | None, version) -> None:
    current = review.version if review is not None else 0
    if version is not MISSING and version != current:
        raise Conflict(_("Someone else changed this review meanwhile. Reload the page and apply your change again."))


def save_review(actor: User, drill: Drill, data: dict) -> Review:
    """Creates or revises the review; fields left out keep their value. `version` 0 means "new"."""
    access.require(access.can_edit_drill(actor, drill),
                   _("Only the drill's organiser can write its after-action review."))
    _require_completed(drill)
    p = Payload(data, partial=True)
    values = {name: p.string(name, max_length=MAX_TEXT) for name in REVIEW_TEXT_FIELDS}
    values["plan_revision_needed"] = p.boolean("plan_revision_needed")
    version = _read_version(p)
    p.check()
    review = review_of(drill, for_update=True)
    _check_review_version(review, version)
    if review is not None and review.filing_status == FilingStatus.ACCEPTED:
        require_not_filed(drill)
    if review is not None and review.filing_status not in REVISABLE:
        raise Conflict(_("The review is “%(status)s” and cannot be changed now; it can be revised once it is "
                         "returned.", status=review.filing_status.label))
    before = audit.snapshot(review, REVIEW_FIELDS) if review is not None else None
    if review is None:
        review = Review(drill_id=drill.id, filing_status=FilingStatus.DRAFT, version=1, return_reason="",
                        plan_revision_needed=False, **{name: "" for name in REVIEW_TEXT_FIELDS})
        db.session.add(review)
    else:
        review.version += 1
    for name, value in values.items():
        if value is not MISSING:
            setattr(review, name, value)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # two first saves at once: the primary key let one through
        raise Conflict(
            _("Someone else changed this review meanwhile. Reload the page and apply your change again.")) from None
    audit.record(actor, "review.save", "review", drill.id, before, audit.snapshot(review, REVIEW_FIELDS))
    db.session.commit()
    return review


def _filing_step(actor: User, review: Review, action: str, to: FilingStatus, reason: str = "") -> Review:
    before = audit.snapshot(review, FILING_FIELDS)
    review.filing_status = to
    review.version += 1
    now = utcnow()
    if to == FilingStatus.SUBMITTED:
        review.submitted_at, review.submitted_by_id = now, actor.id
        review.decided_at, review.decided_by_id = None, None
        review.return_reason = ""
    elif to == FilingStatus.REOPENED:
        review.decided_at, review.decided_by_id = None, None
        review.return_reason = reason
    else:
        review.decided_at, review.decided_by_id = now, actor.id
        review.return_reason = reason
    audit.record(actor, action, "review", review.drill_id, before, audit.snapshot(review, FILING_FIELDS))
    _tell_filing(actor, review, action)
    db.session.commit()
    return review


def _existing_review(drill: Drill, p: Payload) -> Review:
    version = _read_version(p)
    p.check()
    review = review_of(drill, for_update=True)
    if review is None:
        raise Conflict(_("This drill has no after-action review yet."))
    _check_review_version(review, version)
    return review


def submit_review(actor: User, drill: Drill, data: dict | None = None) -> Review:
    access.require(access.can_edit_drill(actor, drill),
                   _("Only the drill's organiser can submit its review for filing."))
    _require_completed(drill)
    review = _existing_review(drill, Payload(data or {}))
    if review.filing_status not in REVISABLE:
        raise Conflict(_("The review is “%(status)s”: only a draft or a returned review can be submitted.",
                         status=review.filing_status.label))
    if not review.execution.strip():
        raise ValidationError(_("The review is not complete."),
                              {"execution": [_("Describe how the drill was carried out before submitting.")]})
    return _filing_step(actor, review, "review.submit", FilingStatus.SUBMITTED)


def _require_decider(actor: User, drill: Drill) -> None:
    access.require(access.can_decide_filing(actor, drill),
                   _("Only a coordinator of the drill's region can decide on filing its review."))


def accept_review(actor: User, drill: Drill, data: dict | None = None) -> Review:
    _require_decider(actor, drill)
    review = _existing_review(drill, Payload(data or {}))
    if review.filing_status != FilingStatus.SUBMITTED:
        raise Conflict(_("The review is “%(status)s”: only a submitted review can be accepted.",
                         status=review.filing_status.label))
    return _filing_step(actor, review, "review.accept", FilingStatus.ACCEPTED)


def return_review(actor: User, drill: Drill, data: dict) -> Review:
    _require_decider(actor, drill)
    p = Payload(data)
    reason = p.string("reason", required=True, max_length=2000)
    review = _existing_review(drill, p)
    if review.filing_status != FilingStatus.SUBMITTED:
        raise Conflict(_("The review is “%(status)s”: only a submitted review can be returned.",
                         status=review.filing_status.label))
    return _filing_step(actor, review, "review.return", FilingStatus.RETURNED, reason)


def reopen_review(actor: User, drill: Drill, data: dict) -> Review:
    """A coordinator of the region reopens a filed review, with a reason: the drill's record can change again,
    the review goes back to the organiser, and it must be submitted and accepted anew."""
    access.require(access.can_reopen_filing(actor, drill),
                   _("Only a coordinator of the drill's region can reopen a filed review."))
    p = Payload(data)
    reason = reason_text(p, "reason", required=True)
    review = _existing_review(drill, p)
    if review.filing_status != FilingStatus.ACCEPTED:
        raise Conflict(_("The review is “%(status)s”: only a filed review can be reopened.",
                         status=review.filing_status.label))
    return _filing_step(actor, review, "review.reopen", FilingStatus.REOPENED, reason)


def filing_history(drill: Drill) -> list[AuditEntry]:
    """The filing steps (submitted, accepted, returned, reopened) of the drill's review, oldest first."""
    return list(db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.entity_type == "review", AuditEntry.entity_id == str(drill.id),
                                    AuditEntry.action != "review.save")
        .order_by(AuditEntry.at, AuditEntry.id)))


def review_to_dict(drill: Drill, review: Review | None, findings: list[Finding], today: date,
                   history: Sequence[AuditEntry] = ()) -> dict:
    """The review as the API shows it; a drill without one shows an empty draft at version 0."""
    data: dict = {"drill_id": drill.id}
    if review is None:
        data.update({name: "" for name in REVIEW_TEXT_FIELDS})
        data.update(plan_revision_needed=False, filing_status=FilingStatus.DRAFT.value, submitted_at=None,
                    submitted_by=None, decided_at=None, decided_by=None, return_reason="",
                    version=0)
    else:
        data.update(audit.snapshot(review, REVIEW_FIELDS))
        data.update(filing_status=review.filing_status.value, return_reason=review.return_reason,
                    submitted_at=api_datetime(review.submitted_at), decided_at=api_datetime(review.decided_at),
                    submitted_by=review.submitted_by_id, decided_by=review.decided_by_id, version=review.version)
    data["findings"] = [finding_to_dict(f, today) for f in findings]
    data["history"] = [{"at": api_datetime(e.at), "step": e.action.removeprefix("review."), "by": e.user_id,
                        "reason": audit_reason(e)} for e in history]
    return data


# --- telling people -------------------------------------------------------------------------
# Each step that hands work to someone else notifies them (in-app, and by mail when they have an
# address), in the same transaction as the step, in the recipient's language.

class Kind:
    REVIEW_SUBMITTED = "review_submitted"
    REVIEW_DECIDED = "review_decided"
    REVIEW_REOPENED = "review_reopened"
    ACTION_ASSIGNED = "action_assigned"
    ACTION_DONE = "action_done"
    ACTION_SENT_BACK = "action_sent_back"


def _tell(users, kind: str, key: str, link: str, subject, body, finding: Finding | None = None) -> None:
    """`subject` and `body` are callables, so that they are translated for each recipient. About a
    finding, only those who may see it are told (never an outsider of a secret drill)."""
    messages = []
    for user in {u.id: u for u in users if u is not None}.values():
        if finding is not None and not access.can_view_finding(user, finding):
            continue
        with force_locale(user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            messages.append(notifications.Message(user, kind, subject(), body(), link, f"{key}:{user.id}"))
    notifications.notify_many(messages)


def drill_link(drill: Drill) -> str:
    return notifications.link_to("drills.detail", drill_id=drill.id) or \
        notifications.link_to("findings.drill", drill_id=drill.id)


def _finding_link(finding: Finding) -> str:
    if finding.drill_id is not None:
        drill = finding.drill or db.session.get(Drill, finding.drill_id)
        assert drill is not None  # drill_id is a foreign key
        return drill_link(drill)
    return notifications.link_to("findings.finding", finding_id=finding.id)


def _region_coordinators(region_code: str) -> list[User]:
    """Active coordinators whose region contains this one: those who decide on filing."""
    return list(db.session.scalars(sa.select(User).where(
        User.role == Role.COORDINATOR, access.action_owner_clause(region_code, ()))))


def _involved(drill: Drill, review: Review) -> list[User]:
    """Everyone a reopened filing concerns: the organising unit's staff (or the organising region's
    coordinators), whoever submitted and accepted it, the evaluators, and the region's coordinators."""
    users: list[User | None] = [*_region_coordinators(drill.region_code), *drill.evaluators]
    if drill.organizer_org_id is not None:
        users += db.session.scalars(sa.select(User).where(User.org_id == drill.organizer_org_id,
                                                          User.role == Role.ORG_STAFF, User.active.is_(True)))
    elif drill.organizer_region_code:
        users += _region_coordinators(drill.organizer_region_code)
    step_users = db.session.scalars(sa.select(AuditEntry.user_id).where(
        AuditEntry.entity_type == "review", AuditEntry.entity_id == str(review.drill_id),
        AuditEntry.action.in_(("review.submit", "review.accept")), AuditEntry.user_id.is_not(None)))
    users += [db.session.get(User, user_id) for user_id in set(step_users)]
    return [u for u in users if u is not None and u.active]


def _tell_filing(actor: User, review: Review, action: str) -> None:
    drill = review.drill or db.session.get(Drill, review.drill_id)
    assert drill is not None  # drill_id is a foreign key
    key = f"{action}:{drill.id}:{review.version}"
    if action == "review.submit":
        recipients = [u for u in _region_coordinators(drill.region_code) if u.id != actor.id]
        _tell(recipients, Kind.REVIEW_SUBMITTED, key, drill_link(drill),
              lambda: _("After-action review submitted for filing: %(title)s", title=drill.title),
              lambda: _("%(who)s submitted the after-action review of %(title)s. Accept it or return it with "
                        "a reason.", who=actor.display_name or actor.username, title=drill.title))
        return
    if action == "review.reopen":
        _tell([u for u in _involved(drill, review) if u.id != actor.id], Kind.REVIEW_REOPENED, key,
              drill_link(drill),
              lambda: _("Filing reopened: %(title)s", title=drill.title),
              lambda: _("%(who)s reopened the filed after-action review of %(title)s, so that its record can be "
                        "corrected; it must be submitted and accepted again. Reason: %(reason)s",
                        who=actor.display_name or actor.username, title=drill.title, reason=review.return_reason))
        return
    submitter = review.submitted_by
    if submitter is None or submitter.id == actor.id:
        return
    if action == "review.accept":
        _tell([submitter], Kind.REVIEW_DECIDED, key, drill_link(drill),
              lambda: _("After-action review filed: %(title)s", title=drill.title),
              lambda: _("The after-action review of %(title)s was accepted and filed.", title=drill.title))
    else:
        _tell([submitter], Kind.REVIEW_DECIDED, key, drill_link(drill),
              lambda: _("After-action review returned: %(title)s", title=drill.title),
              lambda: _("The after-action review of %(title)s was returned for revision. Reason: %(reason)s",
                        title=drill.title, reason=review.return_reason))


def _action_details(finding: Finding) -> str:
    action = finding.corrective_action
    return "\n".join([_("Finding: %(summary)s", summary=finding.summary),
                      _("Corrective action: %(text)s", text=action.description),
                      _("Due on %(date)s", date=local_date(action.due_on))])


def _tell_assigned(actor: User, finding: Finding) -> None:
    owner = db.session.get(User, finding.corrective_action.owner_id)
    assert owner is not None  # owner_id is a foreign key
    if owner.id == actor.id:
        return
    _tell([owner], Kind.ACTION_ASSIGNED, f"action.assign:{finding.id}:{finding.version}", _finding_link(finding),
          lambda: _("A corrective action is yours: %(summary)s", summary=finding.summary),
          lambda: _action_details(finding), finding)


def _tell_step(actor: User, finding: Finding, step: str, reason: str) -> None:
    key = f"{step}:{finding.id}:{finding.version}"
    if step == "action.done":
        checker = db.session.get(User, finding.created_by_id) if finding.created_by_id else None
        if checker is not None and checker.id != actor.id:
            files = len(attachments.evidence_of([finding.corrective_action.id]).get(finding.corrective_action.id, []))
            _tell([checker], Kind.ACTION_DONE, key, _finding_link(finding),
                  lambda: _("Corrective action awaiting verification: %(summary)s", summary=finding.summary),
                  lambda: _action_details(finding) + "\n" + _("Evidence: %(n)d files", n=files), finding)
    elif step == "action.send_back":
        _tell([finding.corrective_action.owner], Kind.ACTION_SENT_BACK, key, _finding_link(finding),
              lambda: _("Corrective action sent back: %(summary)s", summary=finding.summary),
              lambda: _("What is still missing: %(reason)s", reason=reason) + "\n" + _action_details(finding),
              finding)


# --- findings --------------------------------------------------------------------------------

def _read_finding(data: dict, partial: bool) -> tuple[Payload, dict, dict]:
    p = Payload(data, partial=partial)
    values = {
        "summary": p.string("summary", required=True, max_length=500),
        "severity": p.choice("severity", Severity, required=True),
        "category": p.choice("category", FindingCategory, required=True),
        "found_on": p.date("found_on"),
        "version": _read_version(p),
    }
    action_values: dict = {}
    raw_action = data.get("corrective_action")
    if raw_action is None:
        if not partial:
            p.error("corrective_action", _("This field is required."))
    elif not isinstance(raw_action, dict):
        p.error("corrective_action", _("Must be an object with description, owner and due_on."))
    else:
        a = Payload(raw_action, partial=partial)
        action_values = {
            "description": a.string("description", required=True, max_length=MAX_TEXT),
            "owner_id": a.integer("owner", required=True, minimum=1),
            "due_on": a.date("due_on", required=True),
            "status": a.choice("status", ActionStatus),
            "reason": a.string("reason", max_length=2000),
        }
        for name, messages in a.errors.items():
            p.errors.setdefault(ACTION_PREFIX + name, []).extend(messages)
    return (p, {k: v for k, v in values.items() if v is not MISSING},
            {k: v for k, v in action_values.items() if v is not MISSING})


def owner_choices(finding: Finding) -> list[User]:
    """The users who may own this finding's corrective action (for the owner pick list)."""
    return list(db.session.scalars(
        sa.select(User).where(access.finding_owner_clause(finding))
        .order_by(User.role, User.display_name, User.username)))


def _check_owner(p: Payload, finding: Finding, owner_id: int) -> None:
    allowed = db.session.scalar(sa.select(User.id).where(User.id == owner_id, access.finding_owner_clause(finding)))
    if allowed is None:
        p.error(ACTION_PREFIX + "owner", _("This user cannot own the corrective action: choose staff of the "
                                           "units concerned, an evaluator, or a coordinator of the region."))


def _check_dates(p: Payload, found_on: date | None, due_on: date | None, created_on: date | None = None) -> None:
    """`created_on`: when the action was (or is being) created, if its due date is being set: an action is
    never due before it existed."""
    if found_on is not None and found_on > local_today():
        p.error("found_on", _("A finding cannot be dated in the future."))
    if found_on is not None and due_on is not None and due_on < found_on:
        p.error(ACTION_PREFIX + "due_on", _("The due date cannot be before the finding's date (%(date)s).",
                                            date=found_on.isoformat()))
    elif created_on is not None and due_on is not None and due_on < created_on:
        p.error(ACTION_PREFIX + "due_on", _("A corrective action cannot be due before it was created (%(date)s).",
                                            date=created_on.isoformat()))


def _finding_snapshot(finding: Finding) -> dict:
    return audit.snapshot(finding, FINDING_FIELDS) | audit.snapshot(finding.corrective_action, ACTION_FIELDS)


def create_finding(actor: User, data: dict, *, region_code: str, org_id: int | None = None,
                   drill_id: int | None = None, checklist_run_id: int | None = None,
                   found_on: date | None = None, today: date | None = None, commit: bool = True) -> Finding:
    """Records a finding from a drill or a checklist run, with its corrective action (status open).
    `link(finding)` records what the finding came from in the same transaction (a checklist answer).

    The caller has already checked that `actor` may record findings for this source; the scope
    values (region, organisation) come from the source, never from the input."""
    if drill_id is not None:
        source_drill = db.session.get(Drill, drill_id)
        assert source_drill is not None  # the callers pass a drill's id, or a foreign key to one
        require_not_filed(source_drill)
    p, values, action_values = _read_finding(data, partial=False)
    values.pop("version", None)
    finding = Finding(drill_id=drill_id, checklist_run_id=checklist_run_id, region_code=region_code,
                      org_id=org_id, created_by_id=actor.id, version=1)
    finding.found_on = values.pop("found_on", None) or found_on or local_today()
    if action_values.get("status", ActionStatus.OPEN) != ActionStatus.OPEN:
        p.error(ACTION_PREFIX + "status", _("A new corrective action starts as “%(status)s”.",
                                            status=ActionStatus.OPEN.label))
    if "owner_id" in action_values:
        _check_owner(p, finding, action_values["owner_id"])
    _check_dates(p, finding.found_on, action_values.get("due_on"), today or local_today())
    p.check()
    for name, value in values.items():
        setattr(finding, name, value)
    finding.corrective_action = CorrectiveAction(
        description=action_values["description"], owner_id=action_values["owner_id"],
        due_on=action_values["due_on"], status=ActionStatus.OPEN)
    db.session.add(finding)
    db.session.flush()
    audit.record(actor, "finding.create", "finding", finding.id, None, _finding_snapshot(finding))
    _tell_assigned(actor, finding)
    if commit:
        db.session.commit()
    return finding


def add_drill_finding(actor: User, drill: Drill, data: dict) -> Finding:
    access.require(access.can_edit_drill(actor, drill), _("Only the drill's organiser can record its findings."))
    _require_completed(drill)
    return create_finding(actor, data, region_code=drill.region_code, org_id=drill.organizer_org_id,
                          drill_id=drill.id, found_on=min(to_local(drill.ends_at).date(), local_today()))


# Allowed status changes: who may make them, and what the audit log calls them.
OWNER, VERIFIER = "owner", "verifier"
TRANSITIONS = {
    (ActionStatus.OPEN, ActionStatus.IN_PROGRESS): (OWNER, "action.start"),
    (ActionStatus.IN_PROGRESS, ActionStatus.DONE): (OWNER, "action.done"),
    (ActionStatus.DONE, ActionStatus.VERIFIED): (VERIFIER, "action.verify"),
    (ActionStatus.DONE, ActionStatus.IN_PROGRESS): (VERIFIER, "action.send_back"),
}


def next_statuses(status: ActionStatus) -> list[ActionStatus]:
    return [to for (frm, to) in TRANSITIONS if frm == status]


def _transition(actor: User, finding: Finding, to: ActionStatus, reason: str) -> tuple[str, dict, dict]:
    action = finding.corrective_action
    step = TRANSITIONS.get((action.status, to))
    if step is None:
        allowed = "、".join(f"“{s.label}”" for s in next_statuses(action.status)) or _("none")
        raise Conflict(_("A corrective action cannot go from “%(frm)s” to “%(to)s”. Possible next steps: %(next)s.",
                         frm=action.status.label, to=to.label, next=allowed))
    who, name = step
    if who == OWNER:
        access.require(access.can_work_on_action(actor, action),
                       _("Only the owner of this corrective action can move it to “%(to)s”.", to=to.label))
    else:
        if actor.id == action.owner_id:
            access.deny(_("The owner cannot check their own corrective action; someone else must (dynamic close-out)."))
        access.require(access.can_verify_action(actor, action),
                       _("Only the drill's organiser or a coordinator of its region can check corrective actions."))
    if name == "action.send_back" and not reason:
        raise ValidationError(_("The input is not valid."), {
            ACTION_PREFIX + "reason": [_("Say what is still missing when sending an action back.")]})
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


def update_finding(actor: User, finding: Finding, data: dict) -> Finding:
    """Changes a finding and its action (managers) and/or moves the action's status (owner/verifier)."""
    p, values, action_values = _read_finding(data, partial=True)
    version = values.pop("version", MISSING)
    target = action_values.pop("status", MISSING)
    reason = action_values.pop("reason", "")
    # Lock the row, then read it afresh: concurrent steps are checked one after the other (PostgreSQL).
    lock(finding)
    db.session.refresh(finding.corrective_action)
    action = finding.corrective_action
    if version is not MISSING and version != finding.version:
        raise Conflict(_("Someone else changed this finding meanwhile. Reload the page and apply your change again."))
    edits = {k: v for k, v in values.items() if getattr(finding, k) != v}
    action_edits = {k: v for k, v in action_values.items() if getattr(action, k) != v}
    moves = target is not MISSING and target != action.status
    if action.status == ActionStatus.VERIFIED and (edits or action_edits or moves):
        raise Conflict(_("This corrective action is verified and closed; it cannot be changed."))
    if edits or action_edits:
        access.require(access.can_manage_finding(actor, finding),
                       _("Only the drill's organiser or a coordinator of its region can change this finding."))
    if "owner_id" in action_edits:
        _check_owner(p, finding, action_edits["owner_id"])
    _check_dates(p, edits.get("found_on", finding.found_on), action_edits.get("due_on", action.due_on),
                 to_local(finding.created_at).date() if "due_on" in action_edits else None)
    p.check()
    if finding.drill_id is not None and (edits or "description" in action_edits):
        source_drill = finding.drill or db.session.get(Drill, finding.drill_id)
        assert source_drill is not None  # drill_id is a foreign key
        require_not_filed(source_drill)
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
            _tell_assigned(actor, finding)
        if step is not None:
            _tell_step(actor, finding, step[0], reason)
        db.session.commit()
    return finding


def finding_to_dict(finding: Finding, today: date) -> dict:
    action = finding.corrective_action
    return {
        "id": finding.id,
        "drill_id": finding.drill_id,
        "checklist_run_id": finding.checklist_run_id,
        "org_id": finding.org_id,
        "region_code": finding.region_code,
        "summary": finding.summary,
        "severity": finding.severity.value,
        "category": finding.category.value,
        "found_on": finding.found_on.isoformat(),
        "version": finding.version,
        "corrective_action": {
            "description": action.description,
            "owner": action.owner_id,
            "due_on": action.due_on.isoformat(),
            "status": action.status.value,
            "overdue": is_overdue(action, today),
            "done_at": api_datetime(action.done_at),
            "verified_at": api_datetime(action.verified_at),
            "verified_by": action.verified_by_id,
        },
    }


def is_overdue(action: CorrectiveAction, today: date) -> bool:
    return action.status in (ActionStatus.OPEN, ActionStatus.IN_PROGRESS) and action.due_on < today


def drill_findings(drill: Drill) -> list[Finding]:
    return list(db.session.scalars(
        sa.select(Finding).where(Finding.drill_id == drill.id)
        .options(joinedload(Finding.corrective_action).joinedload(CorrectiveAction.owner),
                 joinedload(Finding.corrective_action).joinedload(CorrectiveAction.verified_by))
        .order_by(Finding.found_on, Finding.id)).unique())


# --- the open corrective actions -------------------------------------------------------------

OPEN_STATUSES = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.DONE)


def read_action_filters(args: dict) -> dict:
    """Validates the list's filters: region, org, severity, category, status, mine, overdue."""
    p = Payload({k: v for k, v in args.items() if v not in ("", None)}, partial=True)
    filters = {
        "region": p.string("region", max_length=12),
        "org": p.integer("org", minimum=1),
        "severity": p.choice("severity", Severity),
        "category": p.choice("category", FindingCategory),
        "status": p.choice("status", ActionStatus),
        "mine": p.string("mine", max_length=5),
        "overdue": p.string("overdue", max_length=5),
    }
    if filters["status"] == ActionStatus.VERIFIED:
        p.error("status", _("Verified actions are closed; this list shows the open ones."))
    for flag in ("mine", "overdue"):
        if filters[flag] is not MISSING and filters[flag] not in ("0", "1", "true", "false"):
            p.error(flag, _("Must be true or false."))
    p.check()
    result = {k: v for k, v in filters.items() if v is not MISSING}
    for flag in ("mine", "overdue"):
        result[flag] = result.get(flag) in ("1", "true")
    return result


def open_actions_query(user: User, today: date, filters: dict | None = None) -> sa.Select:
    """The ids of the open (not yet verified) corrective actions in the user's scope, overdue first,
    then by due date. Narrow on purpose: only the page's rows are then loaded in full."""
    filters = filters or {}
    overdue = sa.and_(CorrectiveAction.status.in_((ActionStatus.OPEN, ActionStatus.IN_PROGRESS)),
                      CorrectiveAction.due_on < today)
    query = (sa.select(CorrectiveAction.id).join(CorrectiveAction.finding)
             .where(access.finding_clause(user), CorrectiveAction.status.in_(OPEN_STATUSES)))
    if filters.get("region"):
        query = query.where(Finding.region_code.in_(access.subtree_codes(filters["region"])))
    if filters.get("org"):
        query = query.where(Finding.org_id == filters["org"])
    for name, column in (("severity", Finding.severity), ("category", Finding.category),
                         ("status", CorrectiveAction.status)):
        if filters.get(name):
            query = query.where(column == filters[name])
    if filters.get("mine"):
        query = query.where(CorrectiveAction.owner_id == user.id)
    if filters.get("overdue"):
        query = query.where(overdue)
    return query.order_by(sa.case((overdue, 0), else_=1), CorrectiveAction.due_on, CorrectiveAction.id)


def load_actions(ids: list[int]) -> list[CorrectiveAction]:
    """The actions with these ids, in this order, with everything a list row shows (one query)."""
    if not ids:
        return []
    rows = db.session.scalars(
        sa.select(CorrectiveAction).join(CorrectiveAction.finding).where(CorrectiveAction.id.in_(ids))
        .options(contains_eager(CorrectiveAction.finding).contains_eager(Finding.corrective_action),
                 contains_eager(CorrectiveAction.finding).options(
                     joinedload(Finding.drill).options(lazyload("*")),
                     joinedload(Finding.org), joinedload(Finding.region)),
                 joinedload(CorrectiveAction.owner))).unique()
    by_id = {action.id: action for action in rows}
    return [by_id[i] for i in ids]


class ActionPagination(SelectPagination):
    """A page of open_actions_query(): the ids page by page, then the page's actions in full."""

    def _query_items(self) -> list[CorrectiveAction]:
        ids = super()._query_items()
        return load_actions(ids)


def open_actions_page(user: User, today: date, filters: dict | None = None, page: int = 1,
                      per_page: int = 50) -> ActionPagination:
    return ActionPagination(select=open_actions_query(user, today, filters), session=db.session(),
                            page=page, per_page=per_page, max_per_page=per_page, error_out=False)


def action_list_item(action: CorrectiveAction, today: date) -> dict:
    data = finding_to_dict(action.finding, today)
    drill = action.finding.drill
    data["drill"] = {"id": drill.id, "title": drill.title} if drill is not None else None
    return data


# --- what the drill page shows ---------------------------------------------------------------

@dataclass
class FindingsView:
    """Findings with their actions' histories and what the viewing user may do with them."""

    findings: list[Finding]
    action_history: dict[int, list[AuditEntry]]
    users: dict[int, User]
    can_edit: bool
    can_decide: bool
    today: date
    owners: list[User] = field(default_factory=list)
    filed: bool = False  # the drill's review is accepted: findings' texts are read-only
    evidence: dict[int, list[Attachment]] = field(default_factory=dict)
    forms: object = field(default=None, compare=False, repr=False)  # set by the views (their PanelForms)

    def may_add_evidence(self, user: User, finding: Finding) -> bool:
        return finding.corrective_action.status != ActionStatus.VERIFIED and \
            access.can_add_evidence(user, finding, self.can_edit)

    max_evidence_files = attachments.MAX_EVIDENCE_FILES

    def last_send_back_at(self, action: CorrectiveAction):
        times = [e.at for e in self.action_history.get(action.id, []) if e.action == "action.send_back"]
        return times[-1] if times else None

    def sent_back(self, action: CorrectiveAction) -> AuditEntry | None:
        """The send-back the owner still has to answer, if the action's last hand-over was one."""
        steps = [e for e in self.action_history.get(action.id, []) if e.action in ("action.done", "action.send_back")]
        return steps[-1] if steps and steps[-1].action == "action.send_back" else None

    def steps_for(self, user: User, action: CorrectiveAction) -> list[ActionStatus]:
        """The status changes `user` may make on `action` (for its buttons)."""
        steps = []
        for to in next_statuses(action.status):
            who, _name = TRANSITIONS[(action.status, to)]
            if who == OWNER and access.can_work_on_action(user, action) or who == VERIFIER and \
                    access.can_verify_action(user, action, self.can_edit, self.can_decide):
                steps.append(to)
        return steps

    def overdue(self, action: CorrectiveAction) -> bool:
        return is_overdue(action, self.today)


@dataclass
class DrillPanel(FindingsView):
    """Everything the review/findings panel of one drill needs, loaded in a fixed number of queries."""

    drill: Drill | None = None
    review: Review | None = None
    review_history: list[AuditEntry] = field(default_factory=list)
    can_reopen: bool = False

    @property
    def completed(self) -> bool:
        assert self.drill is not None  # a drill's panel
        return self.drill.status == DrillStatus.COMPLETED

    @property
    def filing_status(self) -> FilingStatus:
        return self.review.filing_status if self.review is not None else FilingStatus.DRAFT

    @property
    def review_editable(self) -> bool:
        return self.can_edit and self.completed and self.filing_status in REVISABLE

    @property
    def can_submit(self) -> bool:
        return self.review_editable and self.review is not None

    @property
    def can_decide_now(self) -> bool:
        return self.can_decide and self.filing_status == FilingStatus.SUBMITTED

    @property
    def can_reopen_now(self) -> bool:
        return self.can_reopen and self.filing_status == FilingStatus.ACCEPTED


def _history(actions: list[CorrectiveAction], review_of_drill: Drill | None = None):
    """Audit entries of the actions and their findings' changes (and of the drill's filing), with their
    users, in two queries."""
    action_of_finding = {str(a.finding_id): a.id for a in actions}
    wanted = sa.or_(sa.and_(AuditEntry.entity_type == "corrective_action",
                            AuditEntry.entity_id.in_([str(a.id) for a in actions])),
                    sa.and_(AuditEntry.entity_type == "finding", AuditEntry.action == "finding.update",
                            AuditEntry.entity_id.in_(list(action_of_finding))))
    if review_of_drill is not None:
        wanted = sa.or_(wanted, sa.and_(AuditEntry.entity_type == "review",
                                        AuditEntry.entity_id == str(review_of_drill.id),
                                        AuditEntry.action != "review.save"))
    entries = list(db.session.scalars(sa.select(AuditEntry).where(wanted).order_by(AuditEntry.at, AuditEntry.id)))
    user_ids = {e.user_id for e in entries if e.user_id}
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))} if user_ids else {}
    action_history: dict[int, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        if entry.entity_type == "corrective_action":
            action_history[int(entry.entity_id)].append(entry)
        elif entry.entity_type == "finding":
            action_history[action_of_finding[entry.entity_id]].append(entry)
    return [e for e in entries if e.entity_type == "review"], dict(action_history), users


def drill_panel(user: User, drill: Drill) -> DrillPanel:
    findings = drill_findings(drill)
    review_history, action_history, users = _history([f.corrective_action for f in findings], drill)
    can_edit = access.can_edit_drill(user, drill)
    panel = DrillPanel(
        drill=drill, review=review_of(drill), findings=findings, review_history=review_history,
        action_history=action_history, users=users, can_edit=can_edit,
        can_decide=access.can_decide_filing(user, drill), today=local_today(),
        evidence=attachments.evidence_of(f.corrective_action.id for f in findings))
    panel.filed = panel.filing_status == FilingStatus.ACCEPTED
    panel.can_reopen = panel.filed and access.can_reopen_filing(user, drill)
    if can_edit:
        panel.owners = owner_choices(Finding(drill_id=drill.id, region_code=drill.region_code,
                                             org_id=drill.organizer_org_id))
    return panel


def finding_view(user: User, finding: Finding) -> FindingsView:
    """One finding on its own page (a readiness checklist's finding has no drill page)."""
    _review_history, action_history, users = _history([finding.corrective_action])
    can_edit = access.can_manage_finding(user, finding)
    view = FindingsView(findings=[finding], action_history=action_history, users=users, can_edit=can_edit,
                        can_decide=access.can_manage_region(user, finding.region_code), today=local_today(),
                        filed=finding.drill is not None and is_filed(finding.drill),
                        evidence=attachments.evidence_of([finding.corrective_action.id]))
    if can_edit:
        view.owners = owner_choices(finding)
    return view


def audit_reason(entry: AuditEntry) -> str:
    after = entry.after or {}
    return after.get("reason") or after.get("return_reason") or "、".join(after.get("files") or [])


def filing_step_label(entry: AuditEntry) -> str:
    return {
        "review.submit": _("Submitted the review for filing"),
        "review.accept": _("Accepted and filed"),
        "review.return": _("Returned for revision"),
        "review.reopen": _("Reopened the filing"),
        "action.start": _("Correction started"),
        "action.done": _("Marked as corrected"),
        "action.verify": _("Verified the correction and closed it out"),
        "action.send_back": _("Sent back for more work"),
        "finding.update": _("Finding changed"),
        "action.evidence": _("Added evidence"),
    }.get(entry.action, entry.action)

