"""drillmgr/static/forms.js in Debian's chromium: what a user typed is not lost on the way."""

import pytest

from tests.test_browser import page, server  # noqa: F401 — fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def log_in(page, server, username="wusu"):
    page.goto(f"{server}/login")
    page.fill("#username", username)
    page.fill("#password", "drillmgr-demo")
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")


def test_an_oversize_file_is_refused_before_upload(server, page, tmp_path):
    log_in(page, server)
    page.goto(f"{server}/drills/?from=&to=")
    links = page.eval_on_selector_all("#drill-list a[href^='/drills/']", "links => links.map(a => a.href)")
    assert links, "the demo has drills in 乌苏市"
    for link in links:
        page.goto(link)
        if page.locator("input[type=file]").count():
            break
    big = tmp_path / "扫描件.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 10))
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    page.set_input_files("input[type=file]", str(big))
    note = page.locator(".upload-too-large")
    assert "扫描件.pdf" in note.inner_text() and "10 MB" in note.inner_text()
    assert page.eval_on_selector("input[type=file]", "i => i.files.length") == 0
    assert uploads == []


def test_fields_of_another_kind_hide_and_leaving_with_input_asks(server, page):
    log_in(page, server)
    page.goto(f"{server}/outreach/new")
    assert page.is_visible("[name=observance_day]") and not page.is_visible("[name=setting]")
    page.select_option("[name=kind]", "six_into")
    assert page.is_visible("[name=setting]") and not page.is_visible("[name=observance_day]")

    page.fill("[name=title]", "未保存的标题")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.click("#mainnav .nav-link >> nth=0")
    assert asked == ["beforeunload"] and page.url.endswith("/outreach/new")
    assert page.input_value("[name=title]") == "未保存的标题"
