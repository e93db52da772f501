"""What the home page shows for a user's scope."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.compliance import obligations
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, Role
from drillmgr.extensions import db
from drillmgr.localtime import local_today, to_local
from drillmgr.orgs.models import Organisation


def scope_summary(user: User, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    year_start = to_local(now).replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    visible = access.drill_clause(user, now)
    counts = db.session.execute(
        sa.select(
            sa.func.count().filter(Drill.status == DrillStatus.COMPLETED, Drill.starts_at >= year_start),
            sa.func.count().filter(Drill.status == DrillStatus.PLANNED, Drill.starts_at >= now),
        ).where(visible)
    ).one()
    org_count = db.session.scalar(sa.select(sa.func.count()).select_from(Organisation).where(access.org_clause(user)))
    upcoming = db.session.scalars(
        sa.select(Drill)
        .where(visible, Drill.status == DrillStatus.PLANNED, Drill.starts_at >= now)
        .options(selectinload(Drill.organizer_org), selectinload(Drill.organizer_region))
        .order_by(Drill.starts_at)
        .limit(8)
    ).all()
    return {
        "today": now,
        "orgs": org_count,
        "completed_this_year": counts[0],
        "planned": counts[1],
        "upcoming": upcoming,
    }


def unit_obligations(user: User, now: datetime | None = None) -> obligations.UnitObligations | None:
    """The unit's own obligations this year, for its staff's home page (None for everyone else)."""
    if user.org_id is None or user.role != Role.ORG_STAFF:
        return None
    now = now or utcnow()
    return obligations.unit_obligations(user, local_today(now).year, user.org_id, now)
