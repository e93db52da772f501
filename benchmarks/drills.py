"""Drill list benchmark: the scoped, double-blind-aware drill list and month calendar beside the floor.

Builds data with the demo seeder (`--orgs N --drills M`, bulk inserts) into a temporary SQLite file
(or an existing, emptied PostgreSQL database), then times in-process through the Flask test client,
median of --repeat runs:
  1. floor: one page of 100 drills and the total, straight SQL without any scope or double-blind rule;
  2. GET /api/v1/drills?per_page=100 as the admin, the Wusu coordinator and a school's staff;
  3. the same with filters (region, form, date range);
  4. the web list page (25 a page) and the month calendar of a busy month, as the admin;
  5. creating a recurring series through the API (its drills for a year ahead), as a school's staff.

    .venv/bin/python benchmarks/drills.py --orgs 2000 --drills 50000 [--repeat 7]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_drills]
"""

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from benchmarks._common import fresh_database, make_app, timed  # noqa: E402
from drillmgr.accounts.models import User  # noqa: E402
from drillmgr.accounts.services import issue_token  # noqa: E402
from drillmgr.demo.services import seed_demo  # noqa: E402
from drillmgr.drills.models import Drill  # noqa: E402
from drillmgr.extensions import db  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--drills", type=int, default=50000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="bench-drills-")
    os.environ["DRILLMGR_INSTANCE"] = folder

    app = make_app(args.database_url or f"sqlite:///{folder}/bench.sqlite3", RATELIMIT_ENABLED=False)
    with app.app_context():
        fresh_database()
        started = time.perf_counter()
        summary = seed_demo(org_count=args.orgs, drill_count=args.drills)
        print(
            f"{db.engine.dialect.name}: seeded {summary.orgs} organisations and {summary.drills} drills "
            f"in {time.perf_counter() - started:.1f} s"
        )
        users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.is_demo.is_(True)))}
        tokens = {name: {"Authorization": f"Bearer {issue_token(user)}"} for name, user in users.items()}
        months = Counter((s.year, s.month) for s in db.session.scalars(sa.select(Drill.starts_at)))
        (year, month_number), _count = months.most_common(1)[0]
        client = app.test_client()

        def floor():
            db.session.execute(
                sa.select(Drill.id, Drill.title, Drill.starts_at).order_by(Drill.starts_at.desc()).limit(100)
            ).all()
            db.session.scalar(sa.select(sa.func.count()).select_from(Drill))
            db.session.rollback()

        def api(user, query=""):
            def call():
                response = client.get(f"/api/v1/drills?per_page=100{query}", headers=tokens[user])
                assert response.status_code == 200, response.get_data(as_text=True)

            return call

        def page(user, url):
            web = app.test_client()
            with web.session_transaction() as session:
                session["_user_id"] = str(users[user].id)
                session["_fresh"] = True

            def call():
                response = web.get(url)
                assert response.status_code == 200

            return call

        def series(user, rule):
            start = datetime.now(ZoneInfo("Asia/Shanghai")).replace(
                hour=10, minute=0, second=0, microsecond=0
            ) + timedelta(days=7)
            body = {
                "title": "系列演练",
                "form": "evacuation",
                "organizer_org_id": user.org_id,
                "rrule": rule,
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(minutes=45)).isoformat(),
            }

            def call():
                response = client.post("/api/v1/drill-series", json=body, headers=tokens[user.username])
                assert response.status_code == 201, response.get_data(as_text=True)

            return call

        filters = f"&region=654202&form=evacuation&from={year}-01-01&to={year}-12-31"
        rows = [("floor: 100 drills + total, plain SQL", floor)]
        for user in ("admin", "wusu", "school"):
            if user in users:
                rows.append((f"API list, 100 a page, as {user}", api(user)))
        rows.append(("API list with region/form/date filters, as wusu", api("wusu", filters)))
        rows.append(("web list page, as admin", page("admin", "/drills/")))
        rows.append(
            (
                f"month calendar {year}-{month_number:02d} ({_count} drills), as admin",
                page("admin", f"/drills/calendar?year={year}&month={month_number}"),
            )
        )
        if "school" in users:
            for rule, label in (
                ("FREQ=MONTHLY;BYMONTHDAY=15", "monthly, 12 drills"),
                ("FREQ=WEEKLY", "weekly, 53 drills"),
                ("FREQ=MONTHLY;BYMONTH=3,4,5,6,9,10,11,12;BYDAY=1MO", "school months, 8 drills"),
            ):
                rows.append((f"API create a series ({label}), as school", series(users["school"], rule)))
        for label, action in rows:
            print(f"  {label:<52} {timed(action, args.repeat, warm_up=True)[0]:8.1f} ms")


if __name__ == "__main__":
    main()
