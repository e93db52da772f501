"""Calendar feed benchmark: our feed against a naive icalendar render and Radicale, side by side.

Builds a county (乌苏市) with N drills (default 5,000) in a temporary SQLite database, serves our app
on loopback and measures over HTTP, as a calendar program polls:
  1. our region feed: first render (cold caches), render after one drill changed, unchanged poll
     (validator + cached bytes), and the 304 answer to If-None-Match;
  2. the same events rendered naively with icalendar in one go (load the drills, build one Calendar
     of Events, serialise) — what a straightforward implementation does on every poll;
  3. Radicale (the Python CalDAV server) run on loopback as a subprocess with its own configuration
     in a temporary folder, holding the same events as one collection (PUT once), warm GETs.

    .venv/bin/python benchmarks/feeds.py [--drills 5000] [--repeat 15]
"""

import argparse
import base64
import http.client
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_babel import force_locale  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from benchmarks._common import make_app, timed  # noqa: E402
from drillmgr.accounts.models import User, new_feed_secret  # noqa: E402
from drillmgr.calendars import feeds, ical, links  # noqa: E402
from drillmgr.calendars.filters import EVERYTHING  # noqa: E402
from drillmgr.drills.models import Drill  # noqa: E402
from drillmgr.enums import DrillForm, DrillScope, DrillStatus, OrgKind, Role  # noqa: E402
from drillmgr.extensions import db  # noqa: E402
from drillmgr.orgs.models import Organisation  # noqa: E402
from drillmgr.regions.services import ensure_tacheng  # noqa: E402

WUSU = "654202"
WHOLE = {"show": "all"}  # the link's query for every drill of the region


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ms(action, repeat: int) -> float:
    """Mean CPU time of this process per run: the cost itself, whatever else the machine is doing."""
    start = time.process_time()
    for _ in range(repeat):
        action()
    return (time.process_time() - start) * 1000 / repeat


