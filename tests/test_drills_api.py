"""The drills API: every role against every endpoint, bad input, conflicts, the OpenAPI document."""

import io
from datetime import timedelta

import pytest

from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.extensions import db
from tests.conftest import TACHENG_CITY, WUSU, at, issue_kept_token, local_day

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def auth(user) -> dict:
    return {"Authorization": f"Bearer {issue_kept_token(user)}", "Accept-Language": "en"}


@pytest.fixture
def cast(make_org, make_user):
    """A school in Wusu organising drills, a participating unit, an evaluator from a third unit, and outsiders."""
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU, headcount=2371)
    partner = make_org(kind=OrgKind.HOSPITAL, region_code=WUSU)
    third = make_org(kind=OrgKind.RESCUE_TEAM, region_code=WUSU)
    stranger_org = make_org(region_code=TACHENG_CITY)
    users = {
        "admin": make_user(role=Role.ADMIN),
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "other_coordinator": make_user(role=Role.COORDINATOR, region_code=TACHENG_CITY),
        "organiser": make_user(role=Role.ORG_STAFF, org=school),
        "participant": make_user(role=Role.ORG_STAFF, org=partner),
        "evaluator": make_user(role=Role.ORG_STAFF, org=third),
        "stranger": make_user(role=Role.ORG_STAFF, org=stranger_org),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
    }
    return {"school": school, "partner": partner, "users": users}


@pytest.fixture
def drill(cast, make_drill):
    return make_drill(
        organizer=cast["school"],
        participants=[cast["partner"]],
        evaluators=[cast["users"]["evaluator"]],
        starts_at=at(hours=-3),
    )


def body(school, **fields) -> dict:
    start = fields.pop("start", at(days=5))
    return {
        "title": "疏散演练",
        "form": "evacuation",
        "organizer_org_id": school.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
    } | fields


SEES = {"admin", "coordinator", "organiser", "participant", "evaluator", "viewer"}
EDITS = {"admin", "coordinator", "organiser"}


