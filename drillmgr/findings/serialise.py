"""Reviews, findings and corrective actions as the API shows them."""
from collections.abc import Sequence
from datetime import date
from typing import Any

from drillmgr.audit import services as audit
from drillmgr.audit.models import AuditEntry
from drillmgr.drills.models import Drill
from drillmgr.enums import FilingStatus
from drillmgr.findings.actions import is_overdue
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.findings.reviews import REVIEW_FIELDS, REVIEW_TEXT_FIELDS, audit_reason
from drillmgr.localtime import api_datetime


def review_to_dict(drill: Drill, review: Review | None, findings: list[Finding], today: date,
                   history: Sequence[AuditEntry] = ()) -> dict[str, Any]:
    """The review as the API shows it; a drill without one shows an empty draft at version 0."""
    data: dict[str, Any] = {"drill_id": drill.id}
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


def finding_to_dict(finding: Finding, today: date) -> dict[str, Any]:
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


def action_list_item(action: CorrectiveAction, today: date) -> dict[str, Any]:
    data = finding_to_dict(action.finding, today)
    drill = action.finding.drill
    data["drill"] = {"id": drill.id, "title": drill.title} if drill is not None else None
    return data
