"""Demo data: Tacheng's real counties, sample townships, units, accounts and a year of drills.

Every sample organisation is named "（演示）…" and flagged `is_demo`, so nobody mistakes it for
a real unit. Large counts are inserted in batches for scale tests.
"""

import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Protocol, Self

import sqlalchemy as sa

from drillmgr.accounts.models import User
from drillmgr.checklists.demo import seed_readiness_demo
from drillmgr.demo.drill_rows import BEIJING, county_drills, focus_rows, org_drills, participation_rows
from drillmgr.demo.filing import PATH as FILING_PATH
from drillmgr.demo.filing import filing_demo_possible, seed_filing_demo
from drillmgr.demo.units import DEMO_PASSWORD, OrgRef, Row, org_rows, seed_regions, seed_users
from drillmgr.drills.models import Drill, DrillFocus, Participation
from drillmgr.extensions import Model, db
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.demo import seed_outreach_demo
from drillmgr.regions.models import Region

BATCH = 5000
PROGRESS_FROM = 2000


class Bar(Protocol):
    def update(self, n_steps: int) -> None: ...


# click.progressbar, or _silent_progress
Progress = Callable[..., AbstractContextManager[Bar]]


@dataclass
class SeedSummary:
    regions: int = 0
    orgs: int = 0
    drills: int = 0
    users: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"demo data: {self.regions} regions, {self.orgs} organisations, {self.drills} drills\n"
            + demo_accounts_text()
        )


def database_is_empty() -> bool:
    """No organisations and no users yet (the prefecture and its counties come with the migrations)."""
    return not db.session.scalar(sa.select(sa.select(Organisation.id).exists())) and not db.session.scalar(
        sa.select(sa.select(User.id).exists())
    )


def demo_loaded() -> bool:
    return bool(db.session.scalar(sa.select(sa.select(Organisation.id).where(Organisation.is_demo.is_(True)).exists())))


def demo_accounts_text() -> str:
    lines = [f"demo accounts (password: {DEMO_PASSWORD}):"]
    for user in db.session.scalars(sa.select(User).where(User.is_demo.is_(True)).order_by(User.id)):
        scope = user.region.name if user.region else (user.org.name if user.org else "塔城地区")
        lines.append(f"  {user.username:<20} {user.role.value:<12} {scope}")
    return "\n".join(lines)


def _insert_batches(model: type[Model], rows: list[Row], progress: Progress, label: str) -> None:
    """Inserts in batches; a progress bar only when there are enough rows to wait for."""
    if len(rows) < PROGRESS_FROM:
        progress = _silent_progress
    with progress(length=len(rows), label=f"inserting {label}") as bar:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            db.session.execute(sa.insert(model.metadata.tables[model.__tablename__]), chunk)
            bar.update(len(chunk))


def seed_demo(
    org_count: int | None = None, drill_count: int | None = None, progress: Progress | None = None, seed: int = 2024
) -> SeedSummary:
    progress = progress or _silent_progress
    rng = random.Random(seed)
    summary = SeedSummary()
    townships = seed_regions()
    summary.regions = db.session.execute(sa.select(sa.func.count()).select_from(Region)).scalar_one()
    summary.orgs = _seed_orgs(townships, 360 if org_count is None else org_count, rng, progress)
    orgs = _demo_orgs()
    seed_users(orgs)
    today = datetime.now(BEIJING).date()
    now = datetime.now(timezone.utc)
    wanted = 1500 if drill_count is None else drill_count
    # The reviewed drills of the filing demo are part of the count asked for.
    reviewed = len(FILING_PATH) if filing_demo_possible() and wanted >= 2 * len(FILING_PATH) else 0
    drills = _drill_rows(orgs, wanted - reviewed, drill_count is not None, today, now, rng)
    _insert_drills(drills, rng, now, progress)
    seed_outreach_demo(today, rng)
    seed_readiness_demo(today, rng)
    _fix_sequences()
    summary.drills = len(drills) + (seed_filing_demo(now) if reviewed else 0)
    return summary


def _seed_orgs(townships: list[Region], count: int, rng: random.Random, progress: Progress) -> int:
    rows = org_rows(townships, count, rng)
    _insert_batches(Organisation, rows, progress, "organisations")
    return len(rows)


def _demo_orgs() -> list[OrgRef]:
    return [
        (i, k.value, r)
        for i, k, r in db.session.execute(
            sa.select(Organisation.id, Organisation.kind, Organisation.region_code).where(
                Organisation.is_demo.is_(True)
            )
        ).tuples()
    ]


def _drill_rows(
    orgs: list[OrgRef], wanted: int, exactly: bool, today: date, now: datetime, rng: random.Random
) -> list[Row]:
    """The key counties' drills and enough of the units' to make `wanted` (cut to it when `exactly`)."""
    counter = iter(range((db.session.scalar(sa.select(sa.func.max(Drill.id))) or 0) + 1, 1 << 62))
    next_id = counter.__next__
    rows = county_drills(next_id, today, now)
    rows += org_drills(orgs, max(wanted - len(rows), 0), today, now, rng, next_id)
    return rows[:wanted] if exactly else rows


def _insert_drills(rows: list[Row], rng: random.Random, now: datetime, progress: Progress) -> None:
    _insert_batches(Drill, rows, progress, "drills")
    _insert_batches(DrillFocus, focus_rows(rows), progress, "drill links")
    _insert_batches(Participation, participation_rows(rows, rng, now), progress, "participation")


def _fix_sequences() -> None:
    """Explicit ids bypass PostgreSQL's sequence; move it past them."""
    if db.engine.dialect.name == "postgresql":
        for table in ("drills", "organisations"):
            db.session.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")
            )


class _silent_progress:
    def __init__(self, length: int = 0, label: str = "") -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n_steps: int) -> None:
        pass