@pytest.mark.parametrize(
    "role", ["admin", "coordinator", "other_coordinator", "organiser", "participant", "evaluator", "stranger", "viewer"]
)
def test_role_matrix(client, cast, drill, role):
    user = cast["users"][role]
    headers = auth(user)
    sees, edits = role in SEES, role in EDITS

    assert client.get(f"/api/v1/drills/{drill.id}", headers=headers).status_code == (200 if sees else 404)
    listed = {d["id"] for d in client.get("/api/v1/drills?per_page=500", headers=headers).get_json()["items"]}
    assert (drill.id in listed) == sees

    hidden = 404
    refused = 403 if sees else hidden
    patch = client.patch(
        f"/api/v1/drills/{drill.id}", json={"location": role, "version": drill.version}, headers=headers
    )
    assert patch.status_code == (200 if edits else refused)
    if edits:
        assert patch.get_json()["location"] == role
    version = db.session.get(Drill, drill.id).version

    upload = client.post(
        f"/api/v1/drills/{drill.id}/attachments",
        headers=headers,
        data={"kind": "plan", "file": (io.BytesIO(PDF), "方案.pdf")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == (201 if edits else refused)

    complete = client.post(
        f"/api/v1/drills/{drill.id}/complete",
        headers=headers,
        json={"participation": {"counts": {"students": 300, "staff": 20}}, "version": version},
    )
    assert complete.status_code == (200 if edits else refused)

    cancel = client.post(f"/api/v1/drills/{drill.id}/cancel", headers=headers, json={"reason": "测试"})
    assert cancel.status_code == (409 if edits else refused)

    created = client.post("/api/v1/drills", headers=headers, json=body(cast["school"]))
    assert created.status_code == (201 if role in EDITS else 403)


def test_anonymous_is_refused(client, drill):
    for method, url in (
        ("get", "/api/v1/drills"),
        ("get", f"/api/v1/drills/{drill.id}"),
        ("post", "/api/v1/drills"),
        ("patch", f"/api/v1/drills/{drill.id}"),
        ("post", f"/api/v1/drills/{drill.id}/complete"),
        ("post", f"/api/v1/drills/{drill.id}/cancel"),
        ("post", f"/api/v1/drills/{drill.id}/attachments"),
        ("get", "/api/v1/attachments/1"),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 401, url
        assert response.mimetype == "application/problem+json"


def test_create_get_and_iso_times(client, cast):
    headers = auth(cast["users"]["organiser"])
    response = client.post(
        "/api/v1/drills",
        headers=headers,
        json=body(cast["school"], scenario={"magnitude": 6.0, "conditions": ["night"]}, focus=["evacuation"]),
    )
    assert response.status_code == 201
    data = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/drills/{data['id']}")
    assert data["starts_at"].endswith("+08:00") and data["region_code"] == WUSU
    assert data["scenario"] == {"magnitude": 6.0, "conditions": ["night"]}
    fetched = client.get(f"/api/v1/drills/{data['id']}", headers=headers).get_json()
    assert fetched == data


def test_enter_after_the_fact_in_one_call(client, cast):
    headers = auth(cast["users"]["organiser"])
    response = client.post(
        "/api/v1/drills",
        headers=headers,
        json=body(
            cast["school"],
            start=at(days=-200),
            participation={"counts": {"students": 700, "staff": 50}, "evacuation_seconds": 98},
        ),
    )
    assert response.status_code == 201
    data = response.get_json()
    assert data["status"] == "completed"
    assert data["participation"]["counts"]["students"] == 700
    assert data["participation"]["evacuation_seconds"] == 98
    assert data["participation"]["evacuation_target_seconds"] == 120


def test_stale_version_is_409_problem(client, cast, drill):
    headers = auth(cast["users"]["organiser"])
    first = client.patch(f"/api/v1/drills/{drill.id}", headers=headers, json={"location": "A", "version": 1})
    assert first.status_code == 200 and first.get_json()["version"] == 2
    second = client.patch(f"/api/v1/drills/{drill.id}", headers=headers, json={"location": "B", "version": 1})
    assert second.status_code == 409
    assert second.mimetype == "application/problem+json"
    assert second.get_json()["status"] == 409 and "version" in second.get_json()["errors"]
    assert db.session.get(Drill, drill.id).location == "A"


@pytest.mark.parametrize("participation", [False, {"counts": {"students": 1}}, "all"])
def test_participation_sent_with_a_change_is_refused_not_dropped(client, cast, drill, participation):
    """Found by the fuzzer: PATCH took `participation: false` and answered 200, having changed nothing of it."""
    headers = auth(cast["users"]["organiser"])
    response = client.patch(
        f"/api/v1/drills/{drill.id}",
        headers=headers,
        json={"location": "礼堂", "participation": participation, "version": 1},
    )
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["participation"]
    assert db.session.get(Drill, drill.id).location != "礼堂"
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert "participation" not in schemas["DrillInputPatch"]["properties"]


def test_reschedule_raises_sequence(client, cast, drill):
    headers = auth(cast["users"]["organiser"])
    start = at(days=9)
    response = client.patch(
        f"/api/v1/drills/{drill.id}",
        headers=headers,
        json={"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(), "version": 1},
    )
    data = response.get_json()
    assert data["id"] == drill.id and data["sequence"] == 1 and data["version"] == 2


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"form": "parade"}, "form"),
        ({"joint_with": "navy"}, "joint_with"),
        ({"focus": ["x"]}, "focus"),
        ({"scenario": {"conditions": ["rain"]}}, "scenario.conditions"),
        ({"starts_at": "tomorrow"}, "starts_at"),
    ],
)
def test_unknown_values_are_422_naming_the_field(client, cast, payload, field):
    before = db.session.query(Drill).count()
    response = client.post(
        "/api/v1/drills", headers=auth(cast["users"]["organiser"]), json=body(cast["school"]) | payload
    )
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert db.session.query(Drill).count() == before


