"""Finding drills: the filtered list, the month calendar, a unit's evacuation trend, a drill's history and the
occurrences of a series."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased, selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit.models import AuditEntry
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill, Participation, drill_participants
from drillmgr.drills.schemas import DrillFiltersSchema
from drillmgr.enums import DrillForm, DrillStatus
from drillmgr.extensions import db
from drillmgr.findings.models import Finding
from drillmgr.localtime import local_zone
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

# The anonymous public is None here, as in access.drill_clause.
Select = TypeVar("Select", bound=sa.Select[Any])
OUTLIER_FACTOR = 3


@dataclass
class DrillFilters:
    region: str | None = None
    org: int | None = None
    form: DrillForm | None = None
    status: DrillStatus | None = None
    date_from: date | None = None
    date_to: date | None = None


def read_filters(args: Mapping[str, str]) -> DrillFilters:
    """Filters from query arguments (`region, org, form, status, from, to`); bad ones are a ValidationError."""
    p = DrillFiltersSchema().read({k: v for k, v in args.items() if v not in ("", None)}, partial=True)
    filters = DrillFilters(**p.values)
    if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
        p.error("to", _("The end of the date range must not be before its start."))
    p.check()
    return filters


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(timezone.utc)


def _filtered(query: Select, actor: User, f: DrillFilters, now: datetime | None) -> Select:
    query = query.where(access.drill_clause(actor, now or utcnow()))
    if f.region:
        subtree = access.subtree_codes(f.region)
        query = query.where(sa.or_(Drill.region_code.in_(subtree), Drill.organizer_region_code.in_(subtree)))
    if f.org:
        query = query.where(
            sa.or_(
                Drill.organizer_org_id == f.org,
                Drill.id.in_(sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == f.org)),
            )
        )
    if f.form:
        query = query.where(Drill.form == f.form)
    if f.status:
        query = query.where(Drill.status == f.status)
    if f.date_from:
        since = _local_midnight(f.date_from)
        # The same drills, said so that the index on starts_at is entered at the first drill that can
        # still be running then, not at the first drill ever. The min comes from ix_drills_ends_at
        # (ends_at, starts_at) alone; coalesce keeps the planner from walking starts_at's index for it.
        first_start = (
            sa.select(sa.func.min(sa.func.coalesce(Drill.starts_at, Drill.starts_at)))
            .where(Drill.ends_at >= since)
            .scalar_subquery()
        )
        query = query.where(Drill.ends_at >= since, Drill.starts_at >= first_start)
    if f.date_to:
        query = query.where(Drill.starts_at < _local_midnight(f.date_to + timedelta(days=1)))
    return query


def drill_query(
    actor: User, filters: DrillFilters | None = None, now: datetime | None = None, chronological: bool = False
) -> sa.Select[tuple[Drill]]:
    """The drills `actor` may see (double-blind rule included), filtered, latest first (or earliest first)."""
    order = (Drill.starts_at, Drill.id) if chronological else (Drill.starts_at.desc(), Drill.id.desc())
    return (
        _filtered(sa.select(Drill), actor, filters or DrillFilters(), now)
        .options(
            selectinload(Drill.participation),
            selectinload(Drill.organizer_org),
            selectinload(Drill.organizer_region),
            selectinload(Drill.region),
        )
        .order_by(*order)
    )


def month_grid(
    actor: User,
    year: int,
    month: int,
    filters: DrillFilters | None = None,
    now: datetime | None = None,
    per_day: int = 5,
) -> list[list[tuple[date, list[sa.Row[Any]], int]]]:
    """Weeks (Monday first) of the month, each day with its first `per_day` visible drills (local time) and
    how many start on it in all.

    The database numbers each day's drills and counts them (window functions), so that only what the
    cells show is read: a county's month of a thousand drills stays a few hundred rows."""
    first = date(year, month, 1)
    grid_start = first - timedelta(days=first.weekday())
    following = date(year + (month == 12), month % 12 + 1, 1)
    grid_end = following + timedelta(days=(7 - following.weekday()) % 7)
    days = [grid_start + timedelta(days=n) for n in range((grid_end - grid_start).days)]
    midnights = [_local_midnight(d) for d in [*days, grid_end]]
    day_index = sa.case(*[(Drill.starts_at < midnights[i + 1], i) for i in range(len(days))], else_=len(days)).label(
        "day_index"
    )
    f = filters or DrillFilters()
    f.date_from, f.date_to = None, None
    # Aliased, so that the scope's region and organisation subqueries are never correlated with these joins.
    organizer_org, organizer_region = aliased(Organisation), aliased(Region)
    numbered = (
        _filtered(
            sa.select(
                Drill.id,
                Drill.title,
                Drill.starts_at,
                Drill.status,
                Drill.form,
                Drill.double_blind,
                sa.func.coalesce(organizer_org.name, organizer_region.name).label("organizer_name"),
                day_index,
                sa.func.row_number().over(partition_by=day_index, order_by=(Drill.starts_at, Drill.id)).label("n"),
                sa.func.count().over(partition_by=day_index).label("on_day"),
            )
            .outerjoin(organizer_org, organizer_org.id == Drill.organizer_org_id)
            .outerjoin(organizer_region, organizer_region.code == Drill.organizer_region_code),
            actor,
            f,
            now,
        )
        .where(Drill.starts_at >= midnights[0], Drill.starts_at < midnights[-1])
        .subquery()
    )
    shown: dict[int, list[sa.Row[Any]]] = {}
    totals: dict[int, int] = {}
    for row in db.session.execute(
        sa.select(numbered).where(numbered.c.n <= per_day).order_by(numbered.c.starts_at, numbered.c.id)
    ):
        shown.setdefault(row.day_index, []).append(row)
        totals[row.day_index] = row.on_day
    cells = [(d, shown.get(i, []), totals.get(i, 0)) for i, d in enumerate(days)]
    return [cells[i : i + 7] for i in range(0, len(cells), 7)]


