"""What every change of a drill passes: the editor's right, the drill's version (compare-and-set), and its
filing (a filed drill's record is read-only)."""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.db import claim_version
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, FilingStatus
from drillmgr.errors import Conflict
from drillmgr.extensions import db
from drillmgr.findings.models import Review


def claim_drill_version(drill: Drill, expected: int | None, now: datetime) -> None:
    """Raises the version by one if it still is `expected` (compare-and-set, so two saves cannot both win)."""
    expected = drill.version if expected is None else expected
    claim_version(
        drill,
        expected,
        _("Someone else changed this drill meanwhile. Reload it and apply your change again."),
        _("This drill has changed since you loaded it (your version is %(v)s).", v=expected),
        updated_at=now,
    )
    drill.updated_at = now


def require_editable(actor: User, drill: Drill) -> None:
    access.require(access.can_edit_drill(actor, drill), _("You cannot change this drill."))


def is_filed(drill: Drill, lock: bool = False) -> bool:
    """Whether the drill's review is accepted (已备案). `lock` holds the review row (PostgreSQL) until the
    transaction ends, so that a change and an acceptance cannot pass each other."""
    query = sa.select(Review.filing_status).where(Review.drill_id == drill.id)
    status = db.session.scalar(query.with_for_update() if lock else query)
    return status == FilingStatus.ACCEPTED


def require_not_filed(drill: Drill) -> None:
    """Filed means fixed: the record of a drill whose review is accepted is read-only for everyone until a
    coordinator of its region reopens the filing."""
    if is_filed(drill, lock=True):
        raise Conflict(filed_message())


def filed_message() -> str:
    return str(
        _(
            "The after-action review of this drill is filed (accepted), so its record is read-only. "
            "To change it, a coordinator of the region must first reopen the filing, with a reason."
        )
    )


def require_not_cancelled(drill: Drill) -> None:
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled and can no longer be changed."))
