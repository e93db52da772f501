"""Page benchmark: what a coordinator's pages and API lists cost at prefecture scale, one request at a time.

Uses a database already seeded with `drillmgr seed-demo --orgs 2000 --drills 50000` (seeding takes minutes:
do it once, e.g. into PostgreSQL's `bench_speed`, and reuse it) and the demo coordinator `wusu`:

    export DRILLMGR_SQLALCHEMY_DATABASE_URI=postgresql+psycopg://postgres@127.0.0.1:5432/bench_speed
    .venv/bin/drillmgr db upgrade
    .venv/bin/drillmgr seed-demo --orgs 2000 --drills 50000
    .venv/bin/python benchmarks/pages.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_speed

Default: serves the app with gunicorn (3 workers, loopback, a free port), logs in and times each request of
the issue-13 table over HTTP — the first answers of freshly started workers (a cold worker, whatever another
worker or the store already keeps), then the median and p90 of `--repeat` warm answers. `--restart` serves
twice with a restart between, to show that the second start finds the feed rendered by the first.
`--profile` instead runs each page in this process under pyinstrument and counts its SQL statements
(writing one HTML profile per page to --out).
"""

import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USER, PASSWORD = "wusu", "drillmgr-demo"
SERVER_SECRET_KEY = "benchmark-secret-key"
PAGES = [
    ("/", "/"),
    ("/drills/", "/drills/"),
    ("/drills/calendar", "/drills/calendar"),
    ("/compliance/", "/compliance/"),
    ("/findings/actions", "/findings/actions"),
    ("/api/v1/drills?per_page=50", "/api/v1/drills?per_page=50"),
    ("/api/v1/compliance", "/api/v1/compliance"),
    ("region feed 654202", None),  # the signed link, asked for at run time
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database: str) -> dict:
    env = dict(
        os.environ,
        DRILLMGR_SQLALCHEMY_DATABASE_URI=database,
        DRILLMGR_SECRET_KEY=SERVER_SECRET_KEY,
        DRILLMGR_ENV="development",
        DRILLMGR_INSTANCE=str(Path("/tmp") / f"drillmgr-bench-{os.getpid()}"),
    )
    env.pop("DRILLMGR_BASE_URL", None)
    return env


def start_server(database: str, workers: int, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "60",
            "--log-level",
            "warning",
            "drillmgr:create_app()",
        ],
        cwd=ROOT,
        env=server_env(database),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise SystemExit("gunicorn did not start")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Session:
    """A browser-like client: the web session's cookie for pages, a bearer token for the API."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.token = None

    def login(self) -> None:
        form = self.opener.open(self.base + "/login", timeout=30).read().decode()
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form) or re.search(
            r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', form
        )
        data = urllib.parse.urlencode(
            {"csrf_token": csrf.group(1) if csrf else "", "username": USER, "password": PASSWORD}
        ).encode()
        self.opener.open(self.base + "/login", data=data, timeout=30).read()
        request = urllib.request.Request(
            self.base + "/api/v1/auth/token",
            method="POST",
            data=json.dumps({"username": USER, "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        self.token = json.loads(self.opener.open(request, timeout=30).read())["token"]

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def headers_for(self, path: str) -> dict:
        if path.startswith("/api/"):
            return {"Authorization": f"Bearer {self.token}"}
        if path.startswith("/calendars/"):
            return {}
        return {"Cookie": self.cookie_header()}

    def region_feed_path(self) -> str:
        request = urllib.request.Request(self.base + "/api/v1/me/feeds", headers=self.headers_for("/api/"))
        url = json.loads(urllib.request.urlopen(request, timeout=30).read())["region"]["url"]
        parts = urllib.parse.urlsplit(url)
        return f"{parts.path}?{parts.query}"

    def get(self, path: str) -> tuple[float, int, int]:
        """Milliseconds to the whole answer, its status and its size."""
        request = urllib.request.Request(self.base + path, headers=self.headers_for(path))
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            body, status = error.read(), error.code
        return (time.perf_counter() - start) * 1000, status, len(body)


def whole_region_feed_path(database: str, secret_key: str = SERVER_SECRET_KEY) -> str:
    """The signed link of the coordinator's region feed with every drill (`show=all`), made here with the
    server's key: the links the API gives show only the key drills, and issue 13 measures the whole feed."""
    import sqlalchemy as sa

    from benchmarks._common import make_app
    from drillmgr.accounts.models import User
    from drillmgr.calendars.feeds import REGION
    from drillmgr.calendars.filters import EVERYTHING
    from drillmgr.calendars.links import feed_links
    from drillmgr.extensions import db

    with make_app(database, SECRET_KEY=secret_key).app_context():
        user = db.session.scalars(sa.select(User).where(User.username == USER)).one()
        url = feed_links(user, selections={REGION: EVERYTHING})["region"]["url"]
        db.session.remove()
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def resolve(session: Session, database: str) -> list[tuple[str, str]]:
    session.region_feed_path()  # the API's links answer (they are the key drills' links)
    feed = whole_region_feed_path(database)
    return [(label, path or feed) for label, path in PAGES]


