"""Readiness checklists on the compliance pages, the report's default period and the chart's axis."""

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from drillmgr.checklists.models import ChecklistRun
from drillmgr.checklists.readiness import term_bounds
from drillmgr.checklists.templates import template_for_org
from drillmgr.compliance import dashboard as dash
from drillmgr.compliance.periods import report_due_half, reporting_half
from drillmgr.localtime import local_midnight, local_today
from drillmgr.enums import OrgKind, Role
from drillmgr.extensions import db
from tests.conftest import SHAWAN, WUSU, login, token_for

NOW = datetime.now(timezone.utc)


def completed_run(org, completed_at):
    db.session.add(
        ChecklistRun(
            template_id=template_for_org(org).id,
            org_id=org.id,
            region_code=org.region_code,
            started_at=completed_at - timedelta(hours=1),
            completed_at=completed_at,
        )
    )
    db.session.commit()


@pytest.fixture
def units(make_org, make_region, make_user):
    """In Wusu: a school ready this term, a kindergarten last ready before the term, a hospital with
    only an unfinished run, and a venue (no readiness checklist); in Shawan a ready school."""
    term_start = local_midnight(term_bounds(local_today(NOW))[0])
    township = make_region(parent_code=WUSU)
    ready = make_org(kind=OrgKind.SCHOOL, region_code=township.code, name="乌苏准备完成中学")
    stale = make_org(kind=OrgKind.KINDERGARTEN, region_code=WUSU, name="乌苏上学期幼儿园")
    started = make_org(kind=OrgKind.HOSPITAL, region_code=WUSU, name="乌苏未完成医院")
    venue = make_org(kind=OrgKind.VENUE, region_code=WUSU, name="乌苏体育馆")
    shawan = make_org(kind=OrgKind.SCHOOL, region_code=SHAWAN, name="沙湾准备完成中学")
    completed_run(ready, term_start + timedelta(hours=1))
    completed_run(stale, term_start - timedelta(days=10))
    db.session.add(
        ChecklistRun(template_id=template_for_org(started).id, org_id=started.id, region_code=WUSU, started_at=NOW)
    )
    completed_run(shawan, NOW - timedelta(minutes=5))
    return {
        "ready": ready,
        "stale": stale,
        "started": started,
        "venue": venue,
        "shawan": shawan,
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "admin": make_user(role=Role.ADMIN),
    }


def test_unit_readiness_marks_a_run_this_term_as_ready(units):
    rows = {row["id"]: row for row in dash.unit_readiness(WUSU, local_today(NOW))}
    assert rows[units["ready"].id]["ready"] is True
    assert rows[units["stale"].id]["ready"] is False and rows[units["stale"].id]["last_run"] is not None
    assert rows[units["started"].id]["ready"] is False and rows[units["started"].id]["last_run"] is None
    assert units["venue"].id not in rows and units["shawan"].id not in rows
    assert list(rows)[-1] == units["ready"].id  # units not ready come first


def test_unit_readiness_is_one_statement_however_many_units(units, make_org):
    def statements():
        seen = []

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        engine = db.session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            dash.unit_readiness(WUSU, local_today(NOW))
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    few = statements()
    for _ in range(5):
        completed_run(make_org(kind=OrgKind.SCHOOL, region_code=WUSU), NOW)
    assert statements() == few <= 3  # the county's subtree, then the units with their last run


def test_dashboard_readiness_per_county_in_the_users_region(units):
    mine = dash.build_dashboard(units["coordinator"], NOW.year, WUSU).readiness
    assert list(mine) == [WUSU]
    assert mine[WUSU]["ready"] >= 1 and mine[WUSU]["units"] >= 3
    everything = dash.build_dashboard(units["admin"], NOW.year, dash.default_region(units["admin"])).readiness
    assert SHAWAN in everything and everything[SHAWAN]["ready"] >= 1


def test_county_page_lists_units_ready_and_not(client, units):
    login(client, units["coordinator"])
    html = client.get(f"/compliance/county/{WUSU}").get_data(as_text=True)
    assert 'id="unit-readiness"' in html
    assert f'data-org="{units["ready"].id}" data-ready="yes"' in html
    assert f'data-org="{units["stale"].id}" data-ready="no"' in html
    assert f'data-org="{units["started"].id}" data-ready="no"' in html
    assert "乌苏体育馆" not in html.split('id="unit-readiness"')[1].split("</table>")[0]
    assert "本学期准备清单" in html


def test_dashboard_panel_shows_only_the_coordinators_counties(client, units):
    login(client, units["coordinator"])
    html = client.get("/compliance/").get_data(as_text=True)
    assert 'id="readiness"' in html
    assert f'data-county="{WUSU}"' in html and f'data-county="{SHAWAN}"' not in html
    assert client.get(f"/compliance/county/{SHAWAN}").status_code == 403


def test_dashboard_panel_shows_every_county_to_an_admin(client, units):
    login(client, units["admin"])
    html = client.get("/compliance/").get_data(as_text=True)
    assert f'data-county="{SHAWAN}"' in html and f'data-county="{WUSU}"' in html


@pytest.mark.parametrize(
    "today, due",
    [
        (date(2026, 11, 28), (2026, 2)),  # just after the 8 November deadline: that period is being filed
        (date(2026, 12, 31), (2026, 2)),
        (date(2027, 5, 7), (2026, 2)),  # 31 days before 7 June: still the last one
        (date(2027, 5, 8), (2027, 1)),  # 30 days before: prepare the first half
        (date(2027, 6, 8), (2027, 1)),
        (date(2027, 10, 9), (2027, 2)),
        (date(2027, 10, 8), (2027, 1)),
    ],
)
def test_report_due_half(today, due):
    assert report_due_half(today) == due
    year, half = due
    assert reporting_half(year, half).last_day <= today + timedelta(days=30)


def test_report_page_opens_on_the_period_due(client, units):
    login(client, units["coordinator"])
    html = client.get("/compliance/report").get_data(as_text=True)
    year, half = report_due_half(local_today(NOW))
    period = reporting_half(year, half)
    assert f'value="{year}"' in html and period.last_day.isoformat() in html
    assert f'<option value="{half}" selected>' in html
    assert html.count('class="table-responsive"') >= 5
    body = client.get("/api/v1/reports/half-year", headers=token_for(client, units["coordinator"])).get_json()
    assert (body["year"], body["half"]) == (year, half)


@pytest.mark.parametrize(
    "top, ticks",
    [(0, [0, 1]), (3, [0, 1, 2, 3]), (7, [0, 2, 4, 6, 8]), (170, [0, 50, 100, 150, 200]), (1234, [0, 500, 1000, 1500])],
)
def test_chart_ticks_are_round(top, ticks):
    assert dash.chart_ticks(top) == ticks


def test_chart_months_in_the_page_language(client, units):
    login(client, units["admin"])
    html = client.get("/compliance/").get_data(as_text=True)
    assert ">1月<" in html and ">12月<" in html
    client.post("/language", data={"lang": "en", "next": "/compliance/"})
    html = client.get("/compliance/").get_data(as_text=True)
    assert ">Jan<" in html and ">Dec<" in html and "Completed" in html
