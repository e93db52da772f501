"""Drill pages: list, calendar, detail, and the plan / edit / reschedule / cancel / complete forms."""

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.extensions import db
from drillmgr.localtime import to_local
from tests.conftest import TACHENG_CITY, WUSU, at, local_day


def sign_in(client, user):
    """Logs in through the session, so the login rate limit stays out of these tests."""
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["lang"] = "en"


def local_input(moment) -> str:
    return to_local(moment).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU, name="乌苏市第一中学", headcount=2371)


@pytest.fixture
def staff(make_user, school):
    return make_user(role=Role.ORG_STAFF, org=school)


def form_data(school, **fields) -> dict:
    start = fields.pop("start", at(days=6))
    return {
        "title": "春季疏散演练",
        "form": "evacuation",
        "scope": "single",
        "joint_with": "none",
        "organizer": f"org:{school.id}",
        "region_code": "",
        "starts_at": local_input(start),
        "ends_at": local_input(start + timedelta(hours=1)),
        "location": "操场",
        "apply_to": "this",
    } | fields


def test_plan_page_and_plan(client, staff, school):
    sign_in(client, staff)
    page = client.get("/drills/new")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'selected value="org:{school.id}"' in html and "data-key-values" in html
    response = client.post(
        "/drills/new", data=form_data(school, focus=["evacuation"], conditions=["night"], magnitude="6.5")
    )
    assert response.status_code == 302
    drill = db.session.scalar(sa.select(Drill).order_by(Drill.id.desc()))
    assert response.headers["Location"].endswith(f"/drills/{drill.id}")
    assert drill.title == "春季疏散演练" and drill.region_code == WUSU and drill.conditions == ["night"]
    assert str(drill.magnitude) == "6.5"
    detail = client.get(f"/drills/{drill.id}").get_data(as_text=True)
    assert "春季疏散演练" in detail and "操场" in detail


