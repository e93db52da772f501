from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from drillmgr.enums import DrillStatus, Role
from drillmgr.home.services import scope_summary
from tests.conftest import at, login

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
