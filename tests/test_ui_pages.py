"""Every menu page and the main detail and form pages, for every role, as a user sees them: the right answer
(200, or 403 where the role may not go), Chinese by default with the page's Chinese heading, and no English
text that the catalogues translate left showing on a Chinese page."""

from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from drillmgr.accounts.models import User
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate
from drillmgr.demo.services import seed_demo
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.findings import actions as findings
from drillmgr.localtime import local_today
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity
from drillmgr.regions.models import Region
from tests.conftest import at, login

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("admin", "wusu", "shawan", "viewer", "school")
MANAGERS = {"admin", "wusu", "shawan"}
OVERSEERS = {"admin", "wusu", "shawan", "viewer"}

# (url, Chinese text the page must show, roles that get the page; the others get 403)
MENU_PAGES = [
    ("/", "今天是", set(ROLES)),
    ("/drills/", "演练", set(ROLES)),
    ("/drills/calendar", "演练日历", set(ROLES)),
    ("/findings/actions", "整改措施", set(ROLES)),
    ("/checklists/", "准备清单", set(ROLES)),
    ("/checklists/templates", "清单模板", set(ROLES)),
    ("/compliance/", "达标", OVERSEERS),
    ("/compliance/report", "半年", OVERSEERS),
    ("/outreach/", "宣传教育", set(ROLES)),
    ("/outreach/coverage", "“六进”覆盖情况", set(ROLES)),
    ("/outreach/sites", "示范创建", set(ROLES)),
    ("/orgs/", "单位", set(ROLES)),
    ("/users", "用户", MANAGERS),
    ("/users/new", "用户", MANAGERS),
    ("/calendars/subscribe", "订阅演练日历", set(ROLES)),
    ("/notifications/", "通知", set(ROLES)),
    ("/admin/jobs/", "任务运行记录", {"admin"}),
]


def _translated_msgids() -> set[str]:
    """English msgids, free of placeholders, that some catalogue translates: such text on a Chinese page is a
    string that escaped gettext (or a catalogue that was not compiled)."""
    found = set()
    for po in ROOT.glob("drillmgr/**/zh_Hans_CN/LC_MESSAGES/messages.po"):
        with po.open("rb") as handle:
            catalog = read_po(handle)
        for message in catalog:
            if (
                message.id
                and isinstance(message.id, str)
                and message.string
                and "%" not in message.id
                and any(c.isalpha() for c in message.id)
                and message.id != message.string
            ):
                found.add(message.id.strip())
    return found


TRANSLATED = _translated_msgids()
# English words that are also proper names or technical terms on a Chinese page.
ALLOWED = {"English", "Outlook", "Thunderbird", "PDF", "Excel", "Word", "Asia/Shanghai"}


class _Text(HTMLParser):
    """The text a user reads: text nodes and the labels of controls, leaving out scripts, styles and code."""

    SKIP = {"script", "style", "code", "pre", "option"}

    def __init__(self):
        super().__init__()
        self.pieces: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        for name, value in attrs:
            if name in ("placeholder", "title", "aria-label") and value:
                self.pieces.append(value.strip())

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping and data.strip():
            self.pieces.append(data.strip())


def untranslated(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return sorted({piece for piece in parser.pieces if piece in TRANSLATED and piece not in ALLOWED})


@pytest.fixture
def demo(make_drill):
    seed_demo(org_count=120, drill_count=60)
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.is_demo.is_(True)))}
    school = users["school"]
    drills = db.session.scalars(
        sa.select(Drill).where(Drill.organizer_org_id == school.org_id, Drill.double_blind.is_(False))
    ).all()
    completed = next(d for d in drills if d.status == DrillStatus.COMPLETED)
    planned = make_drill(organizer=db.session.get(Organisation, school.org_id), title="（测试）避险疏散演练")
    finding = findings.add_drill_finding(
        school,
        completed,
        {
            "summary": "楼梯口拥堵",
            "severity": "major",
            "category": "facility",
            "corrective_action": {
                "description": "增设引导员",
                "owner": school.id,
                "due_on": (local_today() + timedelta(days=10)).isoformat(),
            },
        },
    )
    db.session.commit()
    run = db.session.scalar(
        sa.select(ChecklistRun).where(ChecklistRun.org_id == school.org_id).order_by(ChecklistRun.id)
    )
    org_path = db.session.get(Region, db.session.get(Organisation, school.org_id).region_code).path
    # The school's county coordinator sees its records; the other county's gets a 404, as if they did not exist.
    county = {"admin", "viewer", "school"} | {
        name for name in ("wusu", "shawan") if f"/{users[name].region_code}/" in org_path
    }

    def first_in_county(model, newest=False):
        order = model.id.desc() if newest else model.id
        return db.session.scalar(
            sa.select(model.id)
            .join(Region, Region.code == model.region_code)
            .where(sa.literal(org_path).startswith(Region.path))
            .order_by(order)
        )

    ids = {
        "county": county,
        "completed": completed.id,
        "planned": planned.id,
        "finding": finding.id,
        "org": school.org_id,
        "run": run.id if run else None,
        "user": school.id,
        "template": db.session.scalar(sa.select(ChecklistTemplate.id).order_by(ChecklistTemplate.id)),
        "activity": first_in_county(OutreachActivity, newest=True),
        "site": first_in_county(DemonstrationSite),
    }
    return users, ids


