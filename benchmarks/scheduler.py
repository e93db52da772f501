"""Drill-reminder benchmark: who is reminded of what, decided per recipient in one UNION per 100
recipients (the job's way), beside the straightforward per-drill loop asking access.can_view_drill.

Builds data with the demo seeder (`--orgs N --drills M`) and one staff account per unit in a
temporary SQLite file (or an existing, emptied PostgreSQL database), then times, median of --repeat:
  1. naive: for every drill starting within 7 days, for every staff member of its organiser and
     participants, one can_view_drill query (what a per-drill job does);
  2. ours: reminder_jobs.reminder_targets — the same pairs, with the same double-blind rule;
  3. the whole drill_reminders job: first run (writes the notifications and mails), then a rerun for
     the same moment (idempotent: finds every dedupe key and writes nothing).

    .venv/bin/python benchmarks/scheduler.py [--orgs 2000] [--drills 50000] [--repeat 5]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_scheduler]
"""

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_babel import force_locale  # noqa: E402

from benchmarks._common import analyze, fresh_database, make_app, timed  # noqa: E402
from drillmgr.access import services as access  # noqa: E402
from drillmgr.accounts.models import User, new_feed_secret  # noqa: E402
from drillmgr.db import utcnow  # noqa: E402
from drillmgr.demo.services import seed_demo  # noqa: E402
from drillmgr.drills.models import Drill  # noqa: E402
from drillmgr.enums import DrillStatus, Role  # noqa: E402
from drillmgr.extensions import db  # noqa: E402
from drillmgr.notifications.models import Notification  # noqa: E402
from drillmgr.orgs.models import Organisation  # noqa: E402
from drillmgr.scheduler import reminder_jobs  # noqa: E402


def add_staff() -> int:
    org_ids = db.session.scalars(sa.select(Organisation.id)).all()
    now = utcnow()
    db.session.execute(
        sa.insert(User),
        [
            {
                "username": f"bench-staff-{org_id}",
                "username_key": f"bench-staff-{org_id}",
                "display_name": "",
                "email": f"staff{org_id}@example.cn",
                "password_hash": "-",
                "role": Role.ORG_STAFF,
                "org_id": org_id,
                "active": True,
                "is_demo": True,
                "feed_secret": new_feed_secret(),
                "feed_alarms": False,
                "created_at": now,
                "updated_at": now,
            }
            for org_id in org_ids
        ],
    )
    db.session.commit()
    return len(org_ids)


def upcoming_clause(moment):
    return sa.and_(
        Drill.status == DrillStatus.PLANNED, Drill.starts_at > moment, Drill.starts_at <= moment + timedelta(days=7)
    )


def naive_pairs(moment) -> set[tuple[int, int]]:
    """Per drill: its organiser's and participants' staff, each checked with can_view_drill."""
    pairs = set()
    for drill in db.session.scalars(sa.select(Drill).where(upcoming_clause(moment))):
        org_ids = {drill.organizer_org_id, *(org.id for org in drill.participants)} - {None}
        staff = db.session.scalars(
            sa.select(User).where(User.org_id.in_(org_ids), User.active.is_(True), User.role == Role.ORG_STAFF)
        ).all()
        pairs |= {(user.id, drill.id) for user in staff if access.can_view_drill(user, drill, moment)}
    return pairs


def our_pairs(moment) -> set[tuple[int, int]]:
    return set(reminder_jobs.reminder_targets(moment)[2])


def run(url: str, orgs: int, drills: int, repeat: int) -> None:
    app = make_app(url, TESTING=True)
    with app.app_context(), force_locale("en"):
        fresh_database()
        start = time.perf_counter()
        seed_demo(org_count=orgs, drill_count=drills)
        staff = add_staff()
        print(
            f"{db.engine.dialect.name}: {orgs:,} units, {drills:,} drills, {staff:,} staff "
            f"(seeded in {time.perf_counter() - start:.1f} s)"
        )
        analyze()
        moment = utcnow()
        window = db.session.scalar(sa.select(sa.func.count()).select_from(Drill).where(upcoming_clause(moment)))
        naive_ms, naive = timed(lambda: naive_pairs(moment), repeat)
        ours_ms, ours = timed(lambda: our_pairs(moment), repeat)
        assert naive == ours, "the two ways disagree on who is reminded"
        start = time.perf_counter()
        summary = reminder_jobs.drill_reminders(moment)
        db.session.commit()
        first_ms = (time.perf_counter() - start) * 1000
        rerun_ms, rerun = timed(lambda: reminder_jobs.drill_reminders(moment), repeat)
        notes = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
        print(f"  {window:,} drills within 7 days, {len(ours):,} (staff, drill) pairs that may be reminded")
        print(f"  {'naive: can_view_drill per drill and person':<46} {naive_ms:9.1f} ms")
        print(f"  {'ours: one UNION per 100 recipients':<46} {ours_ms:9.1f} ms   {naive_ms / ours_ms:5.1f}× faster")
        print(f"  {'drill_reminders, first run':<46} {first_ms:9.1f} ms   ({summary}; {notes:,} notifications)")
        print(f"  {'drill_reminders, rerun for the same moment':<46} {rerun_ms:9.1f} ms   ({rerun})")
        db.session.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--drills", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg-url", help="an existing PostgreSQL database to empty and use instead of SQLite")
    args = parser.parse_args()
    if args.pg_url:
        run(args.pg_url, args.orgs, args.drills, args.repeat)
        return
    with tempfile.TemporaryDirectory() as folder:
        run(f"sqlite:///{Path(folder) / 'bench.sqlite3'}", args.orgs, args.drills, args.repeat)


if __name__ == "__main__":
    main()
