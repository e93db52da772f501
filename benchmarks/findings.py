"""Corrective actions benchmark: the open-actions list beside a hand-written query (the floor).

Builds data with the demo seeder (`seed-demo --orgs N --drills M`), then bulk-inserts one staff
user per unit and --per-drill findings (each with its corrective action, a quarter of them overdue,
a quarter verified) for every completed drill, into a fresh database — a temporary SQLite file
and/or a PostgreSQL database — and times, median of --repeat runs, the first page (50 rows) of:
  1. floor: one hand-written SELECT of open actions joined to their findings, ordered overdue
     first then by due date, with LIMIT 50, plus its COUNT(*) — no scope rule at all;
  2. the open-actions list of the prefecture officer (admin), as the page and GET /findings load it;
  3. the same for the Wusu coordinator (one county; double-blind rule applied);
  4. the same for one school's staff member;
  5. the review/findings panel of one drill with 20 findings (drill_panel()).

    .venv/bin/python benchmarks/findings.py --orgs 2000 --drills 50000 [--engine sqlite|postgresql|both]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_findings] [--repeat 5]

The PostgreSQL database must exist (createdb bench_findings) and is emptied first.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_babel import force_locale  # noqa: E402

from benchmarks._common import analyze, fresh_database, make_app, timed  # noqa: E402
from drillmgr.accounts.models import User  # noqa: E402
from drillmgr.demo.services import seed_demo  # noqa: E402
from drillmgr.drills.models import Drill  # noqa: E402
from drillmgr.enums import ActionStatus, DrillStatus, FindingCategory, Role, Severity  # noqa: E402
from drillmgr.extensions import db  # noqa: E402
from drillmgr.findings import pages, queries  # noqa: E402
from drillmgr.findings.schemas import FindingSchema  # noqa: E402
from drillmgr.localtime import local_today  # noqa: E402
from drillmgr.findings.models import CorrectiveAction, Finding  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_findings"
PAGE = 50


def seed_findings(per_drill: int, rng: random.Random) -> int:
    """One staff user per unit, and `per_drill` findings with actions for every completed drill."""
    orgs = db.session.execute(sa.text("SELECT id FROM organisations")).scalars().all()
    db.session.execute(
        sa.insert(User.__table__),
        [
            {
                "username": f"bench-staff-{org_id}",
                "role": Role.ORG_STAFF.value,
                "org_id": org_id,
                "password_hash": "!",
                "feed_secret": f"bench-{org_id}",
                "display_name": "",
                "active": True,
                "is_demo": True,
                "feed_alarms": False,
            }
            for org_id in orgs
        ],
    )
    owner_of = dict(
        db.session.execute(sa.select(User.org_id, User.id).where(User.username.like("bench-staff-%"))).all()
    )
    drills = db.session.execute(
        sa.select(Drill.id, Drill.organizer_org_id, Drill.region_code, Drill.ends_at).where(
            Drill.status == DrillStatus.COMPLETED, Drill.organizer_org_id.is_not(None)
        )
    ).all()
    today = local_today()
    statuses = [ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.VERIFIED]
    # After the findings the demo seeder itself made (its reviewed drills).
    next_id = 1 + max(
        db.session.scalar(sa.select(sa.func.max(Finding.id))) or 0,
        db.session.scalar(sa.select(sa.func.max(CorrectiveAction.id))) or 0,
    )
    findings, actions = [], []
    for drill_id, org_id, region_code, ends_at in drills:
        found_on = min(ends_at.date(), today)
        for _ in range(per_drill):
            due = found_on + timedelta(days=rng.randint(7, 120))
            findings.append(
                {
                    "id": next_id,
                    "drill_id": drill_id,
                    "org_id": org_id,
                    "region_code": region_code,
                    "summary": "演练发现的问题",
                    "severity": rng.choice(list(Severity)).value,
                    "category": rng.choice(list(FindingCategory)).value,
                    "found_on": found_on,
                    "version": 1,
                    "created_at": datetime.now(timezone.utc),
                }
            )
            actions.append(
                {
                    "id": next_id,
                    "finding_id": next_id,
                    "description": "整改措施",
                    "owner_id": owner_of[org_id],
                    "due_on": due,
                    "status": rng.choice(statuses).value,
                    "updated_at": datetime.now(timezone.utc),
                }
            )
            next_id += 1
    for start in range(0, len(findings), 5000):
        db.session.execute(sa.insert(Finding.__table__), findings[start : start + 5000])
        db.session.execute(sa.insert(CorrectiveAction.__table__), actions[start : start + 5000])
    if db.engine.dialect.name == "postgresql":
        for table in ("findings", "corrective_actions", "users"):
            db.session.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 1)) FROM {table}")
            )
    db.session.commit()
    return len(findings)


def floor_query(today):
    open_statuses = "('open', 'in_progress', 'done')"
    page = sa.text(f"""
        SELECT a.id, a.due_on, a.status, f.summary, f.severity
        FROM corrective_actions a JOIN findings f ON f.id = a.finding_id
        WHERE a.status IN {open_statuses}
        ORDER BY CASE WHEN a.status IN ('open', 'in_progress') AND a.due_on < :today THEN 0 ELSE 1 END,
                 a.due_on, a.id
        LIMIT {PAGE}""")
    count = sa.text(f"SELECT count(*) FROM corrective_actions WHERE status IN {open_statuses}")
    return lambda: (db.session.execute(count).scalar(), db.session.execute(page, {"today": today}).all())


def open_actions_page(user, today):
    def load():
        page = queries.open_actions_page(user, today, per_page=PAGE)
        return page.total, [FindingSchema().dump(a.finding) | {"owner": a.owner.username} for a in page.items]

    return load


def busy_drill(rng: random.Random) -> Drill:
    """A completed drill given 20 findings, for the panel timing."""
    drill = db.session.scalar(
        sa.select(Drill).where(Drill.status == DrillStatus.COMPLETED, Drill.organizer_org_id.is_not(None)).limit(1)
    )
    owner = db.session.scalar(sa.select(User).where(User.org_id == drill.organizer_org_id))
    found_on = min(drill.ends_at.date(), local_today())
    for number in range(20):
        finding = Finding(
            drill_id=drill.id,
            org_id=drill.organizer_org_id,
            region_code=drill.region_code,
            summary=f"问题{number}",
            severity=Severity.MAJOR,
            category=FindingCategory.PLAN,
            found_on=found_on,
            version=1,
        )
        finding.corrective_action = CorrectiveAction(
            description="整改", owner_id=owner.id, due_on=found_on + timedelta(days=rng.randint(1, 60))
        )
        db.session.add(finding)
    db.session.commit()
    return drill


def run(engine_name: str, url: str, orgs: int, drills: int, per_drill: int, repeat: int) -> dict:
    app = make_app(url, TESTING=True)
    figures = {"engine": engine_name}
    rng = random.Random(2024)
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "en"}), force_locale("en"):
        fresh_database()
        start = time.perf_counter()
        seed_demo(org_count=orgs, drill_count=drills)
        figures["findings"] = seed_findings(per_drill, rng)
        figures["seed_s"] = time.perf_counter() - start
        drill = busy_drill(rng)
        analyze()
        today = local_today()

        def measure(action):
            return timed(action, repeat, between=db.session.expire_all)

        users = {
            name: db.session.scalar(sa.select(User).where(User.username == name))
            for name in ("admin", "wusu", "school")
        }
        figures["floor_ms"], (total, _rows) = measure(floor_query(today))
        figures["open"] = total
        for name, user in users.items():
            figures[f"{name}_ms"], (figures[f"{name}_total"], _items) = measure(open_actions_page(user, today))
        organiser = db.session.scalar(sa.select(User).where(User.org_id == drill.organizer_org_id))
        figures["panel_ms"], _ = measure(lambda: pages.drill_panel(organiser, drill))
        db.session.remove()
    return figures


def report(figures: dict, orgs: int, drills: int) -> None:
    floor = figures["floor_ms"]
    print(
        f"\n{figures['engine']}: {orgs:,} units, {drills:,} drills, {figures['findings']:,} findings "
        f"({figures['open']:,} open; seeded in {figures['seed_s']:.1f} s); first page of {PAGE}"
    )
    print(f"  {'floor: one SELECT … LIMIT 50 + COUNT, no scope':<50} {floor:9.1f} ms   1.0×")
    for key, label in (
        ("admin", "open actions, prefecture officer"),
        ("wusu", "open actions, Wusu coordinator"),
        ("school", "open actions, one school's staff"),
    ):
        print(
            f"  {label:<50} {figures[key + '_ms']:9.1f} ms {figures[key + '_ms'] / floor:6.1f}×   "
            f"({figures[key + '_total']:,} in scope)"
        )
    print(f"  {'drill panel, 20 findings (drill_panel())':<50} {figures['panel_ms']:9.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--drills", type=int, default=50000)
    parser.add_argument("--per-drill", type=int, default=2)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", PG_URL))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("DRILLMGR_INSTANCE", folder)
        for name in engines:
            url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}" if name == "sqlite" else args.pg_url
            report(run(name, url, args.orgs, args.drills, args.per_drill, args.repeat), args.orgs, args.drills)


if __name__ == "__main__":
    main()