def detail_pages(ids: dict) -> list[tuple[str, str, set[str]]]:
    """The main detail and form pages of the school's own records, which every role in its county sees."""
    county = ids["county"]
    pages = [
        (f"/drills/{ids['completed']}", "参演情况", county),
        (f"/drills/{ids['planned']}", "演练形式", county),
        ("/drills/new", "计划演练", MANAGERS | {"school"}),
        (f"/drills/{ids['planned']}/complete", "参演", county - {"viewer"}),
        (f"/findings/{ids['finding']}", "整改", county),
        (f"/findings/drills/{ids['completed']}", "总结评估", county),
        (f"/orgs/{ids['org']}", "单位", county),
        (f"/checklists/templates/{ids['template']}", "清单", set(ROLES)),
        (f"/outreach/{ids['activity']}", "宣传教育", county - {"school"}),  # staff see their own unit's only
        ("/outreach/new", "登记活动", MANAGERS | {"school"}),
        (f"/outreach/sites/{ids['site']}/edit", "示范", county & MANAGERS),
        (f"/users/{ids['user']}", "用户", county & MANAGERS),
    ]
    if ids["run"]:
        pages.append((f"/checklists/runs/{ids['run']}", "准备清单", county))
    return pages


def _visit(client, user, language):
    assert client.post("/login", data={"username": user.username, "password": "drillmgr-demo"}).status_code == 302
    client.post("/language", data={"lang": language})


def test_pages_answer_each_role_in_chinese_without_leftover_english(app, demo):
    users, ids = demo
    problems = []
    for username in ROLES:
        client = app.test_client()
        _visit(client, users[username], "zh_CN")
        for url, heading, allowed in MENU_PAGES + detail_pages(ids):
            response = client.get(url)
            if username not in allowed:
                if response.status_code not in (403, 404):
                    problems.append(f"{username} {url}: {response.status_code}, expected 403")
                continue
            if response.status_code != 200:
                problems.append(f"{username} {url}: {response.status_code}")
                continue
            html = response.get_data(as_text=True)
            if heading not in html:
                problems.append(f"{username} {url}: no “{heading}”")
            leftover = untranslated(html)
            if leftover:
                problems.append(f"{username} {url}: English left on a Chinese page: {leftover}")
    assert not problems, problems


def test_english_pages_speak_english(app, client, demo):
    users, ids = demo
    _visit(client, users["admin"], "en")
    for url, heading in [
        ("/drills/", "Drills"),
        ("/drills/calendar", "Drill calendar"),
        ("/findings/actions", "Corrective actions"),
        ("/outreach/coverage", "Six-into"),
        (f"/drills/{ids['completed']}", "Participation"),
        ("/calendars/subscribe", "Subscribe"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert heading in html and "演练日历" not in html, url


def test_the_leftover_check_catches_a_translated_msgid():
    assert "Corrective actions" in TRANSLATED
    assert untranslated("<h1>Corrective actions</h1><code>Corrective actions</code>") == ["Corrective actions"]
    assert untranslated('<input placeholder="Corrective actions">') == ["Corrective actions"]
    assert untranslated("<h1>整改措施</h1>") == []


def test_a_flashed_form_error_names_its_field(client, make_org, make_user, make_drill):
    org = make_org()
    staff = make_user(org=org)
    drill = make_drill(organizer=org, starts_at=at(days=-3), status=DrillStatus.COMPLETED)
    assert login(client, staff).status_code == 302
    client.post("/language", data={"lang": "zh_CN"})
    response = client.post(f"/findings/drills/{drill.id}/findings", data={"new-summary": "楼梯口拥堵"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "整改措施：该字段是必填字段。" in html and "整改期限：该字段是必填字段。" in html
