"""A unit's own obligations (page, home panel, API), a rule's list of units by status (page, XLSX, API),
the late reviews listed drill by drill, and the key-link warning while planning."""

from datetime import datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook

from drillmgr.compliance import obligations
from drillmgr.compliance.schemas import ObligationSchema
from drillmgr.enums import ComplianceStatus, DrillForm, DrillScope, DrillStatus, OrgKind, Role
from tests.conftest import SHAWAN, WUSU, at, login, token_for
from drillmgr.localtime import local_today

BJ = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NOW = datetime(2026, 12, 5, 10, tzinfo=BJ)  # school-year months March–June, September–December


def bj(month, day, hour=9, year=2026):
    return datetime(year, month, day, hour, tzinfo=BJ)


@pytest.fixture
def schools(make_org, make_user, make_drill, make_region):
    """Two schools of a Wusu township: 甲 held its evacuation drill in every school month so far except
    September and has December planned; 乙 held every month; a Shawan school; the people who look."""
    township = make_region(parent_code=WUSU)
    a = make_org(kind=OrgKind.SCHOOL, region_code=township.code, name="乌苏甲中学")
    b = make_org(kind=OrgKind.SCHOOL, region_code=township.code, name="乌苏乙小学")
    shawan = make_org(kind=OrgKind.SCHOOL, region_code=SHAWAN, name="沙湾丙中学")
    for month in (3, 4, 5, 6, 10, 11):
        make_drill(organizer=a, starts_at=bj(month, 10), status=DrillStatus.COMPLETED, title=f"甲疏散{month}月")
    for month in (3, 4, 5, 6, 9, 10, 11):
        make_drill(organizer=b, starts_at=bj(month, 12), status=DrillStatus.COMPLETED, title=f"乙疏散{month}月")
    make_drill(organizer=a, starts_at=bj(12, 8), title="甲十二月疏散")
    return {
        "a": a,
        "b": b,
        "shawan": shawan,
        "admin": make_user(role=Role.ADMIN),
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "shawan_coordinator": make_user(role=Role.COORDINATOR, region_code=SHAWAN),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
        "staff": make_user(role=Role.ORG_STAFF, org=a),
        "other_staff": make_user(role=Role.ORG_STAFF, org=shawan),
    }


# --- a unit's obligations ---------------------------------------------------------------------------


def test_a_unit_sees_each_rule_status_evidence_next_due_and_missing(app, schools, english):
    u = obligations.unit_obligations(schools["staff"], 2026, schools["a"].id, now=NOW)
    assert [o.rule.key for o in u.obligations] == [
        "school-evacuation"
    ]  # the kindergarten and hospital rules do not apply
    (o,) = u.obligations
    assert o.result.status is ComplianceStatus.MISSED
    assert o.missing == ["nothing counted in 2026, month 9"]
    assert o.next_due.isoformat() == "2026-12-31" and o.next_period == "2026, month 12"
    assert o.evidence_rule == (
        "A completed drill: Take-cover and evacuation drill; organised by the unit or with the unit "
        "taking part; a real earthquake response counts in its place"
    )
    assert o.result.achieved == 6 and o.result.required == 8
    as_dict = ObligationSchema().dump(o)
    assert [p["status"] for p in as_dict["periods"]] == ["met"] * 4 + ["missed", "met", "met", "on_track"]
    assert as_dict["periods"][7] == {
        "period": "2026, month 12",
        "last_day": "2026-12-31",
        "status": "on_track",
        "required": 1,
        "achieved": 0,
        "planned": 1,
    }


