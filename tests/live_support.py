"""A real server (gunicorn: two worker processes of eight threads) on a database of its own, and a small
HTTP client, for tests that send requests at the same moment."""

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from drillmgr.scheduler.jobs import JOBS

BIN = Path(sys.executable).parent
ADMIN, PASSWORD = "live-admin", "live-admin-password-1"


def schedule_of(**wanted: str) -> str:
    """A DRILLMGR_SCHEDULER_SCHEDULE with these jobs at these times and every other job of the scheduler off."""
    return ";".join(f"{job}={wanted.get(job, 'off')}" for job in JOBS)


# Schedulers started by tests run one quick job, so that a test sees several of its moments in seconds.
ONLY_A_FAST_JOB = schedule_of(drill_reminders="every 1s")


def _database(tmp_path: Path) -> str:
    """A SQLite file, or with TEST_DATABASE_URL on PostgreSQL a fresh database named after it (…_live)."""
    test_url = os.environ.get("TEST_DATABASE_URL")
    if not test_url or not test_url.startswith("postgresql"):
        return f"sqlite:///{tmp_path / 'live.sqlite3'}"
    url = sa.engine.make_url(test_url)
    name = f"{url.database}_live"
    engine = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Answer:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class Client:
    """Talks to the live server; `token` for the API, or a cookie session after `login` for the pages."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def call(self, method: str, path: str, json_body=None, form: dict | None = None, headers=None) -> Answer:
        headers = dict(headers or {})
        data = None
        if json_body is not None:
            data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + urllib.parse.quote(path, safe="/?=&%:"), data=data, method=method, headers=headers
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read())

    def api_token(self, username: str, password: str) -> "Client":
        answer = self.call("POST", "/api/v1/auth/token", {"username": username, "password": password})
        assert answer.status == 200, answer.text
        return Client(self.base, answer.json["token"])

    def login(self, username: str, password: str) -> "Client":
        client = Client(self.base)
        token = hidden_fields(client.call("GET", "/login").text)["csrf_token"]
        answer = client.call("POST", "/login", form={"csrf_token": token, "username": username, "password": password})
        assert answer.status == 302, answer.text
        return client


def hidden_fields(html: str, action: str | None = None) -> dict:
    """The hidden inputs of the page's first form (or the first posting to `action`)."""
    for match in re.finditer(r"<form\b([^>]*)>(.*?)</form>", html, re.S):
        if action is not None and f'action="{action}"' not in match.group(1):
            continue
        return dict(
            re.findall(r'<input\b[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', match.group(2))
            + re.findall(r'<input\b[^>]*name="([^"]+)"[^>]*type="hidden"[^>]*value="([^"]*)"', match.group(2))
        )
    raise AssertionError(f"no form posting to {action} on the page")


def together(count: int, send) -> list:
    """Calls send(i) for i in range(count) from as many threads, released at the same moment."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        return send(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_environment(folder: Path) -> dict:
    """The environment of a server and its commands on a fresh database (migrated, with the live admin)."""
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=_database(folder),
        DRILLMGR_INSTANCE=str(folder / "instance"),
        DRILLMGR_SECRET_KEY="live-test-secret",
        DRILLMGR_CALENDAR_DIR=str(folder / "calendars"),
        DRILLMGR_UPLOAD_DIR=str(folder / "uploads"),
        LANG="C.UTF-8",
        DRILLMGR_LOGIN_RATE_LIMIT="1000 per minute",
    )
    for args in (["db", "upgrade"], ["create-user", ADMIN, "--role", "admin", "--password", PASSWORD]):
        done = subprocess.run([str(BIN / "drillmgr"), *args], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    return env


def start_server(env: dict, workers: int = 2) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free port; its process and base URL once it answers."""
    port = _free_port()
    process = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            "8",
            "-b",
            f"127.0.0.1:{port}",
            "drillmgr:create_app()",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=2):
                return process, base
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the live server did not start: {process.stdout.read()}") from None
            time.sleep(0.3)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The live server's base URL, with an admin's API client as `live.admin`."""
    process, base = start_server(live_environment(tmp_path_factory.mktemp("live")))
    try:
        server = Client(base)
        server.admin = server.api_token(ADMIN, PASSWORD)
        server.password = PASSWORD
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Ends a server started by a test: politely, then for good after ten seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
