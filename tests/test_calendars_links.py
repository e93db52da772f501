"""Feed links point where the site is reached: the configured address, else the request's own (its port,
and the host and scheme trusted proxies forwarded); mails, with no request, the configured one."""

import html
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path


from config import DevelopmentConfig, TestConfig
from drillmgr import create_app
from drillmgr.calendars.links import feed_links
from drillmgr.enums import Role
from tests.calendars_support import _empty_feed_caches  # noqa: F401
from tests.conftest import PASSWORD, WUSU, token_for
from tests.test_browser import free_port, wait_until_up
from tests.live_support import stop

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def page_links(client, user, base_url: str) -> set[str]:
    client.post("/login", data={"username": user.username, "password": PASSWORD}, base_url=base_url)
    page = client.get("/calendars/subscribe", base_url=base_url).get_data(as_text=True)
    return {html.unescape(link) for link in re.findall(r'(?:href|value)="((?:https?|webcal)://[^"]+)"', page)}


def test_subscribe_page_links_to_the_port_the_request_came_to(client, make_user):
    user = make_user(role=Role.COORDINATOR, region_code=WUSU)
    links = page_links(client, user, "http://127.0.0.1:8000")
    assert links and all(
        link.startswith(("http://127.0.0.1:8000/calendars/", "webcal://127.0.0.1:8000/calendars/")) for link in links
    )
    assert f"http://127.0.0.1:8000/calendars/region/{WUSU}.ics?token=" in "".join(links)
    assert "webcal://127.0.0.1:8000/calendars/public.ics" in links


def test_api_feed_links_follow_the_request_and_work(client, make_user, make_org):
    org = make_org()
    user = make_user(org=org)
    headers = token_for(client, user)
    links = client.get("/api/v1/me/feeds", headers=headers, base_url="http://10.0.0.7:8080").get_json()
    assert set(links) == {"public", "me", "org"}
    for link in links.values():
        assert link["url"].startswith("http://10.0.0.7:8080/calendars/")
        assert link["webcal"] == "webcal://" + link["url"].removeprefix("http://")
    rotated = client.post("/api/v1/me/feeds/rotate", headers=headers, base_url="http://10.0.0.7:8080").get_json()
    assert rotated["me"]["url"].startswith("http://10.0.0.7:8080/calendars/me.ics?token=")
    feed = client.get(rotated["me"]["url"].removeprefix("http://10.0.0.7:8080"))
    assert feed.status_code == 200 and feed.data.startswith(b"BEGIN:VCALENDAR")


def test_the_configured_base_url_wins_over_the_request(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", "https://drills.example.cn/")
    monkeypatch.setitem(app.config, "LINKS_FROM_REQUEST", False)
    user = make_user(role=Role.COORDINATOR, region_code=WUSU)
    links = page_links(client, user, "http://127.0.0.1:8000")
    assert links and all(
        link.startswith(("https://drills.example.cn/calendars/", "webcal://drills.example.cn/calendars/"))
        for link in links
    )
    api = client.get("/api/v1/me/feeds", headers=token_for(client, user), base_url="http://127.0.0.1:8000")
    assert api.get_json()["me"]["url"].startswith("https://drills.example.cn/calendars/me.ics?token=")


def test_links_behind_a_trusted_proxy_use_its_forwarded_host_and_scheme(app, make_user):
    class BehindNginx(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        PROXY_COUNT = 1

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "drills.example.cn", "X-Forwarded-For": "1.2.3.4"}
    user = make_user(role=Role.VIEWER, region_code=WUSU)
    with create_app(BehindNginx).test_client() as proxied:
        headers = {**token_for(proxied, user), **forwarded}
        links = proxied.get("/api/v1/me/feeds", headers=headers).get_json()
    assert links["region"]["url"].startswith(f"https://drills.example.cn/calendars/region/{WUSU}.ics?token=")
    assert links["region"]["webcal"].startswith(f"webcal://drills.example.cn/calendars/region/{WUSU}.ics?token=")
    # Without a proxy to trust, anyone could send those headers: they are not followed.
    with app.test_client() as direct:
        headers = {**token_for(direct, user), **forwarded}
        direct_links = direct.get("/api/v1/me/feeds", headers=headers).get_json()
    assert direct_links["region"]["url"].startswith("http://localhost/calendars/")


def test_links_made_without_a_request_use_the_configured_base_url(make_user):
    """The scheduler's mails and the static feeds have no request to take an address from."""
    links = feed_links(make_user(role=Role.VIEWER, region_code=WUSU))
    assert links["me"]["url"].startswith("http://localhost/calendars/me.ics?token=")


def configured(monkeypatch, **env) -> list:
    for name in ("DRILLMGR_BASE_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = create_app(DevelopmentConfig).config
    return [config["BASE_URL"], config["LINKS_FROM_REQUEST"]]


def test_mail_base_url_follows_port_unless_configured(monkeypatch):
    assert configured(monkeypatch) == ["http://127.0.0.1:5000", True]
    assert configured(monkeypatch, PORT="8000") == ["http://127.0.0.1:8000", True]
    assert configured(monkeypatch, PORT="8000", DRILLMGR_BASE_URL="https://drills.example.cn") == [
        "https://drills.example.cn",
        False,
    ]


def test_a_server_on_another_port_gives_links_that_work(tmp_path):
    """As `PORT=8000 make run`: `drillmgr run --port` on a free port; the API's links lead back to it."""
    env = {key: value for key, value in os.environ.items() if key not in ("TEST_DATABASE_URL", "DRILLMGR_BASE_URL")}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'links.sqlite3'}",
        DRILLMGR_INSTANCE=str(tmp_path / "instance"),
        DRILLMGR_SECRET_KEY="links-test-secret",
        LANG="C.UTF-8",
        FLASK_DEBUG="0",
    )
    for args in (["db", "upgrade"], ["create-user", "links", "--role", "admin", "--password", PASSWORD]):
        done = subprocess.run([str(BIN / "drillmgr"), *args], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "drillmgr"), "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{server}/login", process)
        request = urllib.request.Request(
            f"{server}/api/v1/auth/token",
            method="POST",
            data=json.dumps({"username": "links", "password": PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)["token"]
        request = urllib.request.Request(f"{server}/api/v1/me/feeds", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            links = json.load(response)
        assert links["region"]["url"].startswith(f"{server}/calendars/region/")
        for link in links.values():
            with urllib.request.urlopen(link["url"], timeout=60) as feed:
                assert feed.status == 200 and feed.read().startswith(b"BEGIN:VCALENDAR")
    finally:
        stop(process)


def test_mails_never_take_the_address_a_request_came_to(app):
    """A mail goes to someone else than who made the request: its links are the configured address."""
    from drillmgr.notifications.services import absolute_url

    with app.test_request_context("/", base_url="http://evil.example"):
        assert absolute_url("/drills/1") == "http://localhost/drills/1"