def test_plan_form_refuses_end_before_start_and_keeps_input(client, staff, school):
    sign_in(client, staff)
    start = at(days=6)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Drill))
    response = client.post(
        "/drills/new",
        data=form_data(school, start=start, title="保留我的输入", ends_at=local_input(start - timedelta(hours=1))),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The end must be after the start." in html and "保留我的输入" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == before


@pytest.mark.parametrize("organizer", ["org:\u00b9", "org:99999999999", "org:"])
def test_an_organiser_that_is_no_unit_id_is_refused_and_keeps_input(client, staff, school, organizer):
    sign_in(client, staff)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Drill))
    response = client.post("/drills/new", data=form_data(school, organizer=organizer, title="保留我的输入"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "保留我的输入" in html and "is-invalid" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == before


def test_enter_after_the_fact(client, staff, school):
    sign_in(client, staff)
    response = client.post(
        "/drills/new",
        data=form_data(
            school, start=at(days=-30), already_held="y", students="640", staff="48", evacuation_seconds="131"
        ),
    )
    assert response.status_code == 302
    drill = db.session.scalar(sa.select(Drill).order_by(Drill.id.desc()))
    assert drill.status == DrillStatus.COMPLETED and drill.participation.students == 640
    html = client.get(f"/drills/{drill.id}").get_data(as_text=True)
    assert "over the target of 2 min 0 s by 11 s" in html


def test_enter_after_the_fact_with_minutes_and_seconds_and_a_confirmed_crowd(client, staff, school):
    sign_in(client, staff)
    data = form_data(
        school, start=at(days=-30), already_held="y", students="3000", staff="48", evacuation_seconds="2:11"
    )
    refused = client.post("/drills/new", data=data)
    assert refused.status_code == 200 and "more than the 2,371 recorded" in refused.get_data(as_text=True)
    response = client.post(
        "/drills/new", data=data | {"confirm_exceptional": "y", "exceptional_reason": "开放日家长一同参演"}
    )
    assert response.status_code == 302
    drill = db.session.scalar(sa.select(Drill).order_by(Drill.id.desc()))
    assert (drill.participation.evacuation_seconds, drill.participation.exceptional_reason) == (
        131,
        "开放日家长一同参演",
    )


def test_after_the_fact_without_participation_refused(client, staff, school):
    sign_in(client, staff)
    response = client.post("/drills/new", data=form_data(school, start=at(days=-30), already_held="y"))
    assert response.status_code == 200
    assert "without participation" in response.get_data(as_text=True)


def test_plan_recurring(client, staff, school):
    sign_in(client, staff)
    data = form_data(school, repeat="custom", rrule="FREQ=WEEKLY;COUNT=4")
    preview = client.post("/drills/new", data=data)
    assert preview.status_code == 200 and db.session.scalar(sa.select(sa.func.count()).select_from(DrillSeries)) == 0
    token = re.search(r'name="preview_token" value="([0-9a-f]{64})"', preview.get_data(as_text=True)).group(1)
    response = client.post("/drills/new", data=data | {"preview_token": token})
    assert response.status_code == 302
    series = db.session.scalar(sa.select(DrillSeries).order_by(DrillSeries.id.desc()))
    drills = db.session.scalars(sa.select(Drill).where(Drill.series_id == series.id)).all()
    assert len(drills) == 4
    html = client.get(f"/drills/{drills[1].id}").get_data(as_text=True)
    assert "FREQ=WEEKLY;COUNT=4" in html and 'id="series"' in html
    edit = client.get(f"/drills/{drills[1].id}/edit").get_data(as_text=True)
    assert 'name="apply_to"' in edit
    changed = client.post(
        f"/drills/{drills[1].id}/edit",
        data=form_data(
            school, title="改为下午", start=drills[1].starts_at, apply_to="following", version=str(drills[1].version)
        ),
    )
    assert changed.status_code == 302
    titles = [
        d.title
        for d in db.session.scalars(
            sa.select(Drill).where(Drill.id.in_([d.id for d in drills])).order_by(Drill.starts_at)
        )
    ]
    assert titles == ["春季疏散演练", "改为下午", "改为下午", "改为下午"]


def test_bad_custom_rule_refused(client, staff, school):
    sign_in(client, staff)
    response = client.post("/drills/new", data=form_data(school, repeat="custom", rrule="FREQ=SECONDLY"))
    assert response.status_code == 200
    assert "Not a valid RFC 5545 recurrence rule" in response.get_data(as_text=True)


def test_edit_conflict_keeps_input_and_offers_reload(client, staff, school, make_drill):
    drill = make_drill(organizer=school)
    sign_in(client, staff)
    page = client.get(f"/drills/{drill.id}/edit").get_data(as_text=True)
    assert re.search(r'name="version" type="hidden" value="1"', page)
    drill.location = "someone else's change"
    drill.version = 2
    db.session.commit()
    response = client.post(f"/drills/{drill.id}/edit", data=form_data(school, location="我的修改", version="1"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="conflict"' in html and "我的修改" in html
    assert f"/drills/{drill.id}/edit" in html
    assert db.session.get(Drill, drill.id).location == "someone else's change"


def test_reschedule_cancel_complete(client, staff, school, make_drill):
    drill = make_drill(organizer=school, starts_at=at(days=3))
    sign_in(client, staff)
    start = at(days=10)
    assert (
        client.post(
            f"/drills/{drill.id}/reschedule",
            data={"starts_at": local_input(start), "ends_at": local_input(start + timedelta(hours=1)), "version": "1"},
        ).status_code
        == 302
    )
    assert drill.sequence == 1 and drill.version == 2
    stale = client.post(f"/drills/{drill.id}/cancel", data={"reason": "暴雪", "version": "1"})
    assert 'id="conflict"' in stale.get_data(as_text=True) and "暴雪" in stale.get_data(as_text=True)
    assert client.post(f"/drills/{drill.id}/cancel", data={"reason": "暴雪", "version": "2"}).status_code == 302
    assert drill.status == DrillStatus.CANCELLED
    assert "暴雪" in client.get(f"/drills/{drill.id}").get_data(as_text=True)

    held = make_drill(organizer=school, starts_at=at(hours=-2))
    refused = client.post(f"/drills/{held.id}/complete", data={"students": "-3", "staff": "5", "version": "1"})
    assert refused.status_code == 200 and "Must be at least 0." in refused.get_data(as_text=True)
    empty = client.post(f"/drills/{held.id}/complete", data={"students": "0", "version": "1"})
    assert "without participation" in empty.get_data(as_text=True)
    assert held.status == DrillStatus.PLANNED
    done = client.post(
        f"/drills/{held.id}/complete",
        data={"students": "300", "staff": "20", "evacuation_seconds": "95", "version": "1"},
    )
    assert done.status_code == 302 and held.status == DrillStatus.COMPLETED
    html = client.get(f"/drills/{held.id}").get_data(as_text=True)
    assert "within the target of 2 min 0 s" in html


def test_other_unit_gets_403_on_forms(client, school, make_drill, make_org, make_user):
    drill = make_drill(organizer=school, participants=[other := make_org(region_code=WUSU)])
    sign_in(client, make_user(role=Role.ORG_STAFF, org=other))
    assert client.get(f"/drills/{drill.id}").status_code == 200
    for action in ("edit", "reschedule", "cancel", "complete"):
        assert client.get(f"/drills/{drill.id}/{action}").status_code == 403
    sign_in(client, make_user(role=Role.ORG_STAFF, org=make_org(region_code=TACHENG_CITY)))
    assert client.get(f"/drills/{drill.id}").status_code == 404
    assert client.get(f"/drills/{drill.id}/edit").status_code == 404


def test_list_filters_and_pagination(client, staff, school, make_drill):
    for n in range(27):
        make_drill(organizer=school, starts_at=at(days=n + 1), title=f"演练{n:02d}")
    make_drill(organizer=school, form="tabletop", starts_at=at(days=60), title="桌面推演甲")
    sign_in(client, staff)
    first = client.get("/drills/").get_data(as_text=True)
    assert first.count("data-drill-id=") == 25 and "1 / 2" in first
    second = client.get("/drills/?page=2").get_data(as_text=True)
    assert second.count("data-drill-id=") == 3
    tabletop = client.get("/drills/?form=tabletop").get_data(as_text=True)
    assert "桌面推演甲" in tabletop and tabletop.count("data-drill-id=") == 1
    ranged = client.get(f"/drills/?from={local_day(1)}&to={local_day(2)}").get_data(as_text=True)
    assert 1 <= ranged.count("data-drill-id=") <= 3
    bad = client.get("/drills/?status=nonsense")
    assert bad.status_code == 200 and "Unknown value" in bad.get_data(as_text=True)


def test_calendar_month(client, staff, school, make_drill):
    drill = make_drill(organizer=school, starts_at=at(days=1), title="日历上的演练")
    sign_in(client, staff)
    local = to_local(drill.starts_at)
    html = client.get(f"/drills/calendar?year={local.year}&month={local.month}").get_data(as_text=True)
    cell = html.split(f'data-date="{local.date().isoformat()}"', 1)[1].split("</td>", 1)[0]
    assert "日历上的演练" in cell
    assert 'id="prev-month"' in html and 'id="next-month"' in html
    other = client.get(f"/drills/calendar?year={local.year + 1}&month={local.month}").get_data(as_text=True)
    assert "日历上的演练" not in other


def test_org_page_shows_trend_and_drills(client, staff, school, make_drill):
    from drillmgr.drills.models import Participation

    for days, seconds in ((-60, 140), (-30, 110)):
        d = make_drill(organizer=school, starts_at=at(days=days), status=DrillStatus.COMPLETED)
        d.participation = Participation(students=100, evacuation_seconds=seconds)
        db.session.commit()
    sign_in(client, staff)
    html = client.get(f"/orgs/{school.id}").get_data(as_text=True)
    assert 'id="evacuation-trend"' in html and "<svg" in html and 'class="target"' in html
    assert html.count('class="bar') == 2 and 'class="bar over' in html


def test_attachments_through_the_page(client, staff, school, make_drill, make_user, make_org):
    drill = make_drill(organizer=school)
    sign_in(client, staff)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = client.post(
        f"/drills/{drill.id}/attachments",
        data={"kind": "photo", "file": (io.BytesIO(png), "现场.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert "现场.png" in html
    link = re.search(r'href="(/attachments/\d+)"', html).group(1)
    download = client.get(link)
    assert download.status_code == 200 and download.data == png and download.mimetype == "image/png"
    fake = client.post(
        f"/drills/{drill.id}/attachments",
        data={"kind": "plan", "file": (io.BytesIO(b"MZ\x90\x00 evil"), "方案.pdf")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "is not a .pdf file" in fake.get_data(as_text=True)
    sign_in(client, make_user(role=Role.ORG_STAFF, org=make_org(region_code=TACHENG_CITY)))
    assert client.get(link).status_code == 404


def test_calendar_day_with_many_drills_links_to_the_list_in_the_grid_and_on_phones(client, staff, school, make_drill):
    start = at(days=2)
    for n in range(7):
        make_drill(organizer=school, starts_at=start + timedelta(minutes=n), title=f"同日演练{n}")
    sign_in(client, staff)
    local = to_local(start)
    html = client.get(f"/drills/calendar?year={local.year}&month={local.month}").get_data(as_text=True)
    cell = html.split(f'data-date="{local.date().isoformat()}"', 1)[1].split("</td>", 1)[0]
    assert cell.count("cal-drill ") == 5 and "2 more…" in cell
    assert f"from={local.date().isoformat()}" in cell
    on_phones = html.split(f'<section class="agenda-day py-2" data-date="{local.date().isoformat()}"', 1)[1]
    on_phones = on_phones.split("</section>", 1)[0]
    assert on_phones.count('class="agenda-drill"') == 5 and "2 more…" in on_phones
    assert f"from={local.date().isoformat()}" in on_phones


def test_calendar_days_are_beijing_days_and_count_every_drill(client, staff, school, make_drill):
    """Midnight to midnight in Beijing time, from the first day of the grid to its last; each day's
    hidden drills are counted in the database, beyond the five shown."""
    bj = ZoneInfo("Asia/Shanghai")
    make_drill(organizer=school, starts_at=datetime(2030, 4, 30, 23, 59, tzinfo=bj), title="前一日深夜")
    make_drill(organizer=school, starts_at=datetime(2030, 5, 1, 0, 0, tzinfo=bj), title="当日零点")
    for n in range(6):
        make_drill(organizer=school, starts_at=datetime(2030, 5, 1, 23, 50 + n, tzinfo=bj), title=f"当日深夜{n}")
    make_drill(organizer=school, starts_at=datetime(2030, 4, 29, 8, tzinfo=bj), title="网格首日")  # a Monday
    make_drill(organizer=school, starts_at=datetime(2030, 4, 28, 23, 59, tzinfo=bj), title="网格之前")
    sign_in(client, staff)
    html = client.get("/drills/calendar?year=2030&month=5").get_data(as_text=True)

    def cell(day):
        return html.split(f'data-date="{day}"', 1)[1].split("</td>", 1)[0]

    assert "前一日深夜" in cell("2030-04-30") and "网格首日" in cell("2030-04-29")
    first = cell("2030-05-01")
    assert "当日零点" in first and "前一日深夜" not in first
    assert first.count("cal-drill ") == 5 and "2 more…" in first
    assert "网格之前" not in html


def test_calendar_scope_for_a_coordinator(client, make_org, make_user, make_drill):
    wusu_school, city_school = make_org(region_code=WUSU), make_org(region_code=TACHENG_CITY)
    start = at(days=3)
    make_drill(organizer=wusu_school, starts_at=start, title="乌苏学校演练")
    make_drill(organizer=city_school, starts_at=start, title="塔城市学校演练")
    make_drill(organizer=WUSU, starts_at=start, title="乌苏市本级演练")
    sign_in(client, make_user(role=Role.COORDINATOR, region_code=WUSU))
    local = to_local(start)
    html = client.get(f"/drills/calendar?year={local.year}&month={local.month}").get_data(as_text=True)
    assert "乌苏学校演练" in html and "乌苏市本级演练" in html and "塔城市学校演练" not in html
    filtered = client.get(
        f"/drills/calendar?year={local.year}&month={local.month}&org={wusu_school.id}&form=tabletop&region={WUSU}"
    ).get_data(as_text=True)
    assert "乌苏市本级演练" not in filtered
    # What was chosen stays chosen, each in its own list.
    assert f'<option value="{wusu_school.id}" selected>' in filtered
    assert '<option value="tabletop" selected>' in filtered and f'<option value="{WUSU}" selected>' in filtered
    assert filtered.count(" selected>") == 3


def test_the_list_opens_on_the_weeks_around_today_earliest_first(client, staff, school, make_drill):
    for days, title in ((-40, "上月之前"), (-3, "刚结束"), (10, "下周之后"), (200, "明年")):
        make_drill(organizer=school, starts_at=at(days=days), title=title)
    sign_in(client, staff)
    html = client.get("/drills/").get_data(as_text=True)
    listed = re.findall(r'data-drill-id="\d+">\s*<td[^>]*>[^<]*</td>\s*<td><a [^>]*>([^<]+)</a>', html)
    assert listed == ["刚结束", "下周之后"] and 'id="agenda-note"' in html
    everything = client.get("/drills/?from=&to=").get_data(as_text=True)
    assert re.findall(r'data-drill-id="\d+">\s*<td[^>]*>[^<]*</td>\s*<td><a [^>]*>([^<]+)</a>', everything) == [
        "明年",
        "下周之后",
        "刚结束",
        "上月之前",
    ]


def test_calendar_entries_name_the_unit(client, staff, school, make_drill):
    drill = make_drill(organizer=school, starts_at=at(days=1), title="（演示）避险疏散演练")
    sign_in(client, staff)
    local = to_local(drill.starts_at)
    html = client.get(f"/drills/calendar?year={local.year}&month={local.month}").get_data(as_text=True)
    entry = html.split(f'data-drill-id="{drill.id}"', 1)[1].split("</a>", 1)[0]
    assert re.search(r'<span class="cal-unit">.*乌苏市第一中学</span>', entry.split(">", 1)[1], re.S)


def test_a_cancelled_drill_is_not_called_rescheduled(client, staff, school, make_drill):
    from drillmgr.drills.lifecycle import cancel_drill

    drill = make_drill(organizer=school, starts_at=at(days=3))
    cancel_drill(staff, drill, {"reason": "天气", "version": drill.version})
    assert drill.sequence > 0
    sign_in(client, staff)
    html = client.get(f"/drills/{drill.id}").get_data(as_text=True)
    assert 'title="Rescheduled"' not in html and 'id="cancel-reason"' in html


def test_a_new_drill_defaults_to_evacuation_and_states_its_limits(client, staff):
    sign_in(client, staff)
    html = client.get("/drills/new").get_data(as_text=True)
    assert re.search(r'<option selected value="evacuation">', html)
    assert "At most 200 characters" in html and "At most 300 characters" in html