def test_end_before_start_is_422(client, cast):
    start = at(days=5)
    response = client.post(
        "/api/v1/drills",
        headers=auth(cast["users"]["organiser"]),
        json=body(cast["school"], start=start, ends_at=(start - timedelta(minutes=5)).isoformat()),
    )
    assert response.status_code == 422
    assert response.get_json()["errors"]["ends_at"] == ["The end must be after the start."]


def test_malformed_json_is_400(client, cast, drill):
    headers = auth(cast["users"]["organiser"]) | {"Content-Type": "application/json"}
    for method, url in (
        ("post", "/api/v1/drills"),
        ("patch", f"/api/v1/drills/{drill.id}"),
        ("post", f"/api/v1/drills/{drill.id}/complete"),
        ("post", f"/api/v1/drills/{drill.id}/cancel"),
    ):
        response = getattr(client, method)(url, headers=headers, data="{not json")
        assert response.status_code == 400, url
        assert response.mimetype == "application/problem+json"
    assert db.session.get(Drill, drill.id).version == 1


def test_completion_without_participation_and_negative_count(client, cast, drill):
    headers = auth(cast["users"]["organiser"])
    url = f"/api/v1/drills/{drill.id}/complete"
    empty = client.post(url, headers=headers, json={"participation": {"counts": {"students": 0}}})
    assert empty.status_code == 422
    assert "without participation" in empty.get_json()["errors"]["participation.counts"][0]
    negative = client.post(url, headers=headers, json={"participation": {"counts": {"students": -1, "staff": 3}}})
    assert negative.status_code == 422
    assert "participation.counts.students" in negative.get_json()["errors"]
    missing = client.post(url, headers=headers, json={})
    assert missing.status_code == 422 and "participation" in missing.get_json()["errors"]
    assert db.session.get(Drill, drill.id).status == DrillStatus.PLANNED


def test_cancel(client, cast, make_drill):
    drill = make_drill(organizer=cast["school"])
    headers = auth(cast["users"]["organiser"])
    assert client.post(f"/api/v1/drills/{drill.id}/cancel", headers=headers, json={}).status_code == 422
    response = client.post(f"/api/v1/drills/{drill.id}/cancel", headers=headers, json={"reason": "暴雪", "version": 1})
    data = response.get_json()
    assert data["status"] == "cancelled" and data["cancel_reason"] == "暴雪" and data["cancelled_at"]


def test_list_filters_and_pagination(client, cast, make_drill):
    for n in range(3):
        make_drill(organizer=cast["school"], starts_at=at(days=n + 1))
    make_drill(organizer=cast["school"], form="tabletop", starts_at=at(days=30))
    headers = auth(cast["users"]["organiser"])
    page = client.get("/api/v1/drills?per_page=2&page=1", headers=headers).get_json()
    assert page["total"] == 4 and len(page["items"]) == 2 and page["page"] == 1
    tabletop = client.get("/api/v1/drills?form=tabletop", headers=headers).get_json()
    assert tabletop["total"] == 1 and tabletop["items"][0]["form"] == "tabletop"
    ranged = client.get(f"/api/v1/drills?from={local_day(20)}&to={local_day(40)}", headers=headers)
    assert ranged.get_json()["total"] == 1
    by_org = client.get(f"/api/v1/drills?org={cast['school'].id}&status=planned&region={WUSU}", headers=headers)
    assert by_org.get_json()["total"] == 4
    bad = client.get("/api/v1/drills?status=done", headers=headers)
    assert bad.status_code == 422 and "status" in bad.get_json()["errors"]
    assert client.get("/api/v1/drills?from=yesterday", headers=headers).status_code == 422
    padded = client.get("/api/v1/drills?region=%C2%A0654202000001", headers=headers)  # 13 sent, 12 once stripped
    assert padded.status_code == 422 and "region" in padded.get_json()["errors"]


