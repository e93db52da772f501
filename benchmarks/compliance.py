"""Compliance benchmark: a full evaluation beside one hand-written aggregate query (the floor).

Builds data with the demo seeder (`seed-demo --orgs N --drills M`, bulk inserts) into a fresh
database — a temporary SQLite file and/or a PostgreSQL database — then times, median of --repeat runs:
  1. floor: one aggregate over the same drills — completed and planned drills per organiser and
     Beijing month of the year (GROUP BY org, month), the shape of the largest rule's work;
  2. evaluate(): every rule of the year for every subject of the prefecture (as the nightly job);
  3. the dashboard an admin opens for the prefecture (evaluate + key-county panel, overdue actions,
     monthly chart);
  4. the dashboard of the Wusu coordinator (one county, double-blind visibility applied);
  5. the school-evacuation list of the prefecture (every school, status, reason, due date) for the admin;
  6. one school's own obligations, as its staff see them;
  7. both dashboards again, reading the kept statuses (drillmgr.compliance.kept) as every view does
     but the first after a change: 3 and 4 evaluate on every view (COMPLIANCE_KEPT_SECONDS=0);
  8. both dashboards as first seen after a change: of one drill of a Wusu township (only Wusu's statuses are
     evaluated again, each county's being kept apart, and only that township's drills counted again) and of a
     rule (every county's are);
  9. both dashboards with nothing changed, the views a minute apart (5 to 15 minutes on, when no midnight falls
     between): read, as kept values hold until the clock changes them; and beside them, as when a kept value
     held for a minute (COMPLIANCE_KEPT_SECONDS=60 then): made again.

    .venv/bin/python benchmarks/compliance.py --orgs 2000 --drills 50000 [--engine sqlite|postgresql|both]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_compliance] [--repeat 5] [--evaluate-only]

The PostgreSQL database must exist (createdb bench_compliance) and is emptied first.
"""

import argparse
import itertools
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_babel import force_locale  # noqa: E402

from benchmarks._common import analyze, fresh_database, make_app, timed_with_cpu  # noqa: E402
from drillmgr.accounts.models import User  # noqa: E402
from drillmgr.compliance.dashboard import build_dashboard  # noqa: E402
from drillmgr.compliance.models import ComplianceRule  # noqa: E402
from drillmgr.drills.models import Drill  # noqa: E402
from drillmgr.compliance.obligations import rule_list, unit_obligations  # noqa: E402
from drillmgr.compliance.periods import periods  # noqa: E402
from drillmgr.access.services import SYSTEM  # noqa: E402
from drillmgr.compliance.evaluation import evaluate  # noqa: E402
from drillmgr.db import utcnow  # noqa: E402
from drillmgr.demo.services import seed_demo  # noqa: E402
from drillmgr.enums import OrgKind, Role  # noqa: E402
from drillmgr.localtime import local_today
from drillmgr.orgs.models import Organisation  # noqa: E402
from drillmgr.extensions import db  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_compliance"