def test_a_secret_double_blind_drill_is_no_evidence_for_its_participants_before_it_starts(
    app, schools, make_drill, make_user, english
):
    """乙 has no December drill of its own; a double-blind evacuation drill planned by Wusu with 乙 taking part
    puts it on track for the coordinator, who planned it, but not for 乙's staff, who must not learn of it."""
    secret = make_drill(
        organizer=WUSU, starts_at=bj(12, 15), participants=[schools["b"]], double_blind=True, title="绝密双盲疏散"
    )
    b_staff = make_user(role=Role.ORG_STAFF, org=schools["b"])

    def december(user, now):
        (o,) = obligations.unit_obligations(user, 2026, schools["b"].id, now=now).obligations
        return o.result.slots[-1].status, o

    status, seen_by_coordinator = december(schools["coordinator"], NOW)
    assert status is ComplianceStatus.ON_TRACK
    assert any(e.get("title") == "绝密双盲疏散" for e in seen_by_coordinator.result.evidence)
    status, seen_by_staff = december(b_staff, NOW)
    assert status is ComplianceStatus.AT_RISK  # 26 days left, nothing the staff may know of planned
    assert "绝密双盲疏散" not in str(ObligationSchema().dump(seen_by_staff))
    # Once it has started it counts for everybody.
    status, _o = december(b_staff, secret.starts_at + timedelta(minutes=5))
    assert status is ComplianceStatus.ON_TRACK


@pytest.mark.parametrize(
    "who, org, web, api",
    [
        ("admin", "a", 200, 200),
        ("coordinator", "a", 200, 200),
        ("shawan_coordinator", "a", 403, 403),
        ("viewer", "a", 200, 200),
        ("staff", "a", 200, 200),
        ("staff", "shawan", 403, 403),
        ("other_staff", "a", 403, 403),
        ("other_staff", "shawan", 200, 200),
    ],
)
def test_who_sees_a_units_obligations(client, schools, who, org, web, api):
    org_id = schools[org].id
    headers = token_for(client, schools[who])
    assert client.get(f"/api/v1/compliance/units/{org_id}", headers=headers).status_code == api
    login(client, schools[who])
    assert client.get(f"/compliance/unit/{org_id}").status_code == web


def test_unknown_and_huge_unit_ids_are_not_found(client, schools):
    headers = token_for(client, schools["admin"])
    assert client.get("/api/v1/compliance/units/2147483647", headers=headers).status_code == 404
    assert client.get("/api/v1/compliance/units/2147483648", headers=headers).status_code == 404
    login(client, schools["admin"])
    assert client.get("/compliance/unit/2147483647").status_code == 404
    assert client.get("/compliance/unit").status_code == 404  # an admin has no unit of their own


@pytest.mark.parametrize("lang, missing_word", [("zh_CN", "缺少"), ("en", "Missing")])
def test_unit_staff_see_their_obligations_on_their_page_and_home(client, schools, make_user, lang, missing_word):
    staff = make_user(role=Role.ORG_STAFF, org=schools["a"], locale=lang)
    login(client, staff)
    page = client.get("/compliance/unit").get_data(as_text=True)
    assert 'data-rule="school-evacuation"' in page and "乌苏甲中学" in page
    home = client.get("/").get_data(as_text=True)
    assert 'id="home-obligations"' in home and 'data-rule="school-evacuation"' in home
    assert ("认定依据" if lang == "zh_CN" else "Counts as evidence") in home
    assert (
        "已完成的演练：避险疏散演练；由本单位组织或本单位参演"
        if lang == "zh_CN"
        else "A completed drill: Take-cover and evacuation drill; organised by the unit"
    ) in home
    client.post("/logout")
    login(client, schools["coordinator"])
    assert 'id="home-obligations"' not in client.get("/").get_data(as_text=True)


def test_unit_api_answers_values_in_the_callers_language(client, schools):
    headers = token_for(client, schools["staff"]) | {"Accept-Language": "en"}
    body = client.get(f"/api/v1/compliance/units/{schools['a'].id}?year=2025", headers=headers).get_json()
    assert body["year"] == 2025 and body["org"]["id"] == schools["a"].id
    (o,) = body["obligations"]
    assert o["rule"] == "school-evacuation" and o["status"] == "missed" and o["achieved"] == 0
    assert o["next_due"] is None and len(o["missing"]) == 8
    assert o["missing"][0] == "nothing counted in 2025, month 3"


# --- a rule's list ------------------------------------------------------------------------------------