def serve_and_time(database: str, workers: int, repeat: int, cold: int) -> dict:
    port = free_port()
    process = start_server(database, workers, port)
    try:
        session = Session(f"http://127.0.0.1:{port}")
        session.login()
        pages = resolve(session, database)
        figures = {}
        for label, path in pages:
            firsts = [session.get(path) for _ in range(cold)]  # round-robin over the fresh workers
            warm = [session.get(path) for _ in range(repeat)]
            bad = [status for _ms, status, _size in firsts + warm if status != 200]
            times = sorted(ms for ms, _status, _size in warm)
            figures[label] = {
                "first": [round(ms) for ms, _s, _n in firsts],
                "median": statistics.median(times),
                "p90": times[int(0.9 * (len(times) - 1))],
                "bytes": warm[-1][2],
                "errors": bad,
            }
        return figures
    finally:
        stop_server(process)


def print_table(runs: list[dict]) -> None:
    for number, figures in enumerate(runs, 1):
        print(f"\nserver start {number}: first answers of fresh workers, then warm median and p90 (ms)")
        print("| request | first answers | median | p90 | bytes |\n|---|---|---:|---:|---:|")
        for label, f in figures.items():
            errors = f" errors {f['errors']}" if f["errors"] else ""
            print(
                f"| {label} | {', '.join(map(str, f['first']))} | {f['median']:.1f} | {f['p90']:.1f} | "
                f"{f['bytes']:,} |{errors}"
            )


def profile(database: str, out: Path, repeat: int) -> None:
    """Each page in this process: SQL statements per answer, warm median, and a pyinstrument profile."""
    import sqlalchemy as sa
    from pyinstrument import Profiler

    from benchmarks._common import make_app
    from drillmgr.extensions import db

    os.environ.setdefault("DRILLMGR_INSTANCE", str(Path("/tmp") / f"drillmgr-bench-{os.getpid()}"))
    app = make_app(database, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    out.mkdir(parents=True, exist_ok=True)
    statements, started = [], []
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", lambda *args: started.append(time.perf_counter()))
        sa.event.listen(
            db.engine,
            "after_cursor_execute",
            lambda *args: statements.append(((time.perf_counter() - started.pop()) * 1000, args[2])),
        )
    assert client.post("/login", data={"username": USER, "password": PASSWORD}).status_code == 302
    token = client.post("/api/v1/auth/token", json={"username": USER, "password": PASSWORD}).get_json()["token"]
    api = {"Authorization": f"Bearer {token}"}
    feed_path = whole_region_feed_path(database, app.config["SECRET_KEY"])
    print(
        "| request | statements | their SQL ms | median ms | median CPU ms (this process) |\n|---|---:|---:|---:|---:|"
    )
    for label, path in PAGES:
        path = path or feed_path
        headers = api if path.startswith("/api/") else {}
        client.get(path, headers=headers)  # warm
        statements.clear()
        assert client.get(path, headers=headers).status_code == 200, path
        count, slowest = len(statements), sorted(statements, key=lambda item: -item[0])[:3]
        sql_ms = sum(ms for ms, _sql in statements)
        times, cpu = [], []
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            client.get(path, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(3):
                client.get(path, headers=headers)
        name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "home"
        (out / f"{name}.html").write_text(profiler.output_html())
        (out / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
        print(f"| {label} | {count} | {sql_ms:.1f} | {statistics.median(times):.1f} | {statistics.median(cpu):.1f} |")
        (out / f"{name}.sql").write_text("\n\n".join(f"-- {ms:.1f} ms\n{sql}" for ms, sql in slowest))
    print(f"\nprofiles in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_speed"),
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--restart", action="store_true", help="serve twice, restarting the workers between")
    parser.add_argument("--profile", action="store_true", help="profile each page in this process instead")
    parser.add_argument("--out", type=Path, default=Path("/tmp/drillmgr-profiles"))
    args = parser.parse_args()
    if args.profile:
        profile(args.database, args.out, args.repeat)
        return
    runs = [
        serve_and_time(args.database, args.workers, args.repeat, args.workers) for _ in range(2 if args.restart else 1)
    ]
    print_table(runs)
    load = os.getloadavg()
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load[0]:.1f} {load[1]:.1f}")


if __name__ == "__main__":
    main()
