"""What the drill page's review/findings panel and a finding's own page show, and what the viewing user may
do there: loaded in a fixed number of queries."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments import services as attachments
from drillmgr.attachments.models import Attachment
from drillmgr.audit.models import AuditEntry
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import is_filed
from drillmgr.enums import ActionStatus, DrillStatus, FilingStatus
from drillmgr.extensions import db
from drillmgr.findings.actions import OWNER, TRANSITIONS, VERIFIER, drill_findings, next_statuses, owner_choices
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.findings.reviews import REVISABLE, review_of
from drillmgr.localtime import local_today


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

    max_evidence_files = attachments.MAX_EVIDENCE_FILES

    def may_add_evidence(self, user: User, finding: Finding) -> bool:
        return finding.corrective_action.status != ActionStatus.VERIFIED and access.can_add_evidence(
            user, finding, self.can_edit
        )

    def last_send_back_at(self, action: CorrectiveAction) -> datetime | None:
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
            if (
                who == OWNER
                and access.can_work_on_action(user, action)
                or who == VERIFIER
                and access.can_verify_action(user, action, self.can_edit, self.can_decide)
            ):
                steps.append(to)
        return steps

    def overdue(self, action: CorrectiveAction) -> bool:
        return action.is_overdue(self.today)


@dataclass
class DrillPanel(FindingsView):
    """Everything the review/findings panel of one drill needs."""

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


History = tuple[list[AuditEntry], dict[int, list[AuditEntry]], dict[int, User]]


def _history(actions: list[CorrectiveAction], review_of_drill: Drill | None = None) -> History:
    """Audit entries of the actions and their findings' changes (and of the drill's filing), with their
    users, in two queries."""
    action_of_finding = {str(a.finding_id): a.id for a in actions}
    wanted = sa.or_(
        sa.and_(AuditEntry.entity_type == "corrective_action", AuditEntry.entity_id.in_([str(a.id) for a in actions])),
        sa.and_(
            AuditEntry.entity_type == "finding",
            AuditEntry.action == "finding.update",
            AuditEntry.entity_id.in_(list(action_of_finding)),
        ),
    )
    if review_of_drill is not None:
        wanted = sa.or_(
            wanted,
            sa.and_(
                AuditEntry.entity_type == "review",
                AuditEntry.entity_id == str(review_of_drill.id),
                AuditEntry.action != "review.save",
            ),
        )
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
        drill=drill,
        review=review_of(drill),
        findings=findings,
        review_history=review_history,
        action_history=action_history,
        users=users,
        can_edit=can_edit,
        can_decide=access.can_decide_filing(user, drill),
        today=local_today(),
        evidence=attachments.evidence_of(f.corrective_action.id for f in findings),
    )
    panel.filed = panel.filing_status == FilingStatus.ACCEPTED
    panel.can_reopen = panel.filed and access.can_reopen_filing(user, drill)
    if can_edit:
        panel.owners = owner_choices(
            Finding(drill_id=drill.id, region_code=drill.region_code, org_id=drill.organizer_org_id)
        )
    return panel


def finding_view(user: User, finding: Finding) -> FindingsView:
    """One finding on its own page (a readiness checklist's finding has no drill page)."""
    _review_history, action_history, users = _history([finding.corrective_action])
    can_edit = access.can_manage_finding(user, finding)
    view = FindingsView(
        findings=[finding],
        action_history=action_history,
        users=users,
        can_edit=can_edit,
        can_decide=access.can_manage_region(user, finding.region_code),
        today=local_today(),
        filed=finding.drill is not None and is_filed(finding.drill),
        evidence=attachments.evidence_of([finding.corrective_action.id]),
    )
    if can_edit:
        view.owners = owner_choices(finding)
    return view