def test_rule_list_groups_units_with_reason_and_date(app, schools, english):
    result = obligations.rule_list(schools["coordinator"], 2026, WUSU, "school-evacuation", now=NOW)
    rows = {row.result.name: row for row in result.rows}
    assert set(rows) == {"乌苏甲中学", "乌苏乙小学"}  # not Shawan's
    a, b = rows["乌苏甲中学"], rows["乌苏乙小学"]
    assert (a.result.status, a.reason, a.fix_by.isoformat()) == (
        ComplianceStatus.MISSED,
        "nothing counted in 2026, month 9",
        "2026-09-30",
    )
    assert b.result.status is ComplianceStatus.AT_RISK  # nothing planned for December, 26 days left
    assert (b.reason, b.fix_by.isoformat()) == ("nothing counted in 2026, month 12", "2026-12-31")
    assert result.counts == {
        ComplianceStatus.MET: 0,
        ComplianceStatus.ON_TRACK: 0,
        ComplianceStatus.AT_RISK: 1,
        ComplianceStatus.MISSED: 1,
    }
    assert [r.result.name for r in result.rows] == ["乌苏甲中学", "乌苏乙小学"]  # worst first
    by_due = obligations.rule_list(schools["coordinator"], 2026, WUSU, "school-evacuation", sort="due", now=NOW)
    assert [r.fix_by.isoformat() for r in by_due.rows] == ["2026-09-30", "2026-12-31"]
    missed = obligations.rule_list(
        schools["coordinator"], 2026, WUSU, "school-evacuation", status=ComplianceStatus.MISSED, now=NOW
    )
    assert [r.result.name for r in missed.rows] == ["乌苏甲中学"]


def test_a_unit_with_later_periods_not_due_is_on_track_in_the_breakdown(app, schools, english):
    early = datetime(2026, 7, 15, 10, tzinfo=BJ)  # March–June met, September far off
    result = obligations.rule_list(schools["coordinator"], 2026, WUSU, "school-evacuation", now=early)
    statuses = {r.result.name: (r.result.status, r.fix_by.isoformat()) for r in result.rows}
    assert statuses == {
        "乌苏甲中学": (ComplianceStatus.ON_TRACK, "2026-12-31"),  # December planned
        "乌苏乙小学": (ComplianceStatus.NOT_DUE, "2026-12-31"),
    }  # recorded ahead in the fixture
    assert result.counts[ComplianceStatus.ON_TRACK] == 2


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_rule_list_page_xlsx_and_api_agree(client, schools, make_user, lang):
    year = datetime.now(BJ).year
    headers = token_for(client, schools["coordinator"]) | {"Accept-Language": lang}
    body = client.get(
        f"/api/v1/compliance/rules/school-evacuation/subjects?region={WUSU}&year={year}&sort=name", headers=headers
    ).get_json()
    assert [s["subject"]["name"] for s in body["subjects"]] == sorted(["乌苏甲中学", "乌苏乙小学"])
    assert sum(body["counts"].values()) == 2
    book = client.get(
        f"/api/v1/compliance/rules/school-evacuation/subjects?region={WUSU}&year={year}&sort=name&format=xlsx",
        headers=headers,
    )
    assert book.mimetype == XLSX
    rows = list(load_workbook(BytesIO(book.data)).active.iter_rows(values_only=True))
    assert all(isinstance(v, str) for row in rows for v in row if v is not None)
    data_rows = [row for row in rows if row and row[0] in ("乌苏甲中学", "乌苏乙小学")]
    assert [(r[0], r[3] or "", r[4]) for r in data_rows] == [
        (s["subject"]["name"], s["reason"], s["fix_by"]) for s in body["subjects"]
    ]
    login(client, make_user(role=Role.COORDINATOR, region_code=WUSU, locale=lang))
    page = client.get(f"/compliance/list?rule=school-evacuation&region={WUSU}&year={year}&sort=name")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'href="/compliance/unit/{schools["a"].id}?year={year}"' in html
    for subject in body["subjects"]:
        assert subject["reason"] in html
    download = client.get(f"/compliance/list.xlsx?rule=school-evacuation&region={WUSU}&year={year}&sort=name")
    assert download.mimetype == XLSX
    assert list(load_workbook(BytesIO(download.data)).active.iter_rows(values_only=True)) == rows


