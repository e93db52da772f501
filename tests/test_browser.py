"""A real browser (Debian's chromium through Playwright) against a real server process."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.live_support import stop

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def server(tmp_path):
    """`drillmgr db upgrade`, a small demo, then `drillmgr run` on a free loopback port, all on a file database."""
    yield from serve(tmp_path, orgs=60, drills=80)


@pytest.fixture
def county_server(tmp_path):
    """A demo large enough for Wusu to have schools and the demo school's staff account."""
    yield from serve(tmp_path, orgs=200, drills=300)


def serve(tmp_path, orgs: int, drills: int):
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'browser.sqlite3'}",
        DRILLMGR_INSTANCE=str(tmp_path / "instance"),
        DRILLMGR_SECRET_KEY="browser-test-secret",
        DRILLMGR_CALENDAR_DIR=str(tmp_path / "calendars"),
        LANG="C.UTF-8",
        FLASK_DEBUG="0",
    )
    for args in (["db", "upgrade"], ["seed-demo", "--orgs", str(orgs), "--drills", str(drills)]):
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
    try:
        wait_until_up(f"http://127.0.0.1:{port}/login", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs it with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_login_switch_language_and_screenshot(server, page, tmp_path):
    page.goto(f"{server}/login")
    assert page.title().startswith("登录")
    assert "塔城地区地震应急演练管理系统" in page.inner_text("header")
    page.screenshot(path=str(tmp_path / "login-zh.png"), full_page=True)

    page.fill("#username", "wusu")
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    assert "用户名或密码错误。" in page.inner_text("main")

    page.fill("#username", "wusu")
    page.fill("#password", "drillmgr-demo")
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")
    body = page.inner_text("body")
    assert "首页" in body and "乌苏市" in body and "县（市）协调员" in body and "退出登录" in body
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.screenshot(path=str(tmp_path / "home-zh.png"), full_page=True)

    page.click("button[data-lang=en]")
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "Home" in body and "Log out" in body and "County coordinator" in body and "首页" not in body
    assert page.locator("html").get_attribute("lang") == "en"
    shot = tmp_path / "home-en.png"
    page.screenshot(path=str(shot), full_page=True)
    # The page is styled (our stylesheets loaded and applied) and nothing runs off its right edge.
    look = page.evaluate("""() => ({
        banner: getComputedStyle(document.querySelector('header.gov-banner')).backgroundImage,
        navbar: getComputedStyle(document.querySelector('nav.navbar')).display,
        fits: document.documentElement.scrollWidth <= window.innerWidth})""")
    assert look["banner"].startswith("linear-gradient") and look["navbar"] == "flex" and look["fits"]

    page.click("#logout")
    page.wait_for_url(f"{server}/login")
    assert "You have logged out." in page.inner_text("body")

    keep = os.environ.get("DRILLMGR_SCREENSHOT_DIR")
    if keep:
        for name in ("login-zh.png", "home-zh.png", "home-en.png"):
            shutil.copy(tmp_path / name, Path(keep) / name)


def test_coordinator_reminds_at_risk_schools_and_the_school_sees_it(county_server, page):
    """From the dashboard's matrix to Wusu's schools at risk or missed for the evacuation rule, remind them
    with a message, and read it as the school's staff (notifications and the mail in the outbox)."""
    server = county_server

    def log_in(username):
        page.goto(f"{server}/login")
        page.fill("#username", username)
        page.fill("#password", "drillmgr-demo")
        page.click("#login-submit")
        page.wait_for_url(f"{server}/")

    log_in("school")
    school_name = page.locator("h1").evaluate("h => h.firstChild.textContent.trim()")
    page.click("#logout")
    page.wait_for_url(f"{server}/login")  # logging out first empties the phone's store, then leaves

    log_in("wusu")
    page.goto(f"{server}/compliance/")
    cell = page.locator("#matrix a[href*='rule=school-evacuation'][href*='region=654202']")
    figures = cell.inner_text()  # the worst status, then units met · on track · at risk · missed
    met, on_track, at_risk, missed = (int(n) for n in re.findall(r"\d+", figures))
    cell.click()
    page.wait_for_url(f"{server}/compliance/list?rule=school-evacuation*")
    rows = page.locator("#subjects tr.subject-row")
    assert rows.count() == met + on_track + at_risk + missed
    # The schools to act on: at risk or missed, each with its reason and the date to put it right by.
    lagging = page.locator(
        "#subjects tr.subject-row[data-status=at_risk], #subjects tr.subject-row[data-status=missed]"
    )
    assert lagging.count() == at_risk + missed > 0
    school_row = page.locator("#subjects tr.subject-row", has_text=school_name)
    assert school_row.get_attribute("data-status") in ("at_risk", "missed"), "the demo school lags"
    assert school_row.locator("td.reason").inner_text().strip()
    form = page.locator("form.remind-form")
    reminded = form.locator("input[name=org_id]").evaluate_all("els => els.map(e => e.value)")
    assert sorted(reminded) == sorted(lagging.evaluate_all("rows => rows.map(r => r.dataset.subject)"))
    form.locator("input[name=message]").fill("请尽快安排并记录本月疏散演练")
    form.locator("button").click()
    page.wait_for_url(f"{server}/compliance/list?rule=school-evacuation*")
    flashed = page.inner_text("main")
    # Only the demo school has a staff account; the other units are named as without one.
    assert "已提醒 1 个单位。" in flashed
    if len(reminded) > 1:
        assert f"{len(reminded) - 1} 个单位没有可提醒的工作人员账号。" in flashed
    # Reminding the school again the same day sends nothing more.
    page.locator("#subjects tr.subject-row", has_text=school_name).locator("form.remind-one button").click()
    page.wait_for_url(f"{server}/compliance/list?rule=school-evacuation*")
    assert "1 个单位今天已就此提醒过。" in page.inner_text("main")
    page.click("#logout")
    page.wait_for_url(f"{server}/login")

    log_in("school")
    page.goto(f"{server}/notifications/")
    text = page.inner_text("main")
    assert text.count("请尽快安排并记录本月疏散演练") == 1, text


def test_english_matrix_fits_1366_pixels(server, page):
    """The compliance matrix's last columns are not hidden behind a scrollbar in English on a 1366 px screen."""
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server}/login")
    page.click("button[data-lang=en]")
    page.wait_for_load_state()
    page.fill("#username", "admin")
    page.fill("#password", "drillmgr-demo")
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")
    page.goto(f"{server}/compliance/")
    assert page.locator("html").get_attribute("lang") == "en"
    widths = page.eval_on_selector(
        "#matrix", "t => [t.scrollWidth, t.parentElement.clientWidth, t.querySelectorAll('thead th').length]"
    )
    table, box, columns = widths
    assert columns >= 10 and table <= box, widths