def floor_query(year: int):
    """The hand-written floor: drills per organiser and Beijing month, completed and planned, in one GROUP BY."""
    months = periods("month", year, range(1, 13))
    bounds = {f"s{i}": p.start for i, p in enumerate(months)} | {f"e{i}": p.end for i, p in enumerate(months)}
    if db.engine.dialect.name == "sqlite":
        bounds = {k: v.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") for k, v in bounds.items()}
    case = " ".join(f"WHEN starts_at >= :s{i} AND starts_at < :e{i} THEN {i}" for i in range(12))
    # The best plan on each engine: SQLite scans (unary + keeps it off the starts_at index, see sqlfuncs.scanned).
    column = "+starts_at" if db.engine.dialect.name == "sqlite" else "starts_at"
    sql = sa.text(f"""
        SELECT organizer_org_id, m,
               count(CASE WHEN status = 'completed' THEN 1 END) AS done,
               count(CASE WHEN status = 'planned' THEN 1 END) AS planned
        FROM (SELECT organizer_org_id, status, CASE {case} END AS m FROM drills
              WHERE status <> 'cancelled' AND {column} >= :s0 AND {column} < :e11) AS d
        GROUP BY organizer_org_id, m""")
    return lambda: db.session.execute(sql, bounds).all()


def run(
    engine_name: str, url: str, orgs: int, drills: int, repeat: int, reuse: bool = False, evaluate_only: bool = False
) -> dict:
    # No statement timeout: at national scale the unit rules' one aggregate (2 million cells) runs longer than
    # the 20 s a request's statement may (DB_STATEMENT_TIMEOUT_MS); it is the nightly job's work.
    app = make_app(url, TESTING=True, DB_STATEMENT_TIMEOUT_MS=0)
    figures = {"engine": engine_name, "seed_s": 0.0}
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "en"}), force_locale("en"):
        if not reuse:
            fresh_database()
            start = time.perf_counter()
            seed_demo(org_count=orgs, drill_count=drills)
            figures["seed_s"] = time.perf_counter() - start
        analyze()
        year = local_today(datetime.now(timezone.utc)).year
        evaluate(year, actor=SYSTEM)  # materialise the year's rules outside the timings
        admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
        wusu = db.session.scalar(sa.select(User).where(User.username == "wusu"))
        figures["floor_ms"], rows = timed_with_cpu(floor_query(year), repeat)
        figures["floor_rows"] = len(rows)
        figures["evaluate_ms"], results = timed_with_cpu(lambda: evaluate(year, actor=SYSTEM), repeat)
        figures["subjects"] = sum(len(r.results) for r in results)
        if evaluate_only:
            db.session.remove()
            return figures
        # Evaluated on every view (no kept result is fresh for 0 s), as before results were kept …
        app.config["COMPLIANCE_KEPT_SECONDS"] = 0
        figures["dashboard_ms"], _ = timed_with_cpu(lambda: build_dashboard(admin, year, "654200"), repeat)
        figures["county_ms"], _ = timed_with_cpu(lambda: build_dashboard(wusu, year, "654202"), repeat)
        figures["list_ms"], listed = timed_with_cpu(
            lambda: rule_list(admin, year, "654200", "school-evacuation"), repeat
        )
        figures["listed"] = len(listed.rows)
        school = db.session.scalar(
            sa.select(Organisation).where(Organisation.kind == OrgKind.SCHOOL).order_by(Organisation.id).limit(1)
        )
        staff = User(
            username="bench-school-staff",
            email="bench-school-staff@example.cn",
            display_name="bench",
            password_hash="!",
            role=Role.ORG_STAFF,
            org_id=school.id,
        )
        db.session.add(staff)
        db.session.flush()
        figures["unit_ms"], _ = timed_with_cpu(lambda: unit_obligations(staff, year, school.id), repeat)
        db.session.rollback()
        # … and read from the kept results, as every view but the first after a change (or a minute) does.
        app.config["COMPLIANCE_KEPT_SECONDS"] = 3600
        build_dashboard(admin, year, "654200"), build_dashboard(wusu, year, "654202")
        figures["dashboard_kept_ms"], _ = timed_with_cpu(lambda: build_dashboard(admin, year, "654200"), repeat)
        figures["county_kept_ms"], _ = timed_with_cpu(lambda: build_dashboard(wusu, year, "654202"), repeat)
        # The first view after a change: of one drill held in a Wusu township (Wusu's statuses alone are evaluated
        # again, and that township's drills counted again), and of a rule (every county's are). Each change is
        # committed, as a request commits it.
        drill_id = db.session.scalar(
            sa.select(Drill.id).where(Drill.region_code.like("654202_%")).order_by(Drill.id).limit(1)
        )
        rule_id = db.session.scalar(sa.select(ComplianceRule.id).where(ComplianceRule.year == year).limit(1))
        for name, change in (
            ("drill", lambda: _retitle(Drill, drill_id)),
            ("rule", lambda: _retitle(ComplianceRule, rule_id)),
        ):
            figures[f"dashboard_{name}_ms"], _ = timed_with_cpu(
                lambda change=change: (change(), build_dashboard(admin, year, "654200")), repeat
            )
            figures[f"county_{name}_ms"], _ = timed_with_cpu(
                lambda change=change: (change(), build_dashboard(wusu, year, "654202")), repeat
            )
        # Nothing changed, the views a minute apart from five minutes on (within the fifteen a kept value may be
        # old); as kept values hold now (until the clock changes them), and as they did, for a minute.
        build_dashboard(admin, year, "654200"), build_dashboard(wusu, year, "654202")
        for name, kept_seconds in (("later", 900), ("later_minute", 60)):
            app.config["COMPLIANCE_KEPT_SECONDS"] = kept_seconds
            seconds = itertools.count(300, 61)
            for who, region in (("dashboard", "654200"), ("county", "654202")):
                user = admin if who == "dashboard" else wusu
                figures[f"{who}_{name}_ms"], _ = timed_with_cpu(
                    lambda user=user, region=region, seconds=seconds: build_dashboard(
                        user, year, region, now=utcnow() + timedelta(seconds=next(seconds))
                    ),
                    repeat,
                )
        db.session.remove()
    return figures