@pytest.mark.parametrize(
    "who, status", [("admin", 200), ("coordinator", 200), ("viewer", 200), ("shawan_coordinator", 403), ("staff", 403)]
)
def test_who_sees_a_rule_list(client, schools, who, status):
    headers = token_for(client, schools[who])
    url = f"/api/v1/compliance/rules/school-evacuation/subjects?region={WUSU}"
    assert client.get(url, headers=headers).status_code == status
    login(client, schools[who])
    assert client.get(f"/compliance/list?rule=school-evacuation&region={WUSU}").status_code == status


def test_rule_list_refuses_unknown_rules_and_arguments(client, schools):
    headers = token_for(client, schools["admin"])
    assert client.get("/api/v1/compliance/rules/nope/subjects", headers=headers).status_code == 404
    assert (
        client.get("/api/v1/compliance/rules/school-evacuation/subjects?status=bad", headers=headers).status_code == 422
    )
    assert client.get(
        "/api/v1/compliance/rules/school-evacuation/subjects?sort=x\x00", headers=headers
    ).status_code in (400, 422)
    login(client, schools["admin"])
    assert client.get("/compliance/list?rule=nope").status_code == 404
    assert client.get("/compliance/list?rule=school-evacuation&status=bad").status_code == 404


def test_rule_list_is_not_a_query_per_unit(client, schools, make_org):
    from tests.test_region_choices_queries import selects_for

    login(client, schools["admin"])
    url = f"/compliance/list?rule=school-evacuation&region={WUSU}"
    selects_for(client, url)  # the first use of a year materialises its rules
    before = selects_for(client, url)
    for i in range(15):
        make_org(kind=OrgKind.SCHOOL, region_code=WUSU, name=f"新增学校{i}")
    assert selects_for(client, url) == before


def test_matrix_cells_show_the_breakdown_and_open_the_list(client, schools, make_user):
    year = datetime.now(BJ).year
    login(client, make_user(role=Role.COORDINATOR, region_code=WUSU, locale="en"))
    html = client.get(f"/compliance/?region={WUSU}&year={year}").get_data(as_text=True)
    assert f'href="/compliance/list?rule=school-evacuation&amp;region={WUSU}&amp;year={year}"' in html
    assert f'href="/compliance/list?rule=after-action-filed&amp;region={WUSU}&amp;year={year}"' in html
    body = client.get(
        f"/api/v1/compliance?region={WUSU}&year={year}",
        headers=token_for(client, schools["coordinator"]) | {"Accept-Language": "en"},
    ).get_json()
    columns = body["matrix"]["sections"][0]["columns"]
    row = next(r for r in body["matrix"]["sections"][0]["rows"] if r[0] == "乌苏市")
    value = row[columns.index("School evacuation")]
    counts = [int(n) for n in value.split(" ", 1)[1].split(" · ")] if " " in value else []
    assert len(counts) == 4 and sum(counts) == 2


# --- late reviews -------------------------------------------------------------------------------------


def test_late_reviews_are_listed_by_unit_and_title_paginated(client, schools, make_drill):
    year = datetime.now(BJ).year
    first = datetime(year, 1, 2, 9, tzinfo=BJ)
    for i in range(55):
        make_drill(
            organizer=schools["b"],
            starts_at=first + timedelta(hours=i),
            status=DrillStatus.COMPLETED,
            title=f"迟交评估演练{i:02d}",
        )
    headers = token_for(client, schools["coordinator"])
    page1 = client.get(f"/api/v1/compliance/reviews/late?region={WUSU}&year={year}", headers=headers).get_json()
    assert page1["total"] >= 55 and len(page1["items"]) == 50 and page1["page"] == 1
    page2 = client.get(f"/api/v1/compliance/reviews/late?region={WUSU}&year={year}&page=2", headers=headers).get_json()
    titles = [i["drill"]["title"] for i in page1["items"] + page2["items"]]
    assert {f"迟交评估演练{i:02d}" for i in range(55)} <= set(titles) and len(titles) == len(set(titles))
    assert page2["items"][-1]["unit"] in ("乌苏甲中学", "乌苏乙小学")
    login(client, schools["coordinator"])
    html = client.get(f"/compliance/reviews?region={WUSU}&year={year}&page=2").get_data(as_text=True)
    assert f'href="/compliance/unit/{schools["b"].id}?year={year}"' in html
    assert "迟交评估演练" in html and "演练412" not in html
    assert client.get(f"/compliance/reviews?region={SHAWAN}&year={year}").status_code == 403
    listing = client.get(f"/compliance/list?rule=after-action-filed&region={WUSU}&year={year}").get_data(as_text=True)
    assert "份未提交或逾期" in listing and "/compliance/reviews?" in listing


