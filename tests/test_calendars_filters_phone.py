"""The subscribe page's feed filters on a phone (390 px, Debian's chromium): the script counts what each choice
gives and updates the link, nothing is wider than the screen, and axe finds nothing serious."""

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

from tests.test_phone_pages import browser  # noqa: F401 — a pytest fixture
from tests.test_phone_pages import server  # noqa: F401 — a pytest fixture
from tests.test_phone_pages import (
    AXE,
    AXE_RUN,
    HEIGHT,
    MEASURE,
    WIDTH,
    log_in,
)

pytestmark = pytest.mark.browser
SUMMARY = "#feed-region [data-feed-summary]"


def shown_count(page) -> int:
    page.wait_for_function(f"() => /\\d/.test(document.querySelector('{SUMMARY}').textContent)")
    return int(re.match(r"\D*(\d+)", page.inner_text(SUMMARY)).group(1))


def drill_events(url: str) -> int:
    with urllib.request.urlopen(url, timeout=120) as answer:
        return answer.read().count(b"\r\nUID:drill-")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_the_filters_count_what_the_link_gives_on_a_phone(server, browser, lang):
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN" if lang == "zh_CN" else "en-US",
        device_scale_factor=1,
    )
    context.add_init_script(path=str(AXE))
    try:
        page = context.new_page()
        log_in(page, server, "wusu", lang)
        page.goto(f"{server}/calendars/subscribe")
        key = shown_count(page)  # asked by the script as the page opened
        link = page.input_value("#feed-region [data-feed-url]")
        assert "show=" not in link and drill_events(link) == key
        page.click("label[for=region-show-all]")
        page.wait_for_function(
            "() => document.querySelector('#feed-region [data-feed-url]').value.includes('show=all')"
        )
        everything = shown_count(page)
        link = page.input_value("#feed-region [data-feed-url]")
        assert drill_events(link) == everything > key
        assert page.get_attribute("#feed-region [data-feed-webcal]", "href") == "webcal://" + link.split("://")[1]
        page.click("label[for=region-form-evacuation]")  # unticked: tabletop and live drills only
        page.wait_for_function(
            "() => document.querySelector('#feed-region [data-feed-url]').value.includes('form=live,tabletop')"
        )
        assert drill_events(page.input_value("#feed-region [data-feed-url]")) == shown_count(page) < everything
        seen = page.evaluate(MEASURE)
        trouble = {key: seen[key] for key in ("wrapped", "squeezed", "offscreen") if seen[key]}
        if seen["scrollWidth"] > WIDTH:
            trouble["overflow"] = seen["scrollWidth"]
        violations = page.evaluate(AXE_RUN)
        if shots := os.environ.get("DRILLMGR_PHONE_SHOTS"):  # to look at, as test_phone_pages keeps them
            page.screenshot(path=str(Path(shots) / f"subscribe-filters-{lang}.png"), full_page=True)
        assert not trouble and not violations, json.dumps([trouble, violations], ensure_ascii=False, indent=1)
    finally:
        context.close()
