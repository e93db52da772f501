from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from drillmgr.drills.models import Drill
from drillmgr.enums import DrillForm, DrillScope, DrillStatus, Role
from drillmgr.extensions import db
from drillmgr.home.services import scope_summary
from tests.conftest import WUSU, at, count_statements, login

BEIJING = ZoneInfo("Asia/Shanghai")


def test_upcoming_drills_name_their_organiser(client, make_org, make_user, make_drill):
    school = make_org(name="乌苏市第一中学")
    make_drill(organizer=school, title="月度避险疏散演练", starts_at=at(days=3))
    login(client, make_user(role=Role.COORDINATOR))
    page = client.get("/").get_data(as_text=True)
    assert "月度避险疏散演练" in page and "乌苏市第一中学" in page


def test_this_years_drills_are_counted_from_new_year_in_beijing_time(app, make_drill, make_user):
    admin = make_user(role=Role.ADMIN)
    new_year = datetime(2026, 1, 1, tzinfo=BEIJING)
    make_drill(starts_at=(new_year + timedelta(hours=2)).astimezone(timezone.utc), status=DrillStatus.COMPLETED)
    make_drill(starts_at=(new_year - timedelta(hours=2)).astimezone(timezone.utc), status=DrillStatus.COMPLETED)
    with app.test_request_context():
        summary = scope_summary(admin, now=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert summary["completed_this_year"] == 1


def test_drills_waiting_for_their_record_cost_no_statement_per_drill(client, make_org, make_region, make_user):
    """The home page's "record it" list asks whether the user may record each drill: from regions and
    organisers loaded at once (it was two statements per drill, each in a region of its own)."""
    coordinator = make_user(role=Role.COORDINATOR)
    login(client, coordinator)

    def ended_drill_in_a_township_of_its_own(n):
        school = make_org(region_code=make_region(parent_code=WUSU).code)
        make_drill_ended(school, n)

    def make_drill_ended(school, n):
        starts_at = at(days=-1, hours=-n)
        drill = Drill(
            title=f"待记录演练{n}",
            form=DrillForm.EVACUATION,
            scope=DrillScope.SINGLE,
            region_code=school.region_code,
            organizer_org_id=school.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30),
        )
        db.session.add(drill)
        db.session.commit()

    ended_drill_in_a_township_of_its_own(0)
    db.session.expunge_all()  # nothing loaded before the request: it reads what it needs itself
    few = count_statements(client, "/")
    for n in range(1, 6):
        ended_drill_in_a_township_of_its_own(n)
    db.session.expunge_all()
    assert count_statements(client, "/") == few
    page = client.get("/").get_data(as_text=True)
    assert all(f"待记录演练{n}" in page for n in range(6))
