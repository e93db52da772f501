"""Compliance pages, API and command line: roles, shapes, the report and its spreadsheet."""

import json
from datetime import date, datetime
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from drillmgr.audit.services import entries_for
from drillmgr.compliance.rules import get_rule
from drillmgr.enums import (
    ActionStatus,
    DrillForm,
    DrillScope,
    DrillStatus,
    FindingCategory,
    ObservanceDay,
    OrgKind,
    OutreachKind,
    Role,
    Severity,
)
from drillmgr.drills.models import Participation
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.outreach.models import OutreachActivity
from tests.conftest import SHAWAN, WUSU, at, local_day, login, token_for

BJ = ZoneInfo("Asia/Shanghai")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KEY_LINKS = ("command_post", "command_comms", "force_organization")


def this_year() -> int:
    return datetime.now(BJ).year


@pytest.fixture
def world(make_user, make_org, make_drill, make_region):
    """Wusu with a school, a completed live drill lacking a link, a secret double-blind tabletop
    planned next week, an overdue corrective action and a campaign; Shawan with its live drill."""
    township = make_region(parent_code=WUSU)
    school = make_org(kind=OrgKind.SCHOOL, region_code=township.code, name="乌苏测试中学")
    other = make_org(kind=OrgKind.SCHOOL, region_code=SHAWAN, name="沙湾测试中学")
    live = make_drill(
        organizer=WUSU,
        starts_at=at(days=-2),
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        focus=("command_post", "force_organization"),
        status=DrillStatus.COMPLETED,
        title="乌苏综合实战演练",
    )
    db.session.add(Participation(drill_id=live.id, rescuers=120, staff=30))
    secret = make_drill(
        organizer=WUSU, starts_at=at(days=7), form=DrillForm.TABLETOP, double_blind=True, title="绝密双盲桌面推演"
    )
    evacuation = make_drill(
        organizer=school, starts_at=at(days=-2, hours=1), status=DrillStatus.COMPLETED, title="学校疏散演练"
    )
    db.session.add(Participation(drill_id=evacuation.id, students=800, staff=60, evacuation_seconds=110))
    make_drill(
        organizer=SHAWAN,
        starts_at=at(days=-30),
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        focus=KEY_LINKS,
        status=DrillStatus.COMPLETED,
        title="沙湾综合实战演练",
    )
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    finding = Finding(
        drill_id=live.id,
        region_code=WUSU,
        summary="通信中断无备份",
        severity=Severity.MAJOR,
        category=FindingCategory.COMMUNICATIONS,
        found_on=live.starts_at.astimezone(BJ).date(),
    )
    finding.corrective_action = CorrectiveAction(
        description="配卫星电话", owner_id=coordinator.id, due_on=local_day(-2), status=ActionStatus.IN_PROGRESS
    )
    db.session.add(finding)
    db.session.add(
        OutreachActivity(
            kind=OutreachKind.OBSERVANCE_CAMPAIGN,
            title="防灾减灾日宣传",
            observance_day=ObservanceDay.DISASTER_REDUCTION_DAY,
            region_code=WUSU,
            held_on=date(this_year(), 5, 12),
            audience=3000,
        )
    )
    db.session.commit()
    return {
        "school": school,
        "other": other,
        "live": live,
        "secret": secret,
        "coordinator": coordinator,
        "admin": make_user(role=Role.ADMIN),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
        "staff": make_user(role=Role.ORG_STAFF, org=school),
        "shawan": make_user(role=Role.COORDINATOR, region_code=SHAWAN),
    }


# --- dashboard and roles -------------------------------------------------------------------------


