"""Drill day on a phone (390×844) in Debian's chromium: offline from the home screen to the record, kept on the
phone across closing the page, sent exactly once when the network is back; nothing of a user left after logout."""

import json
import os
import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, server  # noqa: F401 — the demo server fixture

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
ICONS = [ROOT / "drillmgr/drillday/static/icon-192.png", ROOT / "drillmgr/drillday/static/icon-512.png"]
SHELL = {
    "/day",
    "/manifest.webmanifest",
    "/static/vendor/bootstrap/bootstrap.min.css",
    "/static/drillday/drillday.css",
    "/static/drillday/js/app.js",
    "/static/drillday/js/store.js",
    "/static/drillday/js/clock.js",
    "/static/drillday/icon-192.png",
    "/static/drillday/icon-512.png",
}
PHONE_STORE = """async () => {
  const db = await new Promise((ok, no) => { const r = indexedDB.open("drillmgr-drillday", 1);
    r.onupgradeneeded = () => { r.result.createObjectStore("context"); r.result.createObjectStore("records", {keyPath: "key"}); };
    r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
  const all = (name) => new Promise((ok) => { const q = db.transaction(name).objectStore(name).getAll(); q.onsuccess = () => ok(q.result); });
  const answer = {context: await all("context"), records: (await all("records")).map((r) => ({...r, photos: r.photos.length}))};
  db.close();
  return answer;
}"""
CACHED = """async () => {
  const found = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) found.push([new URL(request.url).pathname, await (await cache.match(request)).text()]);
  }
  return found;
}"""


@pytest.fixture
def phone():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs it with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 390, "height": 844},
            locale="zh-CN",
            is_mobile=True,
            has_touch=True,
            service_workers="allow",
        )
        try:
            yield context
        finally:
            context.close()
            browser.close()


STAFF_PASSWORD = "drill-day-on-a-phone-7"


def unit_staff(server) -> str:  # noqa: F811
    """A staff member of a new school (the small demo may hold no school in Wusu, so no user `school`)."""
    token = api(server, "/auth/token", body={"username": "admin", "password": "drillmgr-demo"})["token"]
    school = api(
        server,
        "/orgs",
        token,
        {"name": "乌苏市演练现场小学", "kind": "school", "region_code": "654202", "headcount": 100},
    )
    api(
        server,
        "/users",
        token,
        {"username": "teacher", "password": STAFF_PASSWORD, "role": "org_staff", "org_id": school["id"]},
    )
    return "teacher"