def _retitle(model, row_id: int) -> None:
    row = db.session.get(model, row_id)
    row.title = row.title[:-1] if row.title.endswith("·") else f"{row.title}·"
    db.session.commit()


def report(figures: dict, orgs: int, drills: int) -> None:
    floor_wall, floor_cpu = figures["floor_ms"]
    print(
        f"\n{figures['engine']}: {orgs:,} units, {drills:,} drills (seeded in {figures['seed_s']:.1f} s); "
        f"{figures['subjects']:,} rule results; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"  {'':<46} {'wall':>9}    {'ratio':>5}  {'cpu here':>9}")
    print(
        f"  {'floor: one GROUP BY org, month':<46} {floor_wall:9.1f} ms {1:6.1f}× {floor_cpu:9.1f} ms"
        f"   ({figures['floor_rows']:,} rows)"
    )
    for key, label in (
        ("evaluate_ms", "evaluate(): all rules, all subjects"),
        ("dashboard_ms", "prefecture dashboard (admin)"),
        ("county_ms", "county dashboard (Wusu coordinator)"),
        ("list_ms", f"school list, prefecture ({figures.get('listed', 0):,} schools)"),
        ("unit_ms", "one school's obligations (its staff)"),
        ("dashboard_kept_ms", "prefecture dashboard, kept statuses read"),
        ("county_kept_ms", "county dashboard, kept statuses read"),
        ("dashboard_drill_ms", "prefecture dashboard after a Wusu drill changed"),
        ("county_drill_ms", "county dashboard after a Wusu drill changed"),
        ("dashboard_rule_ms", "prefecture dashboard after a rule changed"),
        ("county_rule_ms", "county dashboard after a rule changed"),
        ("dashboard_later_ms", "prefecture dashboard a minute on, nothing changed"),
        ("county_later_ms", "county dashboard a minute on, nothing changed"),
        ("dashboard_later_minute_ms", "  the same, a kept value held for a minute"),
        ("county_later_minute_ms", "  the same, county, held for a minute"),
    ):
        if key not in figures:  # --evaluate-only
            continue
        wall, cpu = figures[key]
        print(f"  {label:<46} {wall:9.1f} ms {wall / floor_wall:6.1f}× {cpu:9.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--drills", type=int, default=50000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", PG_URL))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqlite-file", help="SQLite database file (default: a temporary one).")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Time the data already in the databases (PostgreSQL, --sqlite-file) instead of seeding.",
    )
    parser.add_argument(
        "--evaluate-only", action="store_true", help="Time the floor and evaluate() alone, not the dashboards."
    )
    args = parser.parse_args()
    engines = ("sqlite", "postgresql") if args.engine == "both" else (args.engine,)
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("DRILLMGR_INSTANCE", folder)
        for name in engines:
            sqlite_file = args.sqlite_file or Path(folder) / "bench.sqlite3"
            url = f"sqlite:///{sqlite_file}" if name == "sqlite" else args.pg_url
            reuse = args.reuse and (name == "postgresql" or args.sqlite_file is not None)
            figures = run(name, url, args.orgs, args.drills, args.repeat, reuse, args.evaluate_only)
            report(figures, args.orgs, args.drills)


if __name__ == "__main__":
    main()
