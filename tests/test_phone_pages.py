"""Every page staff use, on a phone (390×844) in Debian's chromium, as admin, coordinator and unit staff, in both
languages: nothing wider than the screen, no button broken inside a word ("编/辑"), no title squeezed to a few
characters a line, chart text legible, the month calendar showing all seven days, the user and role visible; and
axe-core (tests/js/node_modules, installed by `npm ci`) finds no serious or critical violation.

DRILLMGR_PHONE_SHOTS=<folder> keeps a screenshot of every page visited and the problems found, to look at
(DRILLMGR_PHONE_FULL=1: of the whole page rather than the screen)."""

import json
import os
import re
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.live_support import stop
from tests.test_browser import BIN, CHROMIUM, CHROMIUM_ARGS, free_port, wait_until_up

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests/js/node_modules/axe-core/axe.min.js"
WIDTH, HEIGHT = 390, 844
STAFF, STAFF_PASSWORD = "phone-teacher", "phone-pages-teacher-7"
ROLE_LABELS = {
    "zh_CN": {"admin": "地区管理员", "wusu": "县（市）协调员", STAFF: "单位工作人员"},
    "en": {"admin": "Prefecture officer", "wusu": "County coordinator", STAFF: "Unit staff"},
}

# What the page measures about itself (run in the page).
MEASURE = """() => {
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; };
  const lines = (el) => { const tops = new Set();
    for (const node of el.childNodes) {
      if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
      const range = document.createRange(); range.selectNodeContents(node);
      for (const rect of range.getClientRects()) if (rect.width > 1) tops.add(Math.round(rect.top));
    }
    return tops.size; };
  const own = (el) => [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent)
    .join("").replace(/\\s+/g, "");
  const describe = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${[...el.classList].join(".")} "${el.textContent.trim().replace(/\\s+/g, " ").slice(0, 40)}"`;
  const answer = {scrollWidth: document.scrollingElement.scrollWidth, wrapped: [], squeezed: [], smallChart: [],
                  offscreen: [], lang: document.documentElement.lang};
  for (const el of document.querySelectorAll(".btn, button")) {
    if (!visible(el) || el.closest("[data-wrap-ok], .btn-wrap")) continue;
    // A button's label on one line: CJK breaks anywhere, so a wrapped label is broken inside a word.
    const textLines = lines(el) || [...el.querySelectorAll("span")].reduce((n, s) => Math.max(n, lines(s)), 0);
    if (textLines > 1) answer.wrapped.push(describe(el));
  }
  for (const el of document.querySelectorAll("main *, header *")) {
    if (!visible(el) || el.closest("svg, [data-wrap-ok]")) continue;
    const text = own(el), count = lines(el);
    // A title squeezed into a narrow column: three lines or more of fewer than five characters each.
    if (text.length >= 6 && count >= 3 && text.length / count < 5) answer.squeezed.push(describe(el));
  }
  for (const svg of document.querySelectorAll("svg[viewBox]")) {
    if (!visible(svg)) continue;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    for (const text of svg.querySelectorAll("text")) {
      const size = parseFloat(getComputedStyle(text).fontSize) * scale;
      if (size < 11) answer.smallChart.push(`${describe(text)} ${size.toFixed(1)}px`);
    }
  }
  // Nothing that a phone user must read sits beyond the screen's edge (scrolling boxes inside cards aside).
  for (const el of document.querySelectorAll("h1, h2, .page-title, .btn, .nav-link, label, .card-title")) {
    if (!visible(el) || el.closest(".table-responsive, .overflow-x-auto, .collapse:not(.show), .dropdown-menu")) continue;
    const r = el.getBoundingClientRect();
    if (r.right > innerWidth + 1 || r.left < -1) answer.offscreen.push(describe(el));
  }
  return answer;
}"""
CALENDAR_DAYS = """() => [...document.querySelectorAll("#month-grid thead th")].map((th) => {
  const r = th.getBoundingClientRect(); return {text: th.textContent.trim(), left: r.left, right: r.right,
  width: r.width}; })"""
STARTED = "() => !document.getElementById('dd-user') || document.body.dataset.ready === '1'"
# The user and role, as shown (only those elements that are visible).
WHO = """els => els.filter((el) => el.getBoundingClientRect().width > 0).map((el) => el.textContent.trim())"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({
    id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " :: "
      + (n.failureSummary || "").replace(/\\s+/g, " ").slice(0, 160))}));
}"""


