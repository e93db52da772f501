"""One local-time module: today's date and local midnights in the configured zone, and one ISO 8601 form
(with the local offset, +08:00) for every instant in every API answer (issue 12)."""

import re
from datetime import UTC, date, datetime

from drillmgr import localtime
from drillmgr.enums import OrgKind
from drillmgr.localtime import api_datetime, local_midnight, local_today
from drillmgr.outreach.schemas import SITE_YEARS_AHEAD, DemonstrationSiteSchema
from tests.conftest import token_for

INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def instants(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from instants(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from instants(item, f"{path}[{index}]")
    elif isinstance(value, str) and INSTANT.match(value):
        yield path, value


def test_the_local_date_turns_at_beijing_midnight(app):
    with app.app_context():
        assert local_today(datetime(2026, 6, 7, 15, 59, tzinfo=UTC)) == date(2026, 6, 7)
        assert local_today(datetime(2026, 6, 7, 16, 0, tzinfo=UTC)) == date(2026, 6, 8)
        assert local_midnight(date(2026, 6, 8)) == datetime(2026, 6, 7, 16, 0, tzinfo=UTC)
        assert api_datetime(datetime(2026, 6, 7, 16, 0, tzinfo=UTC)) == "2026-06-08T00:00:00+08:00"
        assert api_datetime(None) is None


def test_every_instant_the_api_gives_has_the_local_offset(client, make_user, make_org, make_drill):
    school = make_org(kind=OrgKind.SCHOOL)
    staff = make_user(org=school)
    drill = make_drill(organizer=school, starts_at=datetime(2025, 3, 3, 2, 0, tzinfo=UTC))
    headers = token_for(client, staff)
    run = client.post("/api/v1/checklist-runs", json={"org_id": school.id}, headers=headers).get_json()
    answers = {str(a["item_id"]): {"answer": "yes"} for a in run["answers"]}
    client.post(f"/api/v1/checklist-runs/{run['id']}/answers", json=answers, headers=headers)
    assert client.post(f"/api/v1/checklist-runs/{run['id']}/complete", headers=headers).status_code == 200
    answers = {
        "drill": client.get(f"/api/v1/drills/{drill.id}", headers=headers).get_json(),
        "run": client.get(f"/api/v1/checklist-runs/{run['id']}", headers=headers).get_json(),
        "runs": client.get("/api/v1/checklist-runs", headers=headers).get_json(),
    }
    found = dict(instants(answers))
    assert found[".drill.starts_at"] == "2025-03-03T10:00:00+08:00"
    assert {".run.started_at", ".run.completed_at"} <= set(found)
    assert all(value.endswith("+08:00") for value in found.values()), found


class _NewYearsNightInBeijing(datetime):
    """16:30 UTC on 31 December 2026: already 1 January 2027 in Beijing."""

    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 12, 31, 16, 30, tzinfo=UTC).astimezone(tz) if tz else datetime(2026, 12, 31, 16, 30)


def test_this_year_is_beijing_s_on_new_year_s_night(app, monkeypatch):
    """The outreach year's bound and the summaries' default year follow Beijing's calendar, not the UTC date."""
    monkeypatch.setattr(localtime, "datetime", _NewYearsNightInBeijing)
    with app.app_context():
        assert local_today() == date(2027, 1, 1)
        assert DemonstrationSiteSchema().fields["year"].maximum == 2027 + SITE_YEARS_AHEAD