def http_get(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def build(drill_count: int) -> User:
    """A county with 60 units and `drill_count` drills over the feed's years, some double-blind or cancelled."""
    rng = random.Random(5545)
    ensure_tacheng()
    orgs = [
        Organisation(name=f"乌苏市第{i + 1}中学", kind=OrgKind.SCHOOL, region_code=WUSU, headcount=800)
        for i in range(60)
    ]
    db.session.add_all(orgs)
    coordinator = User(
        username="bench-coordinator",
        role=Role.COORDINATOR,
        region_code=WUSU,
        feed_secret=new_feed_secret(),
        password_hash="!",
    )
    db.session.add(coordinator)
    db.session.flush()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = datetime(now.year - 1, 1, 10, 2, tzinfo=timezone.utc)
    span_hours = int(((datetime(now.year + 2, 12, 20, tzinfo=timezone.utc)) - start).total_seconds() // 3600)
    forms = list(DrillForm)
    rows = []
    for i in range(drill_count):
        starts = start + timedelta(hours=rng.randrange(span_hours))
        org = rng.choice(orgs)
        cancelled = i % 50 == 0
        rows.append(
            {
                "title": f"{org.name}"
                f"{forms[i % 3].value == 'evacuation' and '地震避险疏散演练' or '地震应急演练'}（第{i + 1}次）",
                "description": "按照《塔城地区2024年防震减灾工作要点》开展，检验应急预案、指挥协调和自救互救能力。",
                "form": forms[i % 3],
                "scope": DrillScope.SINGLE if i % 7 else DrillScope.COMPREHENSIVE,
                "double_blind": i % 97 == 0,
                "organizer_org_id": org.id,
                "region_code": WUSU,
                "starts_at": starts,
                "ends_at": starts + timedelta(minutes=45 + 15 * (i % 8)),
                "location": f"{org.name}教学楼及操场, 东门集合点",
                "public": i % 3 == 0,
                "status": DrillStatus.CANCELLED if cancelled else DrillStatus.PLANNED,
                "cancelled_at": now - timedelta(days=i % 120) if cancelled else None,
                "cancel_reason": "天气原因" if cancelled else "",
                "sequence": i % 3,
                "version": 1 + i % 3,
                "created_at": now - timedelta(days=200),
                "updated_at": now - timedelta(days=1 + i % 150),
            }
        )
    db.session.execute(sa.insert(Drill), rows)
    db.session.commit()
    return coordinator


def naive_render(feed) -> bytes:
    """What a straightforward implementation does per poll: load everything, build icalendar objects."""
    now = datetime.now(timezone.utc)
    years = feeds.feed_years(now, feed.style.tzid)
    drills = (
        db.session.scalars(
            sa.select(Drill)
            .where(*feeds.feed_filters(feed, now, years), feeds.shown_clause(now))
            .order_by(Drill.starts_at, Drill.id)
            .options(
                sa.orm.joinedload(Drill.organizer_org),
                sa.orm.joinedload(Drill.organizer_region),
                sa.orm.joinedload(Drill.region),
                sa.orm.lazyload(Drill.focus_rows),
                sa.orm.lazyload(Drill.participants),
                sa.orm.lazyload(Drill.evaluators),
            )
        )
        .unique()
        .all()
    )
    with force_locale(feed.style.locale):
        cal = ical.calendar_head(feed.name, feed.description, feed.style.tzid)
        cal.add_component(ical.short_timezone(feed.style.tzid, *years))
        for drill in drills:
            cal.add_component(ical.drill_event(drill, feed.style))
        data = cal.to_ical()
    db.session.expunge_all()
    return data


class Radicale:
    """Radicale on loopback with its own configuration and storage in a temporary folder."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "radicale.conf"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            "[auth]\ntype = none\n"
            "[rights]\ntype = owner_only\n"
            f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
            "[web]\ntype = none\n"
            "[logging]\nlevel = warning\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.auth = {"Authorization": "Basic " + base64.b64encode(b"bench:bench").decode()}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.process.stderr.read().decode()) from None
                time.sleep(0.1)
        raise RuntimeError("Radicale did not start")

    def put_collection(self, path: str, body: bytes) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            connection.request(
                "PUT", path, body=body, headers={**self.auth, "Content-Type": "text/calendar; charset=utf-8"}
            )
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def get(self, path: str) -> tuple[int, bytes]:
        status, body, _headers = http_get(self.port, path, self.auth)
        return status, body

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drills", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="drillmgr-bench-") as tmp:
        folder = Path(tmp)
        os.environ["DRILLMGR_INSTANCE"] = str(folder)

        app = make_app(
            f"sqlite:///{folder / 'bench.sqlite3'}", CALENDAR_DIR=str(folder / "calendars"), RATELIMIT_ENABLED=False
        )
        with app.app_context():
            db.create_all()
            coordinator = build(args.drills)
            # Every drill of the county (show=all), not only the key drills a region link gives by default.
            token = links.feed_token(coordinator, feeds.REGION, WUSU, EVERYTHING)
            feed = links.feed_for_token(feeds.REGION, WUSU, token, WHOLE)
            shown = len(
                db.session.execute(
                    sa.select(Drill.id).where(
                        *feeds.feed_filters(
                            feed,
                            datetime.now(timezone.utc),
                            feeds.feed_years(datetime.now(timezone.utc), feed.style.tzid),
                        ),
                        feeds.shown_clause(datetime.now(timezone.utc)),
                    )
                ).all()
            )
            db.session.remove()

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        port = free_port()
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        path = f"/calendars/region/{WUSU}.ics?token={token}&show=all"

        first_ms, (status, body, headers) = timed(lambda: http_get(port, path), 1)
        assert status == 200, body[:300]
        etag = headers["ETag"]

        def change_one_drill(n):
            with app.app_context():
                drill = db.session.scalars(
                    sa.select(Drill)
                    .where(Drill.status == DrillStatus.PLANNED)
                    .order_by(Drill.id)
                    .offset(n * 37)
                    .limit(1)
                ).one()
                drill.title = f"{drill.title}（已调整{n}）"
                drill.version += 1
                drill.updated_at = datetime.now(timezone.utc)
                db.session.commit()
                db.session.remove()

        changed_times = []
        for n in range(1, 6):
            change_one_drill(n)
            ms, (status, body, headers) = timed(lambda: http_get(port, path), 1)
            assert status == 200
            changed_times.append(ms)
        changed_ms = statistics.median(changed_times)
        etag = headers["ETag"]
        unchanged_ms, (status, unchanged_body, _h) = timed(lambda: http_get(port, path), args.repeat * 2)
        assert status == 200 and unchanged_body == body
        not_modified_ms, (status, _b, _h) = timed(
            lambda: http_get(port, path, {"If-None-Match": etag}), args.repeat * 4
        )
        assert status == 304
        floor_ms, (status, _b, _h) = timed(lambda: http_get(port, "/static/drillmgr.css"), args.repeat * 4)
        assert status == 200

        client = app.test_client()
        inproc_unchanged_ms, inproc = timed(lambda: client.get(path), args.repeat * 2)
        assert inproc.status_code == 200 and inproc.data == body
        inproc_304_ms, inproc = timed(lambda: client.get(path, headers={"If-None-Match": etag}), args.repeat * 4)
        assert inproc.status_code == 304
        unchanged_cpu_ms = cpu_ms(lambda: client.get(path), args.repeat * 2)
        not_modified_cpu_ms = cpu_ms(lambda: client.get(path, headers={"If-None-Match": etag}), args.repeat * 4)

        with app.app_context():
            feed = links.feed_for_token(feeds.REGION, WUSU, token, WHOLE)
            naive_ms, naive_body = timed(lambda: naive_render(feed), 3)
            db.session.remove()
        server.shutdown()

        radicale = Radicale(folder / "radicale")
        try:
            put_start = time.perf_counter()
            put_status = radicale.put_collection("/bench/drills/", body)
            put_ms = (time.perf_counter() - put_start) * 1000
            assert put_status in (200, 201, 204), put_status
            status, radicale_body = radicale.get("/bench/drills/")
            assert status == 200
            radicale_ms, (status, radicale_body) = timed(lambda: radicale.get("/bench/drills/"), 5)
            radicale_events = radicale_body.count(b"BEGIN:VEVENT")
        finally:
            radicale.stop()

    events = body.count(b"BEGIN:VEVENT")
    print(
        f"drills in the county: {args.drills}; events in the coordinator's region feed: {events} "
        f"({shown} drills, the rest observance/deadline days); feed size {len(body) / 1024:.0f} KiB"
    )
    print(f"Python {sys.version.split()[0]}, SQLite, one process, HTTP over loopback; medians")
    rows = [
        ("our feed: first render (cold caches)", first_ms),
        ("our feed: after one drill changed", changed_ms),
        ("our feed: unchanged poll (200, cached bytes)", unchanged_ms),
        ("our feed: 304 (If-None-Match)", not_modified_ms),
        ("  in process (Flask test client): unchanged poll", inproc_unchanged_ms),
        ("  in process (Flask test client): 304", inproc_304_ms),
        ("  CPU time of the unchanged poll, in process", unchanged_cpu_ms),
        ("  CPU time of the 304, in process", not_modified_cpu_ms),
        ("  HTTP floor: GET of a small static file", floor_ms),
        ("naive icalendar render of the same events", naive_ms),
        (f"Radicale warm GET of the collection ({radicale_events} events)", radicale_ms),
    ]
    for label, ms in rows:
        print(f"  {label:<58} {ms:10.2f} ms")
    print(f"  (Radicale: one PUT of the whole collection took {put_ms:.0f} ms)")
    print(
        f"ratios: naive / unchanged = {naive_ms / unchanged_ms:.0f}x (target >= 30x); "
        f"Radicale / unchanged = {radicale_ms / unchanged_ms:.0f}x (target >= 20x); "
        f"naive / after one change = {naive_ms / changed_ms:.1f}x; "
        f"304 = {not_modified_ms:.2f} ms over HTTP, {not_modified_cpu_ms:.2f} ms of CPU"
    )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    assert len(naive_body) > 0


if __name__ == "__main__":
    main()