def test_series_api(client, cast):
    headers = auth(cast["users"]["organiser"])
    response = client.post(
        "/api/v1/drill-series", headers=headers, json=body(cast["school"], rrule="FREQ=WEEKLY;COUNT=3")
    )
    assert response.status_code == 201
    data = response.get_json()
    assert len(data["occurrences"]) == 3
    second = data["occurrences"][1]
    following = client.patch(
        f"/api/v1/drills/{second['id']}/following",
        headers=headers,
        json={"title": "改名", "version": second["version"]},
    )
    assert following.status_code == 200
    assert [o["title"] for o in following.get_json()["occurrences"]] == ["改名", "改名"]
    assert client.get(f"/api/v1/drill-series/{data['id']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/drill-series/{data['id']}", headers=auth(cast["users"]["stranger"])).status_code == 404


def test_openapi_documents_every_drill_endpoint(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, methods in {
        "/drills": {"get", "post"},
        "/drills/{drill_id}": {"get", "patch"},
        "/drills/{drill_id}/complete": {"post"},
        "/drills/{drill_id}/cancel": {"post"},
        "/drills/{drill_id}/attachments": {"get", "post"},
        "/attachments/{attachment_id}": {"get", "delete"},
        "/drill-series": {"post"},
        "/drills/{drill_id}/following": {"patch"},
    }.items():
        assert methods <= set(doc["paths"][path]), path
    assert doc["paths"]["/drills"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DrillInput"
    }
    assert "multipart/form-data" in doc["paths"]["/drills/{drill_id}/attachments"]["post"]["requestBody"]["content"]
    assert {p["name"] for p in doc["paths"]["/drills"]["get"]["parameters"]} >= {
        "region",
        "org",
        "form",
        "status",
        "from",
        "to",
        "page",
        "per_page",
    }
    for name in ("Drill", "DrillInput", "DrillCompletion", "DrillCancellation", "Attachment", "DrillSeriesInput"):
        assert name in doc["components"]["schemas"]


@pytest.mark.parametrize(
    "role", ["admin", "coordinator", "other_coordinator", "organiser", "participant", "evaluator", "stranger", "viewer"]
)
def test_role_matrix_files_and_series(client, cast, drill, role):
    organiser = auth(cast["users"]["organiser"])
    file_id = client.post(
        f"/api/v1/drills/{drill.id}/attachments",
        headers=organiser,
        data={"kind": "script", "file": (io.BytesIO(PDF), "脚本.pdf")},
        content_type="multipart/form-data",
    ).get_json()["id"]
    series = client.post(
        "/api/v1/drill-series",
        headers=organiser,
        json=body(
            cast["school"],
            rrule="FREQ=WEEKLY;COUNT=2",
            participant_org_ids=[cast["partner"].id],
            evaluator_ids=[cast["users"]["evaluator"].id],
        ),
    ).get_json()
    occurrence = series["occurrences"][0]
    headers = auth(cast["users"][role])
    sees, edits = role in SEES, role in EDITS
    refused = 403 if sees else 404

    assert client.get(f"/api/v1/drills/{drill.id}/attachments", headers=headers).status_code == (200 if sees else 404)
    assert client.get(f"/api/v1/attachments/{file_id}", headers=headers).status_code == (200 if sees else 404)
    assert client.get(f"/api/v1/drill-series/{series['id']}", headers=headers).status_code == (200 if sees else 404)
    following = client.patch(
        f"/api/v1/drills/{occurrence['id']}/following",
        headers=headers,
        json={"location": role, "version": occurrence["version"]},
    )
    assert following.status_code == (200 if edits else refused)
    assert client.delete(f"/api/v1/attachments/{file_id}", headers=headers).status_code == (204 if edits else refused)
    created = client.post("/api/v1/drill-series", headers=headers, json=body(cast["school"], rrule="FREQ=YEARLY"))
    assert created.status_code == (201 if edits else 403)
