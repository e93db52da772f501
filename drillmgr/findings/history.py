"""The filing and close-out steps as the audit log records them: a review's filing history, what a step's
reason was, and what each step is called on the pages."""

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.audit.models import AuditEntry
from drillmgr.drills.models import Drill
from drillmgr.extensions import db


def filing_history(drill: Drill) -> list[AuditEntry]:
    """The filing steps (submitted, accepted, returned, reopened) of the drill's review, oldest first."""
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(
                AuditEntry.entity_type == "review",
                AuditEntry.entity_id == str(drill.id),
                AuditEntry.action != "review.save",
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


def audit_reason(entry: AuditEntry) -> str:
    """The reason a step gave (returned, reopened, sent back), or the files it added."""
    after = entry.after or {}
    return str(after.get("reason") or after.get("return_reason") or "、".join(after.get("files") or []))


def filing_step_label(entry: AuditEntry) -> str:
    return str(
        {
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
    )