def log_in(page, server, username, password="drillmgr-demo"):  # noqa: F811
    page.goto(f"{server}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_load_state()
    assert page.url == f"{server}/", (page.url, page.inner_text("body")[:600])


def api(server, path, token=None, body=None):  # noqa: F811
    request = urllib.request.Request(
        f"{server}/api/v1{path}",
        data=json.dumps(body).encode() if body else None,
        headers={
            "Content-Type": "application/json",
            "Accept-Language": "en",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def unplanned(server, token, org_id):  # noqa: F811
    drills = api(server, f"/drills?org={org_id}&per_page=100", token)["items"]
    return [d for d in drills if d["title"].startswith("临时疏散演练")]


def test_offline_drill_day_is_sent_once_with_time_groups_and_photos(server, phone, tmp_path):  # noqa: F811
    sent = []
    phone.on("request", lambda r: sent.append(r.url) if r.url.endswith("/day/submit") else None)
    page = phone.new_page()
    log_in(page, server, unit_staff(server), STAFF_PASSWORD)
    org_id = json.loads(page.goto(f"{server}/day/context").text())["org"]["id"]
    page.goto(f"{server}/orgs/{org_id}/groups")
    page.fill("#lines", "一年级一班, 30\n一年级二班, 28")
    page.click("form[action$='/groups'] button[type=submit]")
    page.wait_for_url(f"{server}/orgs/{org_id}")
    page.goto(f"{server}/")
    page.wait_for_selector("body[data-drillday-ready='1']")

    phone.set_offline(True)
    page.click("#drill-now")
    page.wait_for_selector("body[data-ready='1']")
    assert "离线" in page.inner_text("#dd-network")
    page.click("#dd-new")
    page.click("#dd-start")
    page.wait_for_timeout(3200)
    page.click("#dd-clear")
    first, second = page.locator(".dd-group").nth(0), page.locator(".dd-group").nth(1)
    assert page.inner_text("#dd-unaccounted") == "58"
    first.locator("[data-role=all-present]").click()
    second.locator("[data-role=missing-plus]").click()
    second.locator("[data-role=all-present]").click()
    assert (
        second.locator("[data-role=present]").inner_text(),
        second.locator("[data-role=missing]").inner_text(),
        page.inner_text("#dd-unaccounted"),
    ) == ("27", "1", "0")
    page.fill("#dd-notes", "二班一名学生未到，已找到")
    page.set_input_files("#dd-photos", [str(p) for p in ICONS])
    page.locator("#dd-photo-count", has_text="2 张照片").wait_for()
    page.screenshot(path=str(tmp_path / "drill-day-roll-call.png"), full_page=True)
    page.click("#dd-finish")
    page.wait_for_selector("#dd-badge:not(.d-none)")
    page.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")  # the badge, the time and the notice
    page.wait_for_timeout(300)
    page.screenshot(path=str(tmp_path / "drill-day-saved-offline.png"))
    page.close()

    page = phone.new_page()
    page.goto(f"{server}/day")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_visible("#dd-badge")
    stored = page.evaluate(PHONE_STORE)["records"]
    assert len(stored) == 1 and stored[0]["state"] == "ready" and stored[0]["photos"] == 2
    assert sent == []

    phone.set_offline(False)
    page.wait_for_selector("#dd-badge.d-none", state="attached", timeout=30_000)
    assert page.evaluate(PHONE_STORE)["records"] == []
    token = api(server, "/auth/token", body={"username": "teacher", "password": STAFF_PASSWORD})["token"]
    [drill] = unplanned(server, token, org_id)
    part = drill["participation"]
    assert drill["status"] == "completed" and 3 <= part["evacuation_seconds"] <= 6
    assert [(g["name"], g["expected"], g["present"], g["missing"]) for g in part["groups"]] == [
        ("一年级一班", 30, 30, 0),
        ("一年级二班", 28, 27, 1),
    ]
    assert part["counts"]["students"] == 57 and part["notes"] == "二班一名学生未到，已找到"
    photos = api(server, f"/drills/{drill['id']}/attachments", token)["items"]
    assert [(p["kind"], p["content_type"]) for p in photos] == [("photo", "image/jpeg")] * 2

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_timeout(500)
    assert len(sent) == 1 and len(unplanned(server, token, org_id)) == 1

    keep = os.environ.get("DRILLMGR_SCREENSHOT_DIR")
    if keep:
        for name in ("drill-day-roll-call.png", "drill-day-saved-offline.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)


def test_after_logout_the_phone_holds_nothing_of_the_user(server, phone):  # noqa: F811
    page = phone.new_page()
    log_in(page, server, unit_staff(server), STAFF_PASSWORD)
    page.wait_for_selector("body[data-drillday-ready='1']")
    context = page.evaluate(PHONE_STORE)["context"]
    org_name, user_name = context[0]["org"]["name"], context[0]["user"]["name"]
    page.goto(f"{server}/day")
    page.wait_for_selector("body[data-ready='1']")
    assert org_name in page.inner_text("#dd-org")

    page.goto(f"{server}/")
    page.click("#logout")
    page.wait_for_url(f"{server}/login")
    page.wait_for_selector("body[data-drillday-ready='1']")
    assert page.evaluate(PHONE_STORE) == {"context": [], "records": []}
    cached = page.evaluate(CACHED)
    assert {path for path, _text in cached} <= SHELL
    assert not [path for path, text in cached if org_name in text or user_name in text or "teacher" in text]

    log_in(page, server, "wusu")
    phone.set_offline(True)
    page.goto(f"{server}/day")
    page.wait_for_selector("body[data-ready='1']")
    assert org_name not in page.inner_text("body") and page.is_visible("#dd-no-context")
