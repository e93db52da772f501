"""One budget of wrong guesses per address and one per username, shared by the web login and
/api/v1/auth/token (TestConfig: 5 per minute); with Redis, shared by every worker process."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from drillmgr.enums import Role
from tests.conftest import PASSWORD

BIN = Path(sys.executable).parent


def web_guess(app, username, password="wrong-guess", address="10.0.0.1"):
    client = app.test_client()
    return client.post(
        "/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    ).status_code


def api_guess(app, username, password="wrong-guess", address="10.0.0.1"):
    client = app.test_client()
    return client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    ).status_code


def test_one_budget_per_address_across_both_endpoints(app, make_user):
    user = make_user(Role.ADMIN)
    statuses = [web_guess(app, f"nobody{n}") if n % 2 else api_guess(app, f"nobody{n}") for n in range(5)]
    assert statuses == [401, 200, 401, 200, 401]
    assert web_guess(app, user.username, PASSWORD) == 429
    assert api_guess(app, user.username, PASSWORD) == 429
    assert web_guess(app, user.username, PASSWORD, address="10.0.0.2") == 302


def test_one_budget_per_username_across_addresses_and_spellings(app, make_user):
    make_user(Role.ADMIN, username="target")
    spellings = ["target", "TARGET", " Target ", "target", "tArget"]
    for n, name in enumerate(spellings):
        guess = web_guess if n % 2 else api_guess
        assert guess(app, name, address=f"10.0.1.{n}") in (200, 401)
    assert api_guess(app, "target", PASSWORD, address="10.0.2.1") == 429
    assert web_guess(app, "target", PASSWORD, address="10.0.2.2") == 429
    other = make_user(Role.ADMIN, username="bystander")
    assert web_guess(app, other.username, PASSWORD, address="10.0.2.3") == 302


def test_successful_logins_do_not_spend_the_budget(app, make_user):
    users = [make_user(Role.ORG_STAFF) for _ in range(8)]
    assert [web_guess(app, u.username, PASSWORD) for u in users] == [302] * 8
    assert [api_guess(app, u.username, PASSWORD) for u in users] == [200] * 8


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url, json_body):
    import json

    request = urllib.request.Request(
        url, data=json.dumps(json_body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _web_login(base, username, password):
    """A browser's login: the form (for its CSRF token and cookie), then the post."""
    import http.cookiejar
    import re

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/login", timeout=10) as response:
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.read().decode())[1]
    data = urllib.parse.urlencode({"csrf_token": token, "username": username, "password": password}).encode()
    try:
        with opener.open(urllib.request.Request(f"{base}/login", data=data), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
@pytest.mark.skipif(not _redis_up(), reason="no Redis server at 127.0.0.1:6379")
def test_with_redis_the_budget_is_shared_by_every_gunicorn_worker(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'limits.sqlite3'}",
        DRILLMGR_INSTANCE=str(tmp_path / "instance"),
        DRILLMGR_SECRET_KEY="limits-test-secret",
        DRILLMGR_RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
        DRILLMGR_RATELIMIT_KEY_PREFIX=f"drillmgr-test-{uuid.uuid4().hex}",
        DRILLMGR_LOGIN_RATE_LIMIT="4 per minute",
    )
    for args in (
        ["db", "upgrade"],
        ["create-user", "guarded", "--role", "admin", "--password", "quiet-lantern-orchard-7"],
    ):
        done = subprocess.run([str(BIN / "drillmgr"), *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "3", "-b", f"127.0.0.1:{port}", "drillmgr:create_app()"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    server.stdout.read() if server.poll() else ""
                )
                time.sleep(0.3)
        # Each request is a new connection, so the workers take turns; in memory each would count alone.
        statuses = [
            _post(f"{base}/api/v1/auth/token", json_body={"username": "guarded", "password": f"guess{n}"})
            for n in range(4)
        ]
        assert statuses == [401] * 4
        assert [
            _post(f"{base}/api/v1/auth/token", json_body={"username": "guarded", "password": "quiet-lantern-orchard-7"})
            for _ in range(6)
        ] == [429] * 6
        assert _web_login(base, "guarded", "quiet-lantern-orchard-7") == 429
    finally:
        server.terminate()
        server.wait(timeout=20)
