"""Six-into coverage: which settings (agencies, schools, enterprises, communities, villages, families) each
region's activities reached in a year, and where the gaps are."""

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.enums import OutreachKind, SixIntoSetting
from drillmgr.extensions import db
from drillmgr.outreach.models import OutreachActivity
from drillmgr.regions.models import Region

Counts = dict[SixIntoSetting, int]


@dataclass
class CoverageRow:
    region: Region
    counts: Counts = field(default_factory=dict)
    direct: bool = False  # activities recorded at the region itself rather than below it

    @property
    def covered(self) -> int:
        return sum(1 for n in self.counts.values() if n)

    @property
    def gaps(self) -> list[SixIntoSetting]:
        return [s for s in SixIntoSetting if not self.counts.get(s)]


def coverage_matrix(user: User, region_code: str, year: int) -> list[CoverageRow]:
    """Six-into activities per setting for each child of `region_code` (counties of the prefecture,
    townships of a county), plus a row for activities recorded at `region_code` itself.

    Set-based: one GROUP BY region and setting over the subtree's activities, and one query mapping
    each region of the subtree to the child it lies under; both are folded together here."""
    child = aliased(Region)
    below = aliased(Region)
    target = db.session.get(Region, region_code)
    assert target is not None  # both callers refuse an unknown region first
    children = list(
        db.session.scalars(sa.select(Region).where(Region.parent_code == region_code).order_by(Region.code))
    )
    child_of = dict(
        db.session.execute(
            sa.select(below.code, child.code)
            .join(child, below.path.startswith(child.path, autoescape=False))
            .where(child.parent_code == region_code)
        )
        .tuples()
        .all()
    )
    grouped = db.session.execute(
        sa.select(OutreachActivity.region_code, OutreachActivity.setting, sa.func.count())
        .where(
            OutreachActivity.kind == OutreachKind.SIX_INTO,
            access.outreach_clause(user),
            OutreachActivity.held_on.between(date(year, 1, 1), date(year, 12, 31)),
            OutreachActivity.region_code.in_(access.subtree_codes(region_code)),
        )
        .group_by(OutreachActivity.region_code, OutreachActivity.setting)
    ).tuples()
    counts: dict[str, Counts] = {c.code: {} for c in children}
    direct: Counts = {}
    for code, setting, n in grouped:
        assert setting is not None  # a six-into activity has its setting
        cell = direct if code == region_code else counts[child_of[code]]
        cell[setting] = cell.get(setting, 0) + n
    rows = [CoverageRow(c, counts[c.code]) for c in children]
    if direct or not children:
        rows.insert(0, CoverageRow(target, direct, direct=True))
    return rows
