"""The Content-Security-Policy is one the pages really satisfy: no template holds an inline script, handler or
style, and Chromium logs no violation on any page that an admin, a coordinator or a unit's staff can reach."""

import os
import re
import subprocess
from collections import deque
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.test_browser import BIN, free_port, page, wait_until_up  # noqa: F401 — `page` is Chromium

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> block"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_needs_unsafe_inline():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(TEMPLATES)}:{line}: {what}")
    assert not found, "\n".join(found)


def test_every_answer_carries_the_policy_and_its_companions(client):
    for url in ("/login", "/api/v1/openapi.json", "/static/js/drillmgr.js", "/no-such-page"):
        headers = client.get(url).headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


# --- in Chromium -------------------------------------------------------------------------------------------

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP-VIOLATION " + e.violatedDirective + " " + e.blockedURI + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""
SKIP = re.compile(r"(\.ics|\.xlsx|\.json|\.csv|\.pdf|/download|/export|/attachments/\d+|/static/|/logout)", re.I)
MAX_PAGES = 50


def page_kind(url: str) -> str:
    """Pages that differ only in ids or in their query render the same template."""
    return re.sub(r"\d+", "N", urlsplit(url).path)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    """Like test_browser's server, with enough units for the demo to have a school and its staff account."""
    folder = tmp_path_factory.mktemp("csp")
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder / 'csp.sqlite3'}",
        DRILLMGR_INSTANCE=str(folder / "instance"),
        DRILLMGR_SECRET_KEY="csp-test-secret",
        DRILLMGR_CALENDAR_DIR=str(folder / "calendars"),
        LANG="C.UTF-8",
        FLASK_DEBUG="0",
        DRILLMGR_LOGIN_RATE_LIMIT="100 per minute",
    )
    for args in (["db", "upgrade"], ["seed-demo", "--orgs", "100", "--drills", "80"]):
        done = subprocess.run([str(BIN / "drillmgr"), *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    assert "school " in done.stdout
    port = free_port()
    # The request log goes to a file: a pipe nobody reads fills up and stalls the server.
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(
            [str(BIN / "drillmgr"), "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/login", process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=10)


def crawl(page, server: str) -> tuple[list[str], list[str]]:  # noqa: F811
    """Every page reachable by links from home (one of each kind); returns (visited, CSP messages)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "CSP-VIOLATION" in message.text or "Content Security Policy" in message.text
            else None
        ),
    )
    queue, seen, visited = deque([f"{server}/"]), {page_kind(f"{server}/")}, []
    while queue and len(visited) < MAX_PAGES:
        url = queue.popleft()
        head = page.request.get(url, max_redirects=0)
        if head.status != 200 or not head.headers.get("content-type", "").startswith("text/html"):
            continue
        assert "script-src 'self'" in head.headers["content-security-policy"], url
        page.goto(url, wait_until="load")
        visited.append(url)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            target = urljoin(url, href).split("#")[0]
            if not target.startswith(server) or SKIP.search(target):
                continue
            kind = page_kind(target)
            if kind not in seen:
                seen.add(kind)
                queue.append(target)
    return visited, violations


@pytest.mark.slow
@pytest.mark.parametrize(
    "username, expected",
    [
        ("admin", ["/users", "/orgs/", "/compliance/", "/admin/jobs/"]),
        ("wusu", ["/users", "/compliance/", "/calendars/subscribe"]),
        ("school", ["/drills/", "/calendars/subscribe", "/account"]),
    ],
)
def test_no_page_violates_the_policy_in_chromium(demo_server, page, username, expected):  # noqa: F811
    server = demo_server
    page.set_default_timeout(120_000)  # eight test suites share two cores
    page.add_init_script(REPORT_VIOLATIONS)
    page.goto(f"{server}/login")
    page.fill("#username", username)
    page.fill("#password", "drillmgr-demo")
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")
    visited, violations = crawl(page, server)
    assert not violations, "\n".join(violations)
    paths = {urlsplit(url).path for url in visited}
    assert len(visited) >= 12 and all(any(p.startswith(e) for p in paths) for e in expected), sorted(paths)
    # The behaviour moved out of inline handlers still works: a confirm dialog, a copy field.
    page.goto(f"{server}/calendars/subscribe")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#rotate-links")
    assert dialogs and page.url == f"{server}/calendars/subscribe"
    page.click("[data-select-on-click]")
    assert page.evaluate(
        "(e => e.selectionStart === 0 && e.selectionEnd === e.value.length && e.value.length > 20)"
        "(document.activeElement)"
    )
    page.goto(f"{server}/no-such-page")
    page.goto(f"{server}/account")
    assert not violations, "\n".join(violations)
