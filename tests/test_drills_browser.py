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
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
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


STATIC = SCRIPT.parent


def picker_page(client, make_user, make_region, make_org, page):
    """The plan form as a coordinator sees it on a phone (390×844), with the app's styles and script."""
    from drillmgr.enums import OrgKind

    town_a, town_b = make_region(name="甲镇"), make_region(name="乙镇")
    for n in range(1, 4):
        make_org(name=f"甲镇第{n}小学", region_code=town_a.code)
    make_org(name="甲镇中心幼儿园", kind=OrgKind.KINDERGARTEN, region_code=town_a.code)
    make_org(name="乙镇第1小学", region_code=town_b.code)
    user = make_user(role=Role.COORDINATOR, region_code=WUSU)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["lang"] = "en"
    html = client.get("/drills/new").get_data(as_text=True).split("<script", 1)[0] + "</body></html>"
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_content(html)
    for css in ("vendor/bootstrap/bootstrap.min.css", "drillmgr.css", "css/layout.css", "drills.css"):
        page.add_style_tag(content=(STATIC / css).read_text())
    page.add_script_tag(content=SCRIPT.read_text())
    return town_a, town_b


def visible_units(page) -> list[str]:
    return page.eval_on_selector_all(".picker-item:not([hidden])", "items => items.map(i => i.dataset.name)")


def test_participant_picker_search_and_township_schools_on_a_phone(
    client, make_user, make_region, make_org, browser_page
):
    page = browser_page
    town_a, town_b = picker_page(client, make_user, make_region, make_org, page)
    page.fill("#picker-search", "第2")
    assert visible_units(page) == ["甲镇第2小学"]
    page.fill("#picker-search", "没有这个单位")
    assert visible_units(page) == [] and page.is_visible("#picker-empty")
    page.fill("#picker-search", "")
    assert page.is_disabled("#picker-all-schools")
    page.select_option("#picker-township", town_a.code)
    assert sorted(visible_units(page)) == sorted(["甲镇第1小学", "甲镇第2小学", "甲镇第3小学", "甲镇中心幼儿园"])
    page.click("#picker-all-schools")
    chosen = page.eval_on_selector_all(
        "input[name=participant_org_ids]:checked", "boxes => boxes.map(b => b.closest('.picker-item').dataset.name)"
    )
    assert sorted(chosen) == ["甲镇第1小学", "甲镇第2小学", "甲镇第3小学"]  # schools only, this township only
    assert page.text_content("#picker-count") == "3"
    # On the phone the picker fits the screen: nothing sticks out sideways, and the button is tappable.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#picker-all-schools").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 30
    page.click("#picker-clear")
    assert page.text_content("#picker-count") == "0"


def test_bulk_plan_preview_fits_a_phone(client, make_user, make_region, make_org, browser_page):
    """The plan-for-many-units preview on a phone: the flagged dates and the create button fit 390 px."""
    town = make_region(name="甲镇")
    for n in range(1, 6):
        make_org(name=f"甲镇第{n}小学", region_code=town.code)
    user = make_user(role=Role.COORDINATOR, region_code=WUSU)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["lang"] = "zh_CN"
    data = {
        "mode": "per_unit",
        "region_code": town.code,
        "kinds": ["school"],
        "title": "秋季疏散演练",
        "form": "evacuation",
        "scope": "single",
        "joint_with": "none",
        "starts_at": "2030-09-14T10:00",
        "ends_at": "2030-09-14T11:00",
        "repeat": "TERM:AUTUMN",
    }
    html = client.post("/drills/bulk", data=data).get_data(as_text=True).split("<script", 1)[0] + "</body></html>"
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_content(html)
    for css in ("vendor/bootstrap/bootstrap.min.css", "drillmgr.css", "css/layout.css", "drills.css"):
        page.add_style_tag(content=(STATIC / css).read_text())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "为 5 个单位创建 20 场演练（每个单位 4 场）" in page.text_content("#bulk-preview-summary")
    # 14 September and 12 December 2030 are Saturdays: flagged before anything is created.
    assert page.eval_on_selector_all(".day-flag", "flags => flags.map(f => f.dataset.kind)") == ["weekend", "weekend"]
    button = page.locator("#bulk-create").bounding_box()
    assert button["x"] >= 0 and button["x"] + button["width"] <= 390
