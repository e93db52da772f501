"""Feed sizes: what a coordinator's region feed weighs with each filter, as a calendar program fetches it.

On a database seeded with `drillmgr seed-demo` (e.g. `--orgs 2000 --drills 50000`), reads the region feed of
the coordinator `--user` (default: the demo's 乌苏市 coordinator, `wusu`) through its signed links, the default
one (key drills and report deadlines) and a few others, and prints for each its bytes, drill events, deadlines
and the time of the first (cold) and a second fetch. Changes nothing but the feeds' kept versions and bytes.

    DATABASE_URL=sqlite:////tmp/feedfilters.sqlite3 .venv/bin/python benchmarks/feed_sizes.py
"""

import argparse
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from benchmarks._common import make_app  # noqa: E402
from drillmgr.accounts.models import User  # noqa: E402
from drillmgr.calendars import feeds  # noqa: E402
from drillmgr.calendars.filters import EVERYTHING, KEY_DRILLS, FeedFilter  # noqa: E402
from drillmgr.calendars.links import feed_links  # noqa: E402
from drillmgr.calendars.preview import DEADLINE_EVENT, DRILL_EVENT  # noqa: E402
from drillmgr.enums import DrillForm, DrillScope, OrgKind  # noqa: E402
from drillmgr.extensions import db  # noqa: E402

FILTERS = {
    "default (key drills and deadlines)": None,
    "key drills, said in the link": KEY_DRILLS,
    "everything (show=all)": EVERYTHING,
    "live drills only": FeedFilter(forms=frozenset({DrillForm.LIVE})),
    "comprehensive drills only": FeedFilter(scopes=frozenset({DrillScope.COMPREHENSIVE})),
    "schools' evacuation drills": FeedFilter(
        forms=frozenset({DrillForm.EVACUATION}), kinds=frozenset({OrgKind.SCHOOL})
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL"), help="default: $DATABASE_URL")
    parser.add_argument("--user", default="wusu", help="a coordinator, viewer or admin (default: wusu)")
    args = parser.parse_args()
    if not args.database:
        parser.error("give --database or set DATABASE_URL")
    app = make_app(args.database)
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == args.user)).one()
        client = app.test_client()
        print(f"{'filter':<38} {'bytes':>11} {'drills':>7} {'deadlines':>9} {'cold ms':>8} {'warm ms':>8}")
        for name, selection in FILTERS.items():
            link = feed_links(user, selections={feeds.REGION: selection} if selection else None)["region"]["url"]
            parts = urlsplit(link)
            times, body = [], b""
            for _ in range(2):
                start = time.perf_counter()
                response = client.get(f"{parts.path}?{parts.query}")
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.data
                body = response.data
            print(
                f"{name:<38} {len(body):>11,} {body.count(DRILL_EVENT):>7,} {body.count(DEADLINE_EVENT):>9} "
                f"{times[0]:>8.0f} {times[1]:>8.0f}"
            )


if __name__ == "__main__":
    main()
