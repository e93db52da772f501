"""Load benchmark: the coordinator's mix of issue 13 at 8 connections against gunicorn with 3 workers.

Serves the app with gunicorn on loopback (a free port) on a database seeded at prefecture scale (see
benchmarks/pages.py for seeding it once), logs in as the demo coordinator `wusu`, and runs wrk (Debian's
`apt-get install wrk`) with 8 connections cycling through the eight requests of the issue's table — the
home page, the drill list, the calendar, the compliance dashboard, the open actions, the drills and
compliance API and Wusu's region feed (the signed link) — for `--duration` seconds. The server is started
afresh for each of `--runs` runs (default 2), with nothing warmed but the login: the first run may find the
shared store empty (it is emptied first with --cold), the second finds what the first left, as a restarted
or added server does. Beside it, the floor: a small static file over the same server and connections.

    .venv/bin/python benchmarks/load.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench_speed

Targets (issue 13): p99 ≤ 500 ms, ≥ 50 requests/s, no errors.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pages import Session, free_port, resolve, start_server, stop_server  # noqa: E402

LUA = """
local paths = {%(paths)s}
local headers = {%(headers)s}
local counter = 0
request = function()
  counter = counter %% #paths + 1
  return wrk.format("GET", paths[counter], headers[counter])
end
"""


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def lua_script(session: Session, pages: list[tuple[str, str]]) -> str:
    paths = ", ".join(lua_string(path) for _label, path in pages)
    headers = ", ".join(
        "{" + ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in session.headers_for(path).items()) + "}"
        for _label, path in pages
    )
    return LUA % {"paths": paths, "headers": headers}


def parse_wrk(output: str) -> dict:
    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]

    figures = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.M)}
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "p50": figures.get("50"),
        "p90": figures.get("90"),
        "p99": figures.get("99"),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def run_wrk(wrk: str, url: str, script: str | None, connections: int, duration: int) -> dict:
    command = [wrk, "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script or "")
    try:
        if script:
            command += ["-s", handle.name]
        output = subprocess.run(command + [url], capture_output=True, text=True, timeout=duration + 60).stdout
    finally:
        os.unlink(handle.name)
    return parse_wrk(output)


def empty_shared_store(database: str) -> None:
    from benchmarks._common import make_app
    from drillmgr.cache import store
    from drillmgr.unit_of_work import unit

    app = make_app(database)
    with app.app_context(), unit():
        store.store().clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_speed"),
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--cold", action="store_true", help="empty the shared store before the first run")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    if args.cold:
        empty_shared_store(args.database)
    rows = []
    for number in range(1, args.runs + 1):
        port = free_port()
        process = start_server(args.database, args.workers, port)  # a fresh start: empty worker memory
        try:
            base = f"http://127.0.0.1:{port}"
            session = Session(base)
            session.login()
            pages = resolve(session, args.database)
            mix = run_wrk(wrk, base + "/", lua_script(session, pages), args.connections, args.duration)
            floor = run_wrk(wrk, base + "/static/css/layout.css", None, args.connections, min(args.duration, 10))
        finally:
            stop_server(process)
        rows.append((f"run {number} (fresh gunicorn)", mix, floor))
    load = os.getloadavg()
    print(
        f"\n{args.connections} connections, {args.workers} gunicorn workers, {args.duration} s per run, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print("| | p50 ms | p90 ms | p99 ms | requests/s | requests | errors |\n|---|---:|---:|---:|---:|---:|---:|")
    for label, mix, floor in rows:
        print(
            f"| {label}: the mix | {mix['p50']:.0f} | {mix['p90']:.0f} | {mix['p99']:.0f} | {mix['rps']:.1f} | "
            f"{mix['requests']} | {mix['errors']} |"
        )
        print(
            f"| {label}: floor, a static file | {floor['p50']:.1f} | {floor['p90']:.1f} | {floor['p99']:.1f} | "
            f"{floor['rps']:.0f} | {floor['requests']} | {floor['errors']} |"
        )
    met = all(mix["p99"] <= 500 and mix["rps"] >= 50 and mix["errors"] == 0 for _l, mix, _f in rows)
    print(f"\ntargets p99 ≤ 500 ms, ≥ 50 requests/s, no errors: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
