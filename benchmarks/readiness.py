"""Readiness and public-education benchmark: the set-based queries beside a naive per-row loop.

Builds data with the demo seeder (`seed-demo --orgs N`, which also runs this term's readiness
checklists for most schools, kindergartens and hospitals) plus M six-into activities spread over
the townships, in a temporary SQLite file (or an existing, emptied PostgreSQL database), then
times, median of --repeat runs:
  1. readiness_summary(prefecture): share of units with a readiness run this term, by county (one query);
  2. the naive way: for every county, load its units, then ask for each unit's last run (a query per unit);
  3. coverage_matrix(admin, prefecture): six-into activities per county and setting (two queries);
  4. coverage_matrix(admin, 乌苏市): per township.

    .venv/bin/python benchmarks/readiness.py [--orgs 10000] [--activities 20000] [--repeat 5]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_readiness]
"""

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from benchmarks._common import analyze, fresh_database, make_app, timed  # noqa: E402
from drillmgr.accounts.models import User  # noqa: E402
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate  # noqa: E402
from drillmgr.checklists.readiness import readiness_summary, term_bounds  # noqa: E402
from drillmgr.demo.services import seed_demo  # noqa: E402
from drillmgr.enums import OutreachKind, RegionLevel, SixIntoSetting  # noqa: E402
from drillmgr.extensions import db  # noqa: E402
from drillmgr.orgs.models import Organisation  # noqa: E402
from drillmgr.outreach.models import OutreachActivity  # noqa: E402
from drillmgr.outreach.coverage import coverage_matrix  # noqa: E402
from drillmgr.regions.models import Region  # noqa: E402

PREFECTURE, WUSU = "654200", "654202"


def naive_readiness(today: date) -> list[dict]:
    first, _last = term_bounds(today)
    kinds = list(
        db.session.scalars(
            sa.select(ChecklistTemplate.org_kind).where(
                ChecklistTemplate.active.is_(True), ChecklistTemplate.org_kind.is_not(None)
            )
        )
    )
    rows = []
    for county in db.session.scalars(sa.select(Region).where(Region.level == RegionLevel.COUNTY)):
        units = db.session.scalars(
            sa.select(Organisation)
            .join(Region)
            .where(Region.path.startswith(county.path), Organisation.kind.in_(kinds))
        ).all()
        ready = 0
        for unit in units:
            last = db.session.scalars(
                sa.select(ChecklistRun)
                .where(ChecklistRun.org_id == unit.id, ChecklistRun.drill_id.is_(None))
                .order_by(ChecklistRun.completed_at.desc())
            ).first()
            ready += bool(last and last.completed_at and last.completed_at.date() >= first)
        rows.append({"code": county.code, "units": len(units), "ready": ready})
    return rows


def add_activities(count: int, today: date) -> None:
    townships = list(db.session.scalars(sa.select(Region.code).where(Region.level == RegionLevel.TOWNSHIP)))
    rng = random.Random(7)
    first = date(today.year, 1, 1)
    rows = [
        {
            "kind": OutreachKind.SIX_INTO,
            "title": "（演示）六进活动",
            "region_code": rng.choice(townships),
            "setting": rng.choice(list(SixIntoSetting)),
            "held_on": first + timedelta(days=rng.randrange(300)),
            "channels": ["on_site"],
            "audience": rng.randint(50, 500),
            "description": "",
            "is_demo": True,
        }
        for _ in range(count)
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(sa.insert(OutreachActivity), rows[start : start + 5000])
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=10_000)
    parser.add_argument("--activities", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg-url", help="an existing PostgreSQL database (emptied first) instead of SQLite")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-readiness-")
    os.environ["DRILLMGR_INSTANCE"] = folder

    app = make_app(args.pg_url or f"sqlite:///{folder}/bench.sqlite3")
    with app.app_context(), app.test_request_context():
        fresh_database()
        start = time.perf_counter()
        seed_demo(org_count=args.orgs, drill_count=100)
        add_activities(args.activities, date.today())
        analyze()
        units = db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistRun))
        print(
            f"{db.engine.dialect.name}: {args.orgs} organisations, {units} readiness runs, "
            f"{args.activities} extra six-into activities, built in {time.perf_counter() - start:.1f} s"
        )
        admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
        today = date.today()
        fast, summary = timed(lambda: readiness_summary(PREFECTURE, today), args.repeat)
        slow, naive = timed(lambda: naive_readiness(today), max(1, args.repeat // 2))
        assert {r["code"]: (r["units"], r["ready"]) for r in summary} == {
            r["code"]: (r["units"], r["ready"]) for r in naive
        }, "the two readiness counts disagree"
        print(f"  readiness_summary(prefecture), one query    {fast:9.1f} ms")
        print(f"  naive readiness, a query per unit           {slow:9.1f} ms  ({slow / fast:.0f}x)")
        for label, code in (("coverage_matrix(prefecture)", PREFECTURE), ("coverage_matrix(乌苏市)", WUSU)):
            elapsed, _rows = timed(lambda code=code: coverage_matrix(admin, code, today.year), args.repeat)
            print(f"  {label:<42}  {elapsed:9.1f} ms")


if __name__ == "__main__":
    main()