def api(server, path, token=None, body=None, method=None):
    request = urllib.request.Request(
        f"{server}/api/v1{path}",
        data=json.dumps(body).encode() if body else None,
        method=method,
        headers={
            "Content-Type": "application/json",
            "Accept-Language": "en",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The small demo on a file database, a school with groups and a drill today, and its staff member."""
    if os.environ.get("TEST_DATABASE_URL"):
        # The server below runs on a SQLite file whatever the run's database: the run of `make test` on SQLite
        # checks the same pages, so the one on PostgreSQL does not repeat these minutes.
        pytest.skip("the phone pages are checked in the SQLite run of make test")
    tmp_path = tmp_path_factory.mktemp("phone")
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'phone.sqlite3'}",
        DRILLMGR_INSTANCE=str(tmp_path / "instance"),
        DRILLMGR_SECRET_KEY="phone-test-secret",
        DRILLMGR_CALENDAR_DIR=str(tmp_path / "calendars"),
        LANG="C.UTF-8",
        FLASK_DEBUG="0",
        RATELIMIT_ENABLED="false",
    )
    for args in (["db", "upgrade"], ["seed-demo", "--orgs", "60", "--drills", "80"]):
        done = subprocess.run([str(BIN / "drillmgr"), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    port = free_port()
    # The log goes to a file: hundreds of requests would fill a pipe nobody reads and stall the server.
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(
        [str(BIN / "drillmgr"), "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/login", process)
        token = api(url, "/auth/token", body={"username": "admin", "password": "drillmgr-demo"})["token"]
        school = api(
            url,
            "/orgs",
            token,
            {"name": "乌苏市第二实验小学（手机测试）", "kind": "school", "region_code": "654202", "headcount": 240},
        )
        api(
            url,
            "/users",
            token,
            {
                "username": STAFF,
                "password": STAFF_PASSWORD,
                "role": "org_staff",
                "org_id": school["id"],
                "display_name": "王老师",
            },
        )
        groups = api(url, f"/orgs/{school['id']}/groups", token)
        api(
            url,
            f"/orgs/{school['id']}/groups",
            token,
            method="PUT",
            body={
                "version": groups["version"],
                "groups": [{"name": f"{grade}年级{n}班", "expected": 38 + n} for grade in "一二三" for n in (1, 2)],
            },
        )
        now = datetime.now(timezone.utc).replace(microsecond=0)
        for title, start in (
            ("春季学期地震应急疏散演练", now - timedelta(minutes=30)),
            ("防震减灾宣传周桌面推演与避险疏散综合演练", now + timedelta(days=3)),
        ):
            api(
                url,
                "/drills",
                token,
                {
                    "title": title,
                    "form": "evacuation",
                    "organizer_org_id": school["id"],
                    "starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(hours=1)).isoformat(),
                },
            )
        yield url
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs it with apt)")
    if not AXE.exists():
        pytest.skip(f"{AXE} is missing: make tests/js/node_modules/.installed (npm ci) installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class InFlight:
    """The requests a page has sent and not had answered. A page is measured once none is left (the fetches its
    scripts send as it loads fill it), rather than after networkidle's half second of quiet on every page."""

    def __init__(self, page) -> None:
        self.page = page
        self.pending: set = set()
        page.on("request", lambda request: self.pending.add(request))
        page.on("requestfinished", lambda request: self.pending.discard(request))
        page.on("requestfailed", lambda request: self.pending.discard(request))

    def settle(self, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while self.pending:
            assert time.monotonic() < deadline, f"still waiting for {[r.url for r in self.pending]}"
            self.page.wait_for_timeout(20)
        # The drill-day app starts from its local store as well, and says when it has: body[data-ready].
        self.page.wait_for_function(STARTED, timeout=seconds * 1000)


def links(page, pattern: str) -> list[str]:
    hrefs = page.eval_on_selector_all("main a[href]", "els => els.map((a) => a.getAttribute('href'))")
    return list(
        dict.fromkeys(
            h.split("?")[0].split("#")[0] for h in hrefs if re.fullmatch(pattern, h.split("?")[0].split("#")[0])
        )
    )


def first_link(page, server, start: str, pattern: str) -> str | None:
    page.goto(f"{server}{start}")
    found = links(page, pattern)
    return found[0] if found else None


def staff_pages(page, server, user: str) -> list[str]:
    """The pages of the role, found by following the links a user would follow."""
    pages = [
        "/",
        "/drills/",
        "/drills/calendar",
        "/findings/actions",
        "/checklists/",
        "/outreach/",
        "/outreach/sites",
        "/outreach/coverage",
        "/orgs/",
        "/account",
        "/notifications/",
        "/calendars/subscribe",
        "/day",
        "/drills/new",
        "/outreach/new",
    ]
    if user != STAFF:
        pages += [
            "/compliance/",
            "/compliance/report",
            "/compliance/rules",
            "/users",
            "/users/new",
            "/checklists/templates",
            "/orgs/new",
            "/orgs/import",
            "/outreach/sites/new",
        ]
    if user == "admin":
        pages += ["/admin/jobs/"]
    found = []
    page.goto(f"{server}/drills/?per_page=50")
    drills = links(page, r"/drills/\d+")
    assert drills, f"{user} sees no drill"
    planned = None
    for drill in drills[:12]:
        page.goto(f"{server}{drill}")
        actions = links(page, rf"{drill}/(edit|complete|reschedule|cancel|day)")
        if not found:
            found += [drill, f"/findings{drill}"]  # the drill page and its filing page
        if len(actions) >= 3:
            planned = drill
            found += actions
            break
    assert planned, f"{user} finds no drill to record"
    if user == STAFF:  # the drill under way: its drill-day screen and its completion form
        assert {f"{planned}/day", f"{planned}/complete"} <= set(found), found
    for start, pattern in (
        ("/findings/actions", r"/findings/\d+"),
        ("/checklists/", r"/checklists/runs/\d+"),
        ("/outreach/", r"/outreach/\d+"),
        ("/orgs/", r"/orgs/\d+"),
        ("/compliance/", r"/compliance/county/\d+"),
        ("/users", r"/users/\d+"),
        ("/compliance/rules", r"/compliance/rules/\d+"),
        ("/checklists/templates", r"/checklists/templates/\d+"),
    ):
        if start in pages and (link := first_link(page, server, start, pattern)):
            found.append(link)
    org = next((p for p in found if re.fullmatch(r"/orgs/\d+", p)), None)
    if user == STAFF:
        page.goto(f"{server}/account")
        org = org or first_link(page, server, "/", r"/orgs/\d+")
    if org:
        page.goto(f"{server}{org}")
        found += links(page, rf"{org}/(edit|groups)")
    return pages + [p for p in dict.fromkeys(found) if p not in pages]


def log_in(page, server, user: str, lang: str) -> None:
    page.goto(f"{server}/login")
    page.fill("#username", user)
    page.fill("#password", STAFF_PASSWORD if user == STAFF else "drillmgr-demo")
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")
    if page.locator("html").get_attribute("lang") != ("zh-CN" if lang == "zh_CN" else "en"):
        page.click(f"button[data-lang={lang}]")
        page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh_CN" else "en")


PAGES_OF: dict[str, list[str]] = {}


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
@pytest.mark.parametrize("user", ["admin", "wusu", STAFF])
def test_every_staff_page_fits_a_phone_and_passes_axe(server, browser, user, lang):
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN" if lang == "zh_CN" else "en-US",
        device_scale_factor=1,
    )
    # Through DevTools, not a <script> element: the Content-Security-Policy stays as strict as for users.
    context.add_init_script(path=str(AXE))
    shots = os.environ.get("DRILLMGR_PHONE_SHOTS")
    problems: dict[str, dict] = {}
    try:
        page = context.new_page()
        in_flight = InFlight(page)
        log_in(page, server, user, lang)
        if user not in PAGES_OF:  # found once per user: both languages visit the same pages
            PAGES_OF[user] = staff_pages(page, server, user)
        pages = PAGES_OF[user]
        assert len(pages) >= (20 if user == STAFF else 30), pages
        for path in pages:
            answer = page.goto(f"{server}{path}")
            assert answer.status == 200, (path, answer.status)
            in_flight.settle()
            seen = page.evaluate(MEASURE)
            assert seen["lang"] == ("zh-CN" if lang == "zh_CN" else "en"), path
            trouble = {}
            if seen["scrollWidth"] > WIDTH:
                trouble["overflow"] = seen["scrollWidth"]
            for key in ("wrapped", "squeezed", "smallChart", "offscreen"):
                if seen[key]:
                    trouble[key] = seen[key][:6]
            if path == "/drills/calendar":
                days = page.evaluate(CALENDAR_DAYS)
                if len(days) != 7 or any(d["left"] < 0 or d["right"] > WIDTH + 0.5 for d in days):
                    trouble["calendar"] = days
            who = page.eval_on_selector_all("[data-who]", WHO)
            if not any(ROLE_LABELS[lang][user] in text for text in who):
                trouble["who"] = who
            violations = page.evaluate(AXE_RUN)
            if violations:
                trouble["axe"] = violations
            if trouble:
                problems[path] = trouble
            if shots:
                name = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"
                page.screenshot(
                    path=str(Path(shots) / f"{user}-{lang}-{name}.png"),
                    full_page=bool(os.environ.get("DRILLMGR_PHONE_FULL")),
                )
    finally:
        context.close()
    if shots:
        (Path(shots) / f"problems-{user}-{lang}.json").write_text(json.dumps(problems, ensure_ascii=False, indent=1))
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
