"""The plan form's script in a real browser: a comprehensive live drill of a key county pre-selects
the three key links; the repeat and completion fields show only when they apply."""
import shutil
from pathlib import Path

import pytest

from drillmgr.enums import Role
from tests.conftest import TACHENG_CITY, WUSU

pytestmark = pytest.mark.browser
SCRIPT = Path(__file__).resolve().parent.parent / "drillmgr" / "static" / "drills.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        yield browser.new_page()
        browser.close()


def plan_form_html(client, make_user) -> str:
    user = make_user(role=Role.ADMIN)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["lang"] = "en"
    html = client.get("/drills/new").get_data(as_text=True)
    return html.split("<script", 1)[0] + "</body></html>"


def checked_links(page) -> set[str]:
    return set(page.eval_on_selector_all("input[name=focus]:checked", "boxes => boxes.map(b => b.value)"))


def test_key_links_preselected_for_comprehensive_live_in_key_county(client, make_user, browser_page):
    page = browser_page
    page.set_content(plan_form_html(client, make_user))
    page.add_script_tag(content=SCRIPT.read_text())
    page.select_option("select[name=organizer]", f"region:{WUSU}")
    page.select_option("select[name=form]", "live")
    assert checked_links(page) == set()
    page.select_option("select[name=scope]", "comprehensive")
    assert checked_links(page) == {"command_post", "command_comms", "force_organization"}


def test_no_preselection_outside_key_counties(client, make_user, browser_page):
    page = browser_page
    page.set_content(plan_form_html(client, make_user))
    page.add_script_tag(content=SCRIPT.read_text())
    page.select_option("select[name=organizer]", f"region:{TACHENG_CITY}")
    page.select_option("select[name=form]", "live")
    page.select_option("select[name=scope]", "comprehensive")
    assert checked_links(page) == set()
    page.select_option("select[name=region_code]", WUSU)
    assert checked_links(page) == {"command_post", "command_comms", "force_organization"}


def test_repeat_and_completion_fields_toggle(client, make_user, browser_page):
    page = browser_page
    page.set_content(plan_form_html(client, make_user))
    page.add_script_tag(content=SCRIPT.read_text())
    assert page.is_hidden("#rrule-group") and page.is_hidden("#completion-fields")
    page.select_option("select[name=repeat]", "custom")
    assert page.is_visible("#rrule-group")
    page.check("input[name=already_held]")
    assert page.is_visible("#completion-fields")
