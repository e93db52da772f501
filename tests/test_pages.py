"""Every page without URL arguments renders for every role, in Chinese and in English, on demo data."""

import pytest
import sqlalchemy as sa

from drillmgr.accounts.models import User
from drillmgr.demo.services import seed_demo
from drillmgr.extensions import db

# The subscribe page's preview is JSON for its script, asked with a feed and a filter: without them, a 400.
SKIPPED = {"static", "accounts.logout", "accounts.login", "calendars.subscribe_preview"}


@pytest.fixture
def demo_users():
    seed_demo(org_count=120, drill_count=60)
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.is_demo.is_(True)))}
    return users


def pages(app):
    for rule in app.url_map.iter_rules():
        if (
            "GET" in rule.methods
            and not rule.arguments
            and not rule.endpoint.startswith("api.")
            and rule.endpoint not in SKIPPED
            and not rule.rule.endswith(".ics")
        ):
            yield rule.rule


@pytest.mark.parametrize("username", ["admin", "wusu", "viewer", "school"])
@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_page_renders_for_every_role(app, client, demo_users, username, language):
    user = demo_users[username]
    response = client.post("/login", data={"username": user.username, "password": "drillmgr-demo"})
    assert response.status_code == 302
    client.post("/language", data={"lang": language})
    broken = []
    for url in sorted(pages(app)):
        response = client.get(url)
        if response.status_code not in (200, 302, 403, 404):
            broken.append(f"{url}: {response.status_code}")
        elif response.status_code == 200 and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            expected = '<html lang="zh-CN">' if language == "zh_CN" else '<html lang="en">'
            if "<html" in html and expected not in html:
                broken.append(f"{url}: not in {language}")
    assert not broken, broken