# --- key links while planning -------------------------------------------------------------------------


@pytest.mark.parametrize("lang, link", [("zh_CN", "应急指挥通信保障"), ("en", "Emergency command communications")])
def test_planning_a_key_county_live_drill_without_a_key_link_warns(client, schools, lang, link):
    headers = token_for(client, schools["coordinator"]) | {"Accept-Language": lang}
    start = at(days=20)
    response = client.post(
        "/api/v1/drills",
        headers=headers,
        json={
            "title": "乌苏综合演练",
            "form": "live",
            "scope": "comprehensive",
            "organizer_region_code": WUSU,
            "region_code": WUSU,
            "focus": ["command_post", "force_organization"],
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=3)).isoformat(),
        },
    )
    assert response.status_code == 201, response.get_json()
    (warning,) = response.get_json()["warnings"]
    assert link in warning
    drill_id = response.get_json()["id"]
    full = client.patch(
        f"/api/v1/drills/{drill_id}",
        headers=headers,
        json={
            "version": response.get_json()["version"],
            "focus": ["command_post", "command_comms", "force_organization"],
        },
    )
    assert full.status_code == 200 and full.get_json()["warnings"] == []
    shawan = client.post(
        "/api/v1/drills",
        headers=headers,
        json={
            "title": "普通演练",
            "form": "evacuation",
            "organizer_region_code": WUSU,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert shawan.get_json()["warnings"] == []


def test_the_key_county_panel_says_a_planned_drill_will_not_count(client, schools, make_drill, make_user):
    make_drill(
        organizer=WUSU,
        starts_at=at(days=3),
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        focus=("command_post", "force_organization"),
        title="缺通信综合演练",
    )
    login(client, schools["coordinator"])
    html = client.get(f"/compliance/?region={WUSU}").get_data(as_text=True)
    assert "已计划，但不计入：缺少应急指挥通信保障" in html
    assert "、" in html.split('id="key-')[1].split("</ul>")[0]  # links joined with 、 in Chinese
    client.post("/logout")
    login(client, make_user(role=Role.COORDINATOR, region_code=WUSU, locale="en"))
    html = client.get(f"/compliance/?region={WUSU}").get_data(as_text=True)
    assert "planned, will not count: missing Emergency command communications" in html
    assert "、" not in html.split('id="key-')[1].split("</ul>")[0]


def test_a_december_tabletop_says_it_counts_towards_next_years_first_period(client, schools, make_drill, make_user):
    make_drill(
        organizer=WUSU, starts_at=bj(12, 22), form=DrillForm.TABLETOP, double_blind=True, title="十二月双盲桌面推演"
    )
    make_drill(
        organizer=WUSU, starts_at=bj(11, 5), form=DrillForm.TABLETOP, double_blind=True, title="十一月双盲桌面推演"
    )
    login(client, schools["admin"])
    html = client.get(f"/compliance/?region={WUSU}&year=2026").get_data(as_text=True)
    items = html.split('class="key-tabletop"')[1:]
    december = next(i for i in items if "十二月双盲桌面推演" in i)
    november = next(i for i in items if "十一月双盲桌面推演" in i)
    assert "计入2027年上半年报告期（2026-11-09至2027-06-07）" in december
    assert "计入2026年下半年报告期（2026-06-08至2026-11-08）" in november
    client.post("/logout")
    login(client, make_user(role=Role.ADMIN, locale="en"))
    html = client.get(f"/compliance/?region={WUSU}&year=2026").get_data(as_text=True)
    assert "Counts towards 2027 first reporting period (2026-11-09 to 2027-06-07)" in html


# --- wording ------------------------------------------------------------------------------------------


def test_periods_and_lists_are_named_in_the_pages_language(app):
    from drillmgr.compliance.labels import join_list, period_label, reporting_period_name

    with app.test_request_context(), force_locale("zh_CN"):
        assert reporting_period_name(2026, 1) == "2026年上半年报告期（2025-11-09至2026-06-07）"
        assert reporting_period_name(2026, 2) == "2026年下半年报告期（2026-06-08至2026-11-08）"
        assert period_label("2026-H1") == "2026年上半年"
        assert join_list(["甲", "乙"]) == "甲、乙"
    with app.test_request_context(), force_locale("en"):
        assert reporting_period_name(2026, 1) == "2026 first reporting period (2025-11-09 to 2026-06-07)"
        assert join_list(["a", "b"]) == "a, b"


def test_report_submission_and_board_name_the_period_the_same_way(client, schools):
    from drillmgr.compliance.periods import report_due_half, reporting_half
    from drillmgr.compliance.report_tables import _heading
    from drillmgr.extensions import db
    from drillmgr.regions.models import Region

    wusu = db.session.get(Region, WUSU)
    with force_locale("zh_CN"):
        assert _heading(wusu, 2026, 1, reporting_half(2026, 1)) == "乌苏市 2026年上半年报告期（2025-11-09至2026-06-07）"
    year, half = report_due_half(local_today(datetime.now(BJ)))
    period = reporting_half(year, half)
    login(client, schools["admin"])
    html = client.get("/compliance/").get_data(as_text=True)
    name = f"{year}年{'上' if half == 1 else '下'}半年报告期（{period.first_day}至{period.last_day}）"
    assert f"{name}半年报告（{period.last_day}截止）" in html
    assert "第1报告期" not in html and "第2报告期" not in html and "第1半年" not in html


def test_the_plan_form_warns_of_the_missing_key_link(client, schools):
    from tests.test_drills_web import form_data, sign_in

    sign_in(client, schools["coordinator"])  # English session
    data = form_data(
        schools["a"],
        title="乌苏年度综合演练",
        form="live",
        scope="comprehensive",
        organizer=f"region:{WUSU}",
        region_code=WUSU,
        focus=["command_post", "force_organization"],
    )
    response = client.post("/drills/new", data=data, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "乌苏年度综合演练" in html
    assert (
        "This drill will not count as the key county&#39;s comprehensive live drill: it does not exercise "
        "Emergency command communications."
    ) in html
    complete = client.post(
        "/drills/new",
        data=data | {"focus": ["command_post", "command_comms", "force_organization"]},
        follow_redirects=True,
    )
    assert "will not count" not in complete.get_data(as_text=True)


def test_hostile_arguments_are_refused_not_crashed_on(client, schools):
    headers = token_for(client, schools["admin"])
    for url, status in (
        ("/api/v1/compliance/rules/a%00b/subjects", 404),
        ("/api/v1/compliance/rules/" + "x" * 5000 + "/subjects", 404),
        ("/api/v1/compliance/reviews/late?page=99999999", 400),
        (f"/api/v1/compliance/units/{schools['a'].id}?year=%00", 422),
        (f"/api/v1/compliance/units/{schools['a'].id}?year=99999", 422),
    ):
        assert client.get(url, headers=headers).status_code == status, url
    login(client, schools["admin"])
    assert client.get("/compliance/list?rule=a%00b").status_code == 422
    huge = client.get(f"/compliance/reviews?region={WUSU}&page=999999999999999999999")
    assert huge.status_code == 200 and 'id="late-reviews"' in huge.get_data(as_text=True)