def test_dashboard_matrix_and_panels_for_a_coordinator(client, world):
    login(client, world["coordinator"])
    page = client.get("/compliance/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "乌苏市" in html and "沙湾市" not in html  # only their own region
    assert 'id="matrix"' in html and "status-" in html
    assert "乌苏综合实战演练" in html and "绝密双盲桌面推演" in html  # coordinators see their double-blind plans
    assert 'id="overdue-count">1<' in html and "通信中断无备份" in html
    assert "<svg" in html


def test_viewer_does_not_learn_of_a_future_double_blind_drill(client, world):
    login(client, world["viewer"])
    html = client.get("/compliance/").get_data(as_text=True)
    assert "绝密双盲桌面推演" not in html
    assert client.get(f"/compliance/county/{WUSU}").status_code == 200
    assert "绝密双盲桌面推演" not in client.get(f"/compliance/report?region={WUSU}").get_data(as_text=True)


def test_roles_on_the_compliance_pages(client, world):
    login(client, world["staff"])
    for url in (
        "/compliance/",
        f"/compliance/county/{WUSU}",
        "/compliance/report",
        "/compliance/report.xlsx",
        "/compliance/rules",
    ):
        assert client.get(url).status_code == 403, url
    client.post("/logout")
    login(client, world["coordinator"])
    assert client.get(f"/compliance/?region={SHAWAN}").status_code == 403
    assert client.get(f"/compliance/county/{SHAWAN}").status_code == 403
    assert client.get("/compliance/report?region=654200").status_code == 403
    rule = get_rule(this_year(), "school-evacuation")
    assert client.get(f"/compliance/rules/{rule.id}").status_code == 403
    assert client.get("/compliance/rules").status_code == 200


def test_admin_sees_the_prefecture_and_drills_down(client, world):
    login(client, world["admin"])
    html = client.get("/compliance/").get_data(as_text=True)
    assert "沙湾市" in html and "塔城市" in html
    county = client.get(f"/compliance/county/{WUSU}").get_data(as_text=True)
    assert "乌苏测试中学" in county and "沙湾测试中学" not in county
    assert "link not exercised" in county or "command_comms" not in county


def test_rule_edit_is_audited_and_errors_rerender(client, world):
    login(client, world["admin"])
    rule = get_rule(this_year(), "key-county-comprehensive-live")
    form = client.get(f"/compliance/rules/{rule.id}").get_data(as_text=True)
    assert 'name="required_focus"' in form
    bad = client.post(
        f"/compliance/rules/{rule.id}",
        data={"version": rule.version, "warning_days": "abc", "count": "1", "period": "year"},
    )
    assert bad.status_code == 200 and "invalid-feedback" in bad.get_data(as_text=True)
    ok = client.post(
        f"/compliance/rules/{rule.id}",
        data={
            "version": rule.version,
            "warning_days": "30",
            "count": "1",
            "period": "year",
            "enabled": "on",
            "required_focus": ["command_post", "force_organization"],
        },
    )
    assert ok.status_code == 302
    db.session.refresh(rule)
    assert rule.params["required_focus"] == ["command_post", "force_organization"] and rule.params["warning_days"] == 30
    assert entries_for("compliance_rule", rule.id)[-1].user_id == world["admin"].id
    stale = client.post(
        f"/compliance/rules/{rule.id}", data={"version": 1, "warning_days": "20", "count": "1", "period": "year"}
    )
    assert stale.status_code == 200
    db.session.refresh(rule)
    assert rule.params["warning_days"] == 30


@pytest.mark.parametrize("version", ["99999999999999999999", "\u00b9", "0"])
def test_a_rule_version_no_form_carries_saves_nothing(client, world, version):
    login(client, world["admin"])
    rule = get_rule(this_year(), "key-county-comprehensive-live")
    before = dict(rule.params)
    db.session.commit()  # the year's rules, made on first use, kept whatever the request rolls back
    response = client.post(
        f"/compliance/rules/{rule.id}", data={"version": version, "warning_days": "20", "count": "1", "period": "year"}
    )
    assert response.status_code == 200 and "alert-danger" in response.get_data(as_text=True)
    db.session.refresh(rule)
    assert rule.params == before


# --- half-year report ----------------------------------------------------------------------------


def test_report_page_print_and_xlsx(client, world):
    login(client, world["coordinator"])
    # The drills of the fixture are within the last month: the reporting half containing today.
    from drillmgr.compliance.periods import reporting_half_of

    ry, half = reporting_half_of(world["live"].starts_at.astimezone(BJ).date())
    page = client.get(f"/compliance/report?region={WUSU}&year={ry}&half={half}")
    assert page.status_code == 200 and "乌苏综合实战演练" not in page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert "乌苏测试中学" in html and 'id="key-counties"' in html
    printable = client.get(f"/compliance/report?region={WUSU}&year={ry}&half={half}&print=1").get_data(as_text=True)
    assert "/static/css/report-print.css" in printable and 'class="gov-nav' not in printable
    assert "@media print" in client.get("/static/css/report-print.css").get_data(as_text=True)
    download = client.get(f"/compliance/report.xlsx?region={WUSU}&year={ry}&half={half}")
    assert download.status_code == 200 and download.mimetype == XLSX
    book = load_workbook(BytesIO(download.data))
    assert book.sheetnames[:3] == ["按演练形式统计", "联合及特殊演练", "按单位统计"]
    assert ("乌苏测试中学", "中小学") == next(
        row[:2] for row in book["按单位统计"].iter_rows(values_only=True) if row[0] == "乌苏测试中学"
    )
    assert book["发现问题及整改销号"]["A2":"G2"][0][3].value == "整改措施"
    findings = [row for row in book["发现问题及整改销号"].iter_rows(values_only=True) if row[0] == "通信中断无备份"]
    assert findings[0][1:5] == ("较重", findings[0][2], "配卫星电话", "整改中")  # labels and the action, not codes
    assert "通信中断无备份" in html


def test_report_bad_half_is_404(client, world):
    login(client, world["admin"])
    assert client.get("/compliance/report?year=2026&half=3").status_code == 404


# --- API -----------------------------------------------------------------------------------------


def test_api_compliance_shape(client, world):
    headers = token_for(client, world["coordinator"])
    body = client.get(f"/api/v1/compliance?year={this_year()}", headers=headers).get_json()
    assert body["year"] == this_year()
    live = next(r for r in body["rules"] if r["id"] == "key-county-comprehensive-live")
    assert set(live) == {"id", "title", "results"}
    (wusu,) = live["results"]
    assert set(wusu) == {"subject", "status", "required", "achieved", "evidence", "missing"}
    assert wusu["subject"] == {"type": "region", "code": WUSU, "name": "乌苏市"}
    assert wusu["status"] in ("not_due", "at_risk") and wusu["missing"] == ["command_comms"]
    school = next(r for r in body["rules"] if r["id"] == "school-evacuation")
    assert [r["subject"] for r in school["results"]] == [
        {"type": "org", "id": world["school"].id, "name": "乌苏测试中学"}
    ]


def test_api_hides_the_secret_from_viewers(client, world):
    from drillmgr.compliance.periods import reporting_half_of

    secret = world["secret"]
    year = reporting_half_of(secret.starts_at.astimezone(BJ).date())[0]

    def tabletop_result(user):
        body = client.get(f"/api/v1/compliance?year={year}", headers=token_for(client, user)).get_json()
        rule = next(r for r in body["rules"] if r["id"] == "key-county-double-blind-tabletop")
        return next(r for r in rule["results"] if r["subject"]["code"] == WUSU)

    seen = tabletop_result(world["coordinator"])
    assert seen["status"] == "on_track" and [e["id"] for e in seen["evidence"]] == [secret.id]
    hidden = tabletop_result(world["viewer"])
    assert hidden["status"] != "on_track" and hidden["evidence"] == []


def test_api_compliance_errors_and_roles(client, world):
    staff = token_for(client, world["staff"])
    assert client.get("/api/v1/compliance", headers=staff).status_code == 403
    coordinator = token_for(client, world["coordinator"])
    forbidden = client.get(f"/api/v1/compliance?region={SHAWAN}", headers=coordinator)
    assert forbidden.status_code == 403 and forbidden.mimetype == "application/problem+json"
    bad = client.get("/api/v1/compliance?year=abc&region=nowhere", headers=coordinator)
    assert bad.status_code == 422 and "year" in bad.get_json()["errors"]
    missing = client.get("/api/v1/compliance?region=999999", headers=coordinator)
    assert missing.status_code == 422 and "region" in missing.get_json()["errors"]
    assert client.get("/api/v1/compliance").status_code == 401


def test_api_half_year_report_json_and_xlsx(client, world):
    headers = token_for(client, world["admin"])
    from drillmgr.compliance.periods import reporting_half_of

    ry, half = reporting_half_of(world["live"].starts_at.astimezone(BJ).date())
    url = f"/api/v1/reports/half-year?year={ry}&half={half}&region={WUSU}"
    body = client.get(url, headers=headers).get_json()
    assert body["region"]["code"] == WUSU and body["half"] == half
    assert body["participation"]["students"] == 800 and body["participation"]["rescuers"] == 120
    evacuation = next(r for r in body["drills_by_form"] if r["form"] == "evacuation")
    assert evacuation["completed"] == 1
    assert body["findings"]["overdue"] == 1
    assert {r["county"] for r in body["key_county_obligations"]} == {"乌苏市"}
    xlsx = client.get(url + "&format=xlsx", headers=headers)
    assert xlsx.status_code == 200 and xlsx.mimetype == XLSX and xlsx.data[:2] == b"PK"
    by_accept = client.get(url, headers={**headers, "Accept": XLSX})
    assert by_accept.mimetype == XLSX
    assert client.get(url.replace(f"half={half}", "half=3"), headers=headers).status_code == 422
    assert (
        client.get(
            f"/api/v1/reports/half-year?region={SHAWAN}", headers=token_for(client, world["coordinator"])
        ).status_code
        == 403
    )


def test_openapi_describes_the_compliance_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "Compliance" in json.dumps(paths["/compliance"]["get"])
    assert XLSX in paths["/reports/half-year"]["get"]["responses"]["200"]["content"]


# --- command line --------------------------------------------------------------------------------


def test_cli_compliance_table_and_json(runner, world):
    table = runner.invoke(args=["compliance", "--year", str(this_year()), "--region", WUSU])
    assert table.exit_code == 0, table.output
    assert "key-county-comprehensive-live" in table.output and "乌苏测试中学" in table.output
    as_json = runner.invoke(args=["compliance", "--year", str(this_year()), "--format", "json"])
    body = json.loads(as_json.output)
    assert {r["id"] for r in body["rules"]} >= {"six-into", "after-action-filed"}
    assert runner.invoke(args=["compliance", "--year", "2026", "--region", "999"]).exit_code != 0


def test_pages_are_in_chinese_by_default(client, world):
    login(client, world["admin"])
    html = client.get(f"/compliance/county/{WUSU}").get_data(as_text=True)
    assert "达标情况" in html and "中小学：学期内每月开展避险疏散演练" in html
    assert "未演练环节" in html  # the live drill did not exercise command communications


def test_rules_page_is_read_only_for_viewers(client, world):
    login(client, world["viewer"])
    html = client.get(f"/compliance/rules?year={this_year()}").get_data(as_text=True)
    assert "school-evacuation" in html and "/compliance/rules/" not in html
    rule = get_rule(this_year(), "six-into")
    assert client.post(f"/compliance/rules/{rule.id}", data={"warning_days": "1"}).status_code == 403
    client.post("/logout")
    login(client, world["admin"])
    assert f"/compliance/rules/{rule.id}" in client.get(f"/compliance/rules?year={this_year()}").get_data(as_text=True)
