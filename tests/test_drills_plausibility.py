"""Plausible numbers: participation against the units' headcounts, evacuation time against the drill's length
and the unit's target; exceptional numbers kept only with a confirmed reason; `1:35` as an evacuation time;
the trend chart keeps its scale when one value is far out."""

import re
from datetime import timedelta

import pytest

from drillmgr.drills.lifecycle import complete_drill, create_drill, update_drill
from drillmgr.drills.queries import chart_top
from drillmgr.drills.schemas import DrillSchema
from drillmgr.drills.forms import parse_duration
from drillmgr.drills.models import Participation
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from tests.conftest import WUSU, at, login, token_for

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU, headcount=2371, name="乌苏市第一中学")


@pytest.fixture
def staff(make_user, school):
    return make_user(role=Role.ORG_STAFF, org=school)


@pytest.fixture
def drill(make_drill, school):
    """A 30-minute evacuation drill held yesterday (the school's target: 120 s)."""
    return make_drill(organizer=school, starts_at=at(days=-1), minutes=30)


def completion(students=800, staff=60, seconds=95, **extra):
    return {"participation": {"counts": {"students": students, "staff": staff}, "evacuation_seconds": seconds, **extra}}


def refused(actor, drill, data) -> dict:
    with pytest.raises(ValidationError) as caught:
        complete_drill(actor, drill, data)
    db.session.rollback()
    return caught.value.errors


def test_participation_above_the_headcount_needs_a_confirmed_reason(staff, drill):
    errors = refused(staff, drill, completion(students=999_999))
    assert errors["participation.counts"] == [
        "1,000,059 people took part, more than the 2,371 recorded as the headcount of the units involved "
        "(the organiser and the participating units)."
    ]
    assert "participation.confirm_exceptional" in errors
    assert db.session.get(Participation, drill.id) is None
    errors = refused(staff, drill, completion(students=999_999, confirm_exceptional=True))
    assert errors["participation.exceptional_reason"] == ["Give the reason why these numbers are right."]
    done = complete_drill(
        staff, drill, completion(students=2500, confirm_exceptional=True, exceptional_reason="开放日家长一同参演")
    )
    assert done.participation.students == 2500
    assert done.participation.exceptional_reason == "开放日家长一同参演"
    assert DrillSchema().dump(done)["participation"]["exceptional_reason"] == "开放日家长一同参演"


def test_headcount_is_the_organiser_and_the_participants_summed(staff, drill, make_org):
    hospital = make_org(kind=OrgKind.HOSPITAL, region_code=WUSU, headcount=700)
    data = completion(students=2371, staff=700) | {"participant_org_ids": [hospital.id]}
    done = complete_drill(staff, drill, data)
    assert done.participation.total == 3071 and done.participation.exceptional_reason == ""
    errors = refused(staff, drill, completion(students=2371, staff=701) | {"participant_org_ids": [hospital.id]})
    assert "3,072 people took part, more than the 3,071" in errors["participation.counts"][0]


def test_no_headcount_check_when_a_unit_has_none_recorded(staff, drill, make_org):
    village = make_org(kind=OrgKind.VILLAGE, region_code=WUSU, headcount=0)
    done = complete_drill(staff, drill, completion(students=2000, staff=2000) | {"participant_org_ids": [village.id]})
    assert done.participation.total == 4000


def test_a_normal_completion_keeps_no_reason(staff, drill):
    done = complete_drill(staff, drill, completion(confirm_exceptional=True, exceptional_reason="多余"))
    assert done.participation.exceptional_reason == ""


def test_evacuation_never_longer_than_the_drill_itself(staff, drill):
    errors = refused(staff, drill, completion(seconds=86_400, confirm_exceptional=True, exceptional_reason="真的"))
    assert errors == {
        "participation.evacuation_seconds": [
            "The evacuation cannot have taken longer than the drill itself (30 min 0 s from its start to its end). "
            "Correct the time, or first the drill's end."
        ]
    }
    assert (
        complete_drill(
            staff, drill, completion(seconds=1800, confirm_exceptional=True, exceptional_reason="楼梯施工封闭")
        ).participation.evacuation_seconds
        == 1800
    )


def test_evacuation_far_above_the_target_needs_a_reason(staff, drill):
    errors = refused(staff, drill, completion(seconds=601))
    assert errors["participation.evacuation_seconds"] == [
        "An evacuation time of 10 min 1 s is more than 5 times the unit's target of 2 min 0 s."
    ]
    assert complete_drill(staff, drill, completion(seconds=600)).participation.evacuation_seconds == 600


def test_a_drill_cannot_be_shortened_below_its_evacuation(staff, drill):
    complete_drill(staff, drill, completion(seconds=300))
    with pytest.raises(ValidationError) as caught:
        update_drill(
            staff, drill, {"ends_at": (drill.starts_at + timedelta(minutes=4)).isoformat(), "version": drill.version}
        )
    assert caught.value.errors == {
        "ends_at": ["The drill cannot end before its recorded evacuation (5 min 0 s) was over."]
    }


