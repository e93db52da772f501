"""Plausible outreach numbers: no activity recorded before it is held; an on-site audience beyond the organising
unit's headcount, or beyond what a six-into setting's venue holds, is kept only with a confirmed reason."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from drillmgr.enums import OrgKind, Role
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import local_today
from drillmgr.outreach import activities
from drillmgr.outreach.models import OutreachActivity
from drillmgr.outreach.schemas import OutreachActivitySchema
from tests.conftest import WUSU, login, token_for

pytestmark = pytest.mark.usefixtures("english")
LAST_YEAR = date.today().year - 1


@pytest.fixture
def coordinator(make_user):
    return make_user(role=Role.COORDINATOR, region_code=WUSU)


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU, headcount=2371, name="乌苏市第一中学")


def activity(**extra):
    return {
        "kind": "six_into",
        "title": "防震减灾进校园",
        "setting": "school",
        "held_on": f"{LAST_YEAR}-04-01",
        "region_code": WUSU,
        "channels": ["on_site"],
        "audience": 300,
        **extra,
    }


def refused(actor, data) -> dict:
    with pytest.raises(ValidationError) as caught:
        activities.create_activity(actor, data)
    db.session.rollback()
    return caught.value.errors


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(OutreachActivity))


def test_no_activity_held_in_the_future(coordinator):
    tomorrow = local_today() + timedelta(days=1)
    errors = refused(coordinator, activity(held_on=tomorrow.isoformat()))
    assert list(errors) == ["held_on"] and "still to come" in errors["held_on"][0]
    next_march = date(local_today().year + 1, 3, 15)
    assert list(refused(coordinator, activity(held_on=next_march.isoformat()))) == ["held_on"]
    assert count() == 0
    assert activities.create_activity(coordinator, activity(held_on=local_today().isoformat())).held_on == local_today()


def test_school_activity_above_the_school_headcount_needs_a_reason(coordinator, school):
    errors = refused(coordinator, activity(organizer_org_id=school.id, audience=2_000_000))
    assert errors["audience"] == ["An audience of 2,000,000 is more than the headcount of 乌苏市第一中学 (2,371)."]
    assert "confirm_exceptional" in errors
    assert set(refused(coordinator, activity(organizer_org_id=school.id, audience=2372, confirm_exceptional=True))) == {
        "audience",
        "exceptional_reason",
    }
    assert count() == 0
    kept = activities.create_activity(
        coordinator,
        activity(
            organizer_org_id=school.id,
            audience=2600,
            confirm_exceptional=True,
            exceptional_reason="家长开放日，家长一同参加",
        ),
    )
    assert (kept.audience, kept.exceptional_reason) == (2600, "家长开放日，家长一同参加")
    assert OutreachActivitySchema().dump(kept)["exceptional_reason"] == "家长开放日，家长一同参加"
    assert (
        activities.create_activity(coordinator, activity(organizer_org_id=school.id, audience=2371)).exceptional_reason
        == ""
    )


def test_without_a_unit_the_setting_bounds_the_audience(coordinator):
    errors = refused(coordinator, activity(audience=900_000))
    assert errors["audience"] == [
        "An audience of 900,000 is more than what a venue of this setting (Into schools) holds (5,000)."
    ]
    assert activities.create_activity(coordinator, activity(audience=5000)).audience == 5000
    assert activities.create_activity(coordinator, activity(setting="community", audience=10_000)).audience == 10_000


def test_broadcasts_are_bounded_by_the_region_only(coordinator, school):
    made = activities.create_activity(
        coordinator, activity(organizer_org_id=school.id, audience=80_000, channels=["on_site", "tv"])
    )
    assert made.exceptional_reason == ""
    assert list(refused(coordinator, activity(audience=50_000_001, channels=["tv"]))) == ["audience"]


def test_a_change_of_title_does_not_ask_again(coordinator, school):
    made = activities.create_activity(
        coordinator,
        activity(organizer_org_id=school.id, audience=2600, confirm_exceptional=True, exceptional_reason="家长参加"),
    )
    activities.update_activity(coordinator, made, {"title": "防震减灾进校园（更正）"})
    assert made.exceptional_reason == "家长参加"
    db.session.commit()  # the test is the unit of work: the refusal below takes back only itself
    with pytest.raises(ValidationError):
        activities.update_activity(coordinator, made, {"audience": 3000})
    db.session.rollback()
    activities.update_activity(coordinator, made, {"audience": 300})
    assert made.exceptional_reason == ""


def test_api_names_the_field(client, coordinator, school):
    headers = token_for(client, coordinator) | {"Accept-Language": "en"}
    answer = client.post(
        "/api/v1/outreach", headers=headers, json=activity(organizer_org_id=school.id, audience=2_000_000)
    )
    assert answer.status_code == 422 and answer.content_type == "application/problem+json"
    assert set(answer.get_json()["errors"]) == {"audience", "confirm_exceptional"}
    future = client.post(
        "/api/v1/outreach", headers=headers, json=activity(held_on=(local_today() + timedelta(days=100)).isoformat())
    )
    assert future.status_code == 422 and list(future.get_json()["errors"]) == ["held_on"]
    answer = client.post(
        "/api/v1/outreach",
        headers=headers,
        json=activity(
            organizer_org_id=school.id, audience=2600, confirm_exceptional=True, exceptional_reason="家长参加"
        ),
    )
    assert answer.status_code == 201 and answer.get_json()["exceptional_reason"] == "家长参加"


def test_web_form_rerenders_and_the_reason_is_shown(client, coordinator, school):
    login(client, coordinator)
    with client.session_transaction() as session:
        session["lang"] = "en"
    data = {
        "kind": "six_into",
        "title": "防震减灾进校园",
        "observance_day": "",
        "setting": "school",
        "held_on": f"{LAST_YEAR}-04-01",
        "region_code": WUSU,
        "organizer_org_id": str(school.id),
        "channels": ["on_site"],
        "audience": "2000000",
        "description": "",
    }
    html = client.post("/outreach/new", data=data).get_data(as_text=True)
    assert "An audience of 2,000,000 is more than the headcount of 乌苏市第一中学 (2,371)." in html
    assert '<details class="mb-3" id="exceptional" open>' in html and count() == 0
    answer = client.post(
        "/outreach/new",
        data=data | {"audience": "2600", "confirm_exceptional": "y", "exceptional_reason": "家长开放日"},
    )
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'id="exceptional-reason"' in page and "家长开放日" in page
