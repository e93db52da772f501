"""Exports equal the page: the half-year report and the compliance matrix as page, print view, XLSX and
JSON, cell for cell, in both languages; user text never becomes a spreadsheet formula."""

import re
import zipfile
from datetime import date, datetime
from html.parser import HTMLParser
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook

from drillmgr.compliance.rules import RULE_KEYS, get_rule
from drillmgr.drills.models import Participation
from drillmgr.enums import (
    ActionStatus,
    ComplianceStatus,
    DrillForm,
    DrillScope,
    DrillStatus,
    FindingCategory,
    JointWith,
    ObservanceDay,
    OrgKind,
    OutreachKind,
    Role,
    Severity,
    SixIntoSetting,
)
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.outreach.models import OutreachActivity
from tests.conftest import PREFECTURE, WUSU, login, token_for

BJ = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YEAR = datetime.now(BJ).year - 1  # a reporting period wholly past: 8 June – 8 November of last year
HALF = 2
HOSTILE = [
    '=HYPERLINK("http://evil.example/","x")',
    "+1+1 中学",
    "-2+3 医院",
    "@SUM(1) 幼儿园",
    "\t=1+1 企业",
    "\r=cmd| 村委会",
]
CODES = (
    {
        e.value
        for enum in (
            DrillForm,
            DrillStatus,
            OrgKind,
            ActionStatus,
            Severity,
            OutreachKind,
            ComplianceStatus,
            JointWith,
            SixIntoSetting,
            ObservanceDay,
        )
        for e in enum
    }
    | {"region"}
    | set(RULE_KEYS)
)
LANGS = {"zh_CN": "zh-CN,zh;q=0.9", "en": "en"}