def test_entering_a_drill_after_the_fact_is_checked_alike(staff, school):
    start = at(days=-10)
    data = {
        "title": "补录的疏散演练",
        "form": "evacuation",
        "organizer_org_id": school.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=30)).isoformat(),
    }
    with pytest.raises(ValidationError) as caught:
        create_drill(staff, data | completion(seconds=86_400))
    assert list(caught.value.errors) == ["participation.evacuation_seconds"]
    db.session.rollback()
    with pytest.raises(ValidationError) as caught:
        create_drill(staff, data | completion(students=999_999))
    assert set(caught.value.errors) == {"participation.counts", "participation.confirm_exceptional"}


def test_api_answers_422_naming_the_field_and_takes_the_confirmation(client, staff, drill):
    headers = token_for(client, staff) | {"Accept-Language": "en"}
    answer = client.post(f"/api/v1/drills/{drill.id}/complete", headers=headers, json=completion(students=999_999))
    assert answer.status_code == 422 and answer.content_type == "application/problem+json"
    assert set(answer.get_json()["errors"]) == {"participation.counts", "participation.confirm_exceptional"}
    answer = client.post(
        f"/api/v1/drills/{drill.id}/complete",
        headers=headers,
        json=completion(students=2500, confirm_exceptional=True, exceptional_reason="开放日家长一同参演"),
    )
    assert answer.status_code == 200
    assert answer.get_json()["participation"]["exceptional_reason"] == "开放日家长一同参演"
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    properties = schema["DrillCompletion"]["properties"]["participation"]["properties"]
    assert {"confirm_exceptional", "exceptional_reason"} <= set(properties)


@pytest.mark.parametrize(
    "text, seconds", [("95", 95), ("1:35", 95), ("1：35", 95), (" 2:00 ", 120), ("", None), ("0:07", 7)]
)
def test_evacuation_time_as_seconds_or_minutes_and_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1:75", "abc", "1:3:5", "-5", "1.5", "１:35", ":"])
def test_evacuation_time_that_is_neither(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def web_complete(client, drill, **fields):
    data = {"students": "800", "staff": "60", "evacuation_seconds": "1:35", "version": str(drill.version)}
    data.update(fields)
    return client.post(f"/drills/{drill.id}/complete", data=data)


def test_web_form_takes_minutes_and_seconds(client, staff, drill):
    login(client, staff)
    assert web_complete(client, drill).status_code == 302
    db.session.expire_all()
    assert drill.participation.evacuation_seconds == 95
    html = client.get(f"/drills/{drill.id}/complete").get_data(as_text=True)
    assert 'value="1:35"' in html


def test_web_form_rerenders_with_field_errors_and_keeps_the_input(client, staff, drill):
    login(client, staff)
    with client.session_transaction() as session:
        session["lang"] = "en"
    html = web_complete(client, drill, evacuation_seconds="1:75").get_data(as_text=True)
    assert "Enter the time in seconds (95) or as minutes:seconds (1:35)." in html and 'value="1:75"' in html
    html = web_complete(client, drill, students="999999").get_data(as_text=True)
    assert "more than the 2,371 recorded" in html and 'class="alert alert-warning py-2 counts-error"' in html
    assert 'value="999999"' in html and '<details class="mb-3" id="exceptional" open>' in html
    db.session.expire_all()
    assert drill.status == DrillStatus.PLANNED and drill.participation is None
    answer = web_complete(
        client, drill, students="2500", confirm_exceptional="y", exceptional_reason="开放日家长一同参演"
    )
    assert answer.status_code == 302
    page = client.get(f"/drills/{drill.id}").get_data(as_text=True)
    assert 'id="exceptional-reason"' in page and "开放日家长一同参演" in page


def _bar_heights(html: str) -> dict[int, float]:
    chart = html[html.index('class="evacuation-chart"') :]
    chart = chart[: chart.index("</svg>")]
    return {
        int(value): float(height)
        for height, value in re.findall(
            r'height="([\d.]+)"\s*fill="#[0-9a-f]+"[^>]*/>\s*(?:<path[^>]*/>\s*)?<text[^>]*>(?:▲)?(\d+)</text>', chart
        )
    }


def test_trend_chart_keeps_its_scale_with_an_outlier(client, staff, school, make_drill):
    for days, seconds in ((-40, 100), (-30, 110), (-20, 130), (-10, 3000)):
        past = make_drill(organizer=school, starts_at=at(days=days), minutes=60)
        complete_drill(
            staff, past, completion(seconds=seconds, confirm_exceptional=True, exceptional_reason="楼梯施工封闭")
        )
    login(client, staff)
    html = client.get(f"/drills/{past.id}").get_data(as_text=True)
    heights = _bar_heights(html)
    assert set(heights) == {100, 110, 130, 3000}
    assert heights[130] > 100  # the ordinary bars use the chart's height, not a sliver of it
    assert heights[3000] == max(heights.values())  # cut at the top of the axis
    assert html.count('class="bar over outlier') == 1 and 'class="scale-break"' in html


def test_chart_top():
    assert chart_top([100, 110, 130, 3000], 120) == pytest.approx(130 * 1.15)
    assert chart_top([100, 110, 130], 120) == pytest.approx(130 * 1.15)
    assert chart_top([100, 300], 120) == pytest.approx(300 * 1.15)  # 300 is not three times the median
    assert chart_top([], 120) == pytest.approx(120 * 1.15)