def evacuation_trend(actor: User, org_id: int, limit: int = 12, now: datetime | None = None) -> list[Drill]:
    """The unit's latest completed evacuation drills with a measured time, oldest first."""
    query = (
        sa.select(Drill)
        .join(Participation)
        .where(
            access.drill_clause(actor, now or utcnow()),
            Drill.form == DrillForm.EVACUATION,
            Drill.status == DrillStatus.COMPLETED,
            Participation.evacuation_seconds.is_not(None),
            sa.or_(
                Drill.organizer_org_id == org_id,
                Drill.id.in_(sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == org_id)),
            ),
        )
        .options(selectinload(Drill.participation))
        .order_by(Drill.starts_at.desc())
        .limit(limit)
    )
    return list(reversed(db.session.scalars(query).all()))


def chart_top(values: list[int], target: int | None) -> float:
    """The top of the evacuation chart's axis: room for the target and the usual values. A value more than
    OUTLIER_FACTOR times the median (and above the target) is an outlier: drawn cut off at the top and
    marked, so that it does not flatten the others."""
    if not values:
        return float(target or 1) * 1.15
    ordered = sorted(values)
    cap = max(target or 0, OUTLIER_FACTOR * ordered[(len(ordered) - 1) // 2])
    return max([target or 0] + [v for v in values if v <= cap]) * 1.15


def trend_for(actor: User, drill: Drill, now: datetime | None = None) -> list[Drill]:
    if drill.form != DrillForm.EVACUATION or drill.organizer_org_id is None:
        return []
    return evacuation_trend(actor, drill.organizer_org_id, now=now)


def drill_history(drill: Drill) -> list[tuple[AuditEntry, User | None]]:
    """The audit entries of the drill, its review and its findings, newest first, each with its user."""
    finding_ids = sa.select(sa.cast(Finding.id, sa.String)).where(Finding.drill_id == drill.id)
    entries = list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(
                sa.or_(
                    sa.and_(AuditEntry.entity_type.in_(("drill", "review")), AuditEntry.entity_id == str(drill.id)),
                    sa.and_(AuditEntry.entity_type == "finding", AuditEntry.entity_id.in_(finding_ids)),
                )
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )
    ids = {e.user_id for e in entries if e.user_id}
    users: dict[int | None, User] = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    )
    return [(entry, users.get(entry.user_id)) for entry in reversed(entries)]


def following_occurrences(drill: Drill, include_this: bool) -> list[Drill]:
    """The planned occurrences of the drill's series from this one on (or after it)."""
    if drill.series_id is None:
        return []
    start = drill.occurrence_start or drill.starts_at
    later = Drill.occurrence_start >= start if include_this else Drill.occurrence_start > start
    return list(
        db.session.scalars(
            sa.select(Drill)
            .where(Drill.series_id == drill.series_id, later, Drill.status == DrillStatus.PLANNED)
            .order_by(Drill.occurrence_start, Drill.id)
        )
    )


def series_occurrences(actor: User, series_id: int, now: datetime | None = None) -> list[Drill]:
    return list(
        db.session.scalars(
            sa.select(Drill)
            .where(Drill.series_id == series_id, access.drill_clause(actor, now or utcnow()))
            .order_by(Drill.starts_at)
        )
    )