def bj(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(YEAR, month, day, hour, tzinfo=BJ)


@pytest.fixture
def county(make_user, make_org, make_drill, make_region):
    """Wusu's half-year: drills of every form in every status, units of several kinds (some with hostile
    names), participation, findings with actions in every state, outreach of several kinds."""
    town = make_region(parent_code=WUSU, name="测试镇")
    school = make_org(kind=OrgKind.SCHOOL, region_code=town.code, name="乌苏市第一中学")
    kindergarten = make_org(kind=OrgKind.KINDERGARTEN, region_code=town.code, name="乌苏市实验幼儿园")
    hospital = make_org(kind=OrgKind.HOSPITAL, region_code=WUSU, name="乌苏市人民医院")
    hostile = [
        make_org(kind=kind, region_code=WUSU, name=name)
        for kind, name in zip(
            (
                OrgKind.SCHOOL,
                OrgKind.SCHOOL,
                OrgKind.HOSPITAL,
                OrgKind.KINDERGARTEN,
                OrgKind.ENTERPRISE,
                OrgKind.VILLAGE,
            ),
            HOSTILE,
            strict=True,
        )
    ]
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    done = DrillStatus.COMPLETED
    tabletops = [
        make_drill(
            organizer=WUSU,
            starts_at=bj(7, d),
            form=DrillForm.TABLETOP,
            status=done,
            double_blind=(d == 1),
            title=f"桌面推演{d}",
        )
        for d in range(1, 19)
    ]
    make_drill(organizer=WUSU, starts_at=bj(10, 20), form=DrillForm.TABLETOP, title="计划未开展的桌面推演")
    make_drill(
        organizer=WUSU,
        starts_at=bj(10, 21),
        form=DrillForm.TABLETOP,
        status=DrillStatus.CANCELLED,
        title="取消的桌面推演",
    )
    live = make_drill(
        organizer=WUSU,
        starts_at=bj(9, 2, 10),
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        focus=("command_post", "command_comms", "force_organization"),
        status=done,
        joint_with=JointWith.CORPS,
        title="乌苏市综合实战演练",
    )
    db.session.add(Participation(drill_id=live.id, rescuers=1200, residents=3400, others=15))
    evacuations = []
    for index, (org, seconds) in enumerate(
        [(school, 95), (kindergarten, 140), (hospital, None), *((org, 60 + i) for i, org in enumerate(hostile))]
    ):
        drill = make_drill(organizer=org, starts_at=bj(9, 10 + index), status=done, title=f"{org.name}疏散演练")
        db.session.add(
            Participation(
                drill_id=drill.id, students=800 + index, staff=60, patients=7 * index, evacuation_seconds=seconds
            )
        )
        evacuations.append(drill)
    make_drill(organizer=school, starts_at=bj(10, 30), title="计划中的疏散演练")
    for index, (status, severity) in enumerate(
        [
            (ActionStatus.OPEN, Severity.MAJOR),
            (ActionStatus.IN_PROGRESS, Severity.MINOR),
            (ActionStatus.DONE, Severity.CRITICAL),
            (ActionStatus.VERIFIED, Severity.MAJOR),
        ]
    ):
        finding = Finding(
            drill_id=live.id,
            region_code=WUSU,
            summary=["通信中断无备份", "=1+2 疏散路线堵塞", "清点人数方法未明确", "广播听不清"][index],
            severity=severity,
            category=FindingCategory.COMMUNICATIONS,
            found_on=date(YEAR, 9, 2),
        )
        finding.corrective_action = CorrectiveAction(
            description=["配卫星电话", "-清理通道", "@制定清点办法", "更换广播"][index],
            owner_id=coordinator.id,
            due_on=date(YEAR, 9, 20 + index),
            status=status,
        )
        db.session.add(finding)
    for kind, title, audience, extra in [
        (
            OutreachKind.OBSERVANCE_CAMPAIGN,
            "唐山地震纪念日宣传",
            3000,
            {"observance_day": ObservanceDay.TANGSHAN_MEMORIAL},
        ),
        (OutreachKind.SIX_INTO, "+地震知识进校园", 1234567, {"setting": SixIntoSetting.SCHOOL}),
        (OutreachKind.SIX_INTO, "地震知识进社区", 450, {"setting": SixIntoSetting.COMMUNITY}),
    ]:
        db.session.add(
            OutreachActivity(
                kind=kind, title=title, region_code=WUSU, held_on=date(YEAR, 7, 28), audience=audience, **extra
            )
        )
    db.session.commit()
    return {
        "coordinator": coordinator,
        "admin": make_user(role=Role.ADMIN),
        "tabletops": tabletops,
        "evacuations": evacuations,
        "hostile": hostile,
    }


# --- reading the exports back ------------------------------------------------------------------------------


def api_report(client, user, lang: str, xlsx: bool = False):
    headers = {**token_for(client, user), "Accept-Language": LANGS[lang]}
    url = f"/api/v1/reports/half-year?year={YEAR}&half={HALF}&region={WUSU}" + ("&format=xlsx" if xlsx else "")
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.data[:500]
    return response


def read_book(data: bytes):
    book = load_workbook(BytesIO(data))
    with zipfile.ZipFile(BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<(\w+:)?f[ >]", archive.read(name)), f"a formula in {name}"
    return book


def assert_book_equals(book, document: dict):
    """Every cell of every sheet, against the JSON: the heading, the column labels, then the rows."""
    assert book.sheetnames == [s["sheet"] for s in document["sections"]]
    for ws, section in zip(book.worksheets, document["sections"], strict=True):
        width = len(section["columns"])
        expected = [[document["title"]] + [None] * (width - 1), section["columns"], *section["rows"]]
        assert all(len(row) == width for row in expected[2:]), section["key"]
        assert (ws.max_row, ws.max_column) == (len(expected), width), section["key"]
        for row_index, (cells, wanted) in enumerate(zip(ws.iter_rows(), expected, strict=True), start=1):
            values = [c.value for c in cells]
            assert values == wanted, (section["key"], row_index)
            for c in cells:
                assert c.data_type in ("s", "n"), (section["key"], c.coordinate, c.data_type)
                if isinstance(c.value, str):
                    assert c.data_type == "s" and c.value not in CODES, (section["key"], c.coordinate, c.value)


class Tables(HTMLParser):
    """The tables of a page by id: header labels and rows of cell texts (the "nothing here" row left out)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self.current, self.row, self.text, self.part = {}, None, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self.current = self.tables[attrs["id"]] = {"head": [], "rows": []}
        elif self.current is None:
            return
        elif tag in ("thead", "tbody"):
            self.part = tag
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.text = [] if "empty" not in (attrs.get("class") or "") else None

    def handle_endtag(self, tag):
        if self.current is None:
            return
        if tag in ("td", "th") and self.text is not None:
            self.row.append("".join(self.text))
            self.text = None
        elif tag == "tr" and self.row:
            (self.current["head"] if self.part == "thead" else self.current["rows"]).append(self.row)
            self.row = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.text is not None:
            self.text.append(data)


def page_text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:,}"
    return value.strip()


def assert_page_equals(html: str, document: dict, keys=None):
    tables = Tables(html).tables
    for section in document["sections"]:
        if keys is not None and section["key"] not in keys:
            continue
        table = tables[section["key"]]
        assert [t.strip() for t in table["head"][0]] == section["columns"], section["key"]
        assert [[t.strip() for t in row] for row in table["rows"]] == [
            [page_text(v) for v in row] for row in section["rows"]
        ], section["key"]


def section(document: dict, key: str) -> dict:
    return next(s for s in document["sections"] if s["key"] == key)


# --- the half-year report ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_half_year_xlsx_equals_its_json_cell_by_cell(client, county, lang):
    document = api_report(client, county["coordinator"], lang).get_json()
    xlsx = api_report(client, county["coordinator"], lang, xlsx=True)
    assert xlsx.mimetype == XLSX
    assert_book_equals(read_book(xlsx.data), document)
    assert len(document["sections"]) == 10
    # The roll calls by group have their own test (test_orgs_groups): this county's drills counted no group.
    assert all(s["rows"] for s in document["sections"] if s["key"] != "by-group")
    assert section(document, "by-group")["rows"] == []


def test_half_year_figures_and_labels_in_chinese(client, county):
    document = api_report(client, county["coordinator"], "zh_CN").get_json()
    book = read_book(api_report(client, county["coordinator"], "zh_CN", xlsx=True).data)
    by_form = book["按演练形式统计"]
    assert [c.value for c in by_form[2]] == ["演练形式", "已完成", "已计划", "已取消"]
    assert [c.value for c in by_form[3]] == ["桌面推演", 18, 1, 1]  # was 0 completed, 18 planned
    assert section(document, "by-form")["rows"][0] == ["桌面推演", 18, 1, 1]
    assert document["drills_by_form"][0]["completed"] == 18
    kinds = {row[0]: row[1] for row in section(document, "by-unit")["rows"]}
    assert kinds["乌苏市第一中学"] == "中小学" and kinds["乌苏市"] == "行政区划"
    assert kinds["乌苏市实验幼儿园"] != "kindergarten"
    findings = book["发现问题及整改销号"]
    assert [c.value for c in findings[2]][3:5] == ["整改措施", "整改状态"]
    rows = {row[0]: row for row in findings.iter_rows(min_row=3, values_only=True)}
    assert rows["通信中断无备份"][3:5] == ("配卫星电话", "待整改")
    assert rows["=1+2 疏散路线堵塞"][3] == "-清理通道"
    assert [row[1] for row in section(document, "joint")["rows"]] == [1, 0, 1, 0]
    participation = dict(section(document, "participation")["rows"])
    assert participation["学生"] == sum(800 + i for i in range(9)) and participation["救援人员"] == 1200
    outreach = {row[0]: row[1:] for row in section(document, "outreach")["rows"]}
    assert outreach["合计"] == [3, 3000 + 1234567 + 450]


def test_half_year_labels_in_english(client, county):
    document = api_report(client, county["coordinator"], "en").get_json()
    assert section(document, "by-form")["columns"] == ["Form", "Completed", "Planned", "Cancelled"]
    assert section(document, "by-form")["rows"][0] == ["Tabletop exercise", 18, 1, 1]
    kinds = {row[0]: row[1] for row in section(document, "by-unit")["rows"]}
    assert kinds["乌苏市第一中学"] == "Primary or secondary school" and kinds["乌苏市"] == "Region"
    units = {u["organiser"]: u for u in document["drills_by_unit"]}
    assert (units["乌苏市"]["kind"], units["乌苏市"]["kind_label"]) == ("region", "Region")
    assert {i["kind_label"] for i in document["outreach"]["items"]} == {"Observance-day campaign", "Six-into activity"}


@pytest.mark.parametrize("lang", LANGS)
def test_report_page_and_print_view_show_the_json_cells(client, make_user, county, lang):
    document = api_report(client, county["coordinator"], lang).get_json()
    reader = make_user(role=Role.COORDINATOR, region_code=WUSU, locale=lang)
    login(client, reader)
    for extra in ("", "&print=1"):
        page = client.get(f"/compliance/report?region={WUSU}&year={YEAR}&half={HALF}{extra}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert_page_equals(html, document)
        assert f'id="report-heading">{document["title"]}<' in html.replace("&ndash;", "–")
    web_xlsx = client.get(f"/compliance/report.xlsx?region={WUSU}&year={YEAR}&half={HALF}")
    assert_book_equals(read_book(web_xlsx.data), document)


def test_evidence_dates_are_beijing_dates(client, make_user, make_drill):
    """A drill at 07:00 Beijing time is on the previous day in UTC; the report gives the Beijing day."""
    from drillmgr.compliance.periods import reporting_half

    first = reporting_half(YEAR, HALF).first_day
    early = make_drill(
        organizer=WUSU,
        starts_at=datetime(YEAR, 6, 20, 7, tzinfo=BJ),
        form=DrillForm.TABLETOP,
        double_blind=True,
        status=DrillStatus.COMPLETED,
        title="清晨双盲推演",
    )
    assert early.starts_at.astimezone(BJ).date() >= first
    document = api_report(client, make_user(role=Role.ADMIN), "zh_CN").get_json()
    evidence = " ".join(str(row[4]) for row in section(document, "key-counties")["rows"])
    assert f"清晨双盲推演 ({YEAR}-06-20)" in evidence


# --- user text is never a formula ----------------------------------------------------------------------------


def test_hostile_names_are_text_cells_in_every_export(client, county):
    for lang in LANGS:
        data = api_report(client, county["coordinator"], lang, xlsx=True).data
        book = read_book(data)  # no <f> element anywhere
        cells = {
            c.value: c for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)
        }
        for name in [n.replace("\r", "\n") for n in HOSTILE] + [
            "=1+2 疏散路线堵塞",
            "-清理通道",
            "@制定清点办法",
            "+地震知识进校园",
        ]:
            assert name in cells, name
            assert cells[name].data_type == "s" and cells[name].quotePrefix, name
        matrix = read_book(
            client.get(
                f"/api/v1/compliance?year={YEAR}&region={WUSU}&format=xlsx",
                headers={**token_for(client, county["admin"]), "Accept-Language": LANGS[lang]},
            ).data
        )
        assert matrix.sheetnames


def test_control_characters_and_huge_text_do_not_break_the_workbook(client, county, make_org, make_drill):
    bell = make_org(kind=OrgKind.SCHOOL, region_code=WUSU, name="响\x07铃\x0b学校\x1f")
    make_drill(organizer=bell, starts_at=bj(8, 1), status=DrillStatus.COMPLETED)
    action = db.session.scalar(db.select(CorrectiveAction).where(CorrectiveAction.description == "更换广播"))
    action.description = "整改" * 40000
    db.session.commit()
    document = api_report(client, county["coordinator"], "zh_CN").get_json()
    assert "响铃学校" in [row[0] for row in section(document, "by-unit")["rows"]]
    assert len(next(r for r in section(document, "findings")["rows"] if r[0] == "广播听不清")[3]) == 32767
    assert_book_equals(read_book(api_report(client, county["coordinator"], "zh_CN", xlsx=True).data), document)


# --- the compliance matrix -----------------------------------------------------------------------------------


def api_compliance(client, user, lang: str, region: str, **extra):
    headers = {**token_for(client, user), "Accept-Language": LANGS[lang], **extra.pop("headers", {})}
    query = "&".join(f"{k}={v}" for k, v in {"year": YEAR, "region": region, **extra}.items())
    response = client.get(f"/api/v1/compliance?{query}", headers=headers)
    assert response.status_code == 200, response.data[:500]
    return response


@pytest.mark.parametrize("lang", LANGS)
def test_matrix_xlsx_equals_its_json_and_the_dashboard(app, client, make_user, county, lang):
    admin = county["admin"]
    matrix = api_compliance(client, admin, lang, PREFECTURE).get_json()["matrix"]
    by_format = api_compliance(client, admin, lang, PREFECTURE, format="xlsx")
    by_accept = api_compliance(client, admin, lang, PREFECTURE, headers={"Accept": XLSX})
    assert by_format.mimetype == by_accept.mimetype == XLSX
    assert_book_equals(read_book(by_format.data), matrix)
    assert_book_equals(read_book(by_accept.data), matrix)
    (table,) = matrix["sections"]
    assert len(table["rows"]) == 7 and len(table["columns"]) == 2 + len(RULE_KEYS)
    wusu = next(row for row in table["rows"] if row[0] == "乌苏市")
    assert wusu[1] == ("是" if lang == "zh_CN" else "yes")
    with app.test_request_context(), force_locale(lang):
        statuses = "|".join(re.escape(str(s.label)) for s in ComplianceStatus)
    cells = [value for row in table["rows"] for value in row[2:] if value is not None]
    assert cells and all(re.fullmatch(rf"({statuses})( \d+ · \d+ · \d+ · \d+)?", value) for value in cells), cells

    login(client, make_user(role=Role.ADMIN, locale=lang))
    page = client.get(f"/compliance/?region={PREFECTURE}&year={YEAR}").get_data(as_text=True)
    assert_page_equals(page, matrix)
    assert f'href="/compliance/matrix.xlsx?region={PREFECTURE}&amp;year={YEAR}"' in page
    download = client.get(f"/compliance/matrix.xlsx?region={PREFECTURE}&year={YEAR}")
    assert download.status_code == 200 and download.mimetype == XLSX
    assert_book_equals(read_book(download.data), matrix)


def test_matrix_xlsx_roles_and_bad_format(client, county, make_user):
    staff = make_user(role=Role.ORG_STAFF)
    login(client, staff)
    assert client.get("/compliance/matrix.xlsx").status_code == 403
    coordinator = token_for(client, county["coordinator"])
    assert client.get(f"/api/v1/compliance?region={PREFECTURE}&format=xlsx", headers=coordinator).status_code == 403
    bad = client.get("/api/v1/compliance?format=pdf", headers=coordinator)
    assert bad.status_code == 422 and "format" in bad.get_json()["errors"]


# --- the rules page ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lang, title", [("zh_CN", "重点县"), ("en", "Key county: comprehensive live drill every year")]
)
def test_rules_page_shows_titles_not_ids(client, make_user, lang, title):
    get_rule(YEAR, "six-into")
    login(client, make_user(role=Role.VIEWER, region_code=WUSU, locale=lang))
    html = client.get(f"/compliance/rules?year={YEAR}").get_data(as_text=True)
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S))
    assert title in visible
    for key in RULE_KEYS:
        assert key not in visible, key
