"""The review, filing and findings API: every role against every endpoint, bad input, problem+json."""

import pytest

from drillmgr.enums import DrillStatus
from drillmgr.findings import actions, reviews
from tests.conftest import at, local_day
from tests.findings_world import finding_data, let_time_pass, world  # noqa: F401 — fixtures

pytestmark = pytest.mark.usefixtures("english")

ROLES = ("admin", "coordinator", "other_coordinator", "staff", "other_staff", "viewer")
REVIEW = {"execution": "全员按预案疏散", "went_well": "指挥有序", "plan_revision_needed": False}


def _review(world, status="draft"):
    reviews.save_review(world.staff, world.drill, REVIEW)
    if status in ("submitted", "accepted"):
        reviews.submit_review(world.staff, world.drill)
    return world.drill


def _finding(world):
    return actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))


def _drill_url(world, tail=""):
    return f"/api/v1/drills/{world.drill.id}/review{tail}"


# endpoint → (prepare the world, method, url, body, expected status for each role in ROLES)
MATRIX = {
    "get review": (lambda w: None, "get", lambda w, _s: _drill_url(w), None, (200, 200, 404, 200, 404, 200)),
    "put review": (
        lambda w: None,
        "put",
        lambda w, _s: _drill_url(w),
        {**REVIEW, "version": 0},
        (200, 200, 404, 200, 404, 403),
    ),
    "submit": (_review, "post", lambda w, _s: _drill_url(w, "/submit"), None, (200, 200, 404, 200, 404, 403)),
    "accept": (
        lambda w: _review(w, "submitted"),
        "post",
        lambda w, _s: _drill_url(w, "/accept"),
        {},
        (200, 200, 404, 403, 404, 403),
    ),
    "return": (
        lambda w: _review(w, "submitted"),
        "post",
        lambda w, _s: _drill_url(w, "/return"),
        {"reason": "请补充通信保障评估"},
        (200, 200, 404, 403, 404, 403),
    ),
    "create finding": (
        lambda w: None,
        "post",
        lambda w, _s: f"/api/v1/drills/{w.drill.id}/findings",
        None,
        (201, 201, 404, 201, 404, 403),
    ),
    "patch finding": (
        _finding,
        "patch",
        lambda w, f: f"/api/v1/findings/{f.id}",
        {"severity": "critical", "version": 1},
        (200, 200, 404, 200, 404, 403),
    ),
    "get finding": (_finding, "get", lambda w, f: f"/api/v1/findings/{f.id}", None, (200, 200, 404, 200, 404, 200)),
    "list findings": (_finding, "get", lambda w, _f: "/api/v1/findings", None, (200, 200, 200, 200, 200, 200)),
}


@pytest.mark.parametrize("endpoint", list(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, world, endpoint, role):
    prepare, method, url, body, expected = MATRIX[endpoint]
    prepared = prepare(world)
    if endpoint == "create finding":
        body = finding_data(world.colleague)
    user = getattr(world, role)
    response = getattr(client, method)(
        url(world, prepared), headers=world.headers(user), **({"json": body} if body is not None else {})
    )
    want = expected[ROLES.index(role)]
    assert response.status_code == want, (role, endpoint, response.get_json())
    if want >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == want
    if endpoint == "list findings":
        total = response.get_json()["total"]
        assert total == (0 if role in ("other_coordinator", "other_staff") else 1)


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_every_endpoint_needs_a_token(client, world, endpoint):
    prepare, method, url, body, _expected = MATRIX[endpoint]
    response = getattr(client, method)(url(world, prepare(world)), json=body or {})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_review_round_trip_and_filing_through_the_api(client, world):
    staff, coordinator = world.headers(world.staff), world.headers(world.coordinator)
    empty = client.get(_drill_url(world), headers=staff).get_json()
    assert empty["version"] == 0 and empty["filing_status"] == "draft" and empty["findings"] == []
    saved = client.put(_drill_url(world), headers=staff, json={**REVIEW, "version": 0}).get_json()
    assert saved["version"] == 1 and saved["execution"] == REVIEW["execution"]
    stale = client.put(_drill_url(world), headers=staff, json={"went_well": "x", "version": 0})
    assert stale.status_code == 409 and stale.mimetype == "application/problem+json"
    for body in ("null", "[]", "7"):  # a body, when sent, is an object: null is not "no version"
        refused = client.post(_drill_url(world, "/submit"), headers=staff, data=body, content_type="application/json")
        assert refused.status_code == 422, body
    assert client.get(_drill_url(world), headers=staff).get_json()["filing_status"] == "draft"
    assert client.post(_drill_url(world, "/submit"), headers=staff).get_json()["filing_status"] == "submitted"
    no_reason = client.post(_drill_url(world, "/return"), headers=coordinator, json={})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]
    returned = client.post(_drill_url(world, "/return"), headers=coordinator, json={"reason": "补充照片"}).get_json()
    assert returned["filing_status"] == "returned" and returned["return_reason"] == "补充照片"
    assert (returned["submitted_by"], returned["decided_by"]) == (world.staff.id, world.coordinator.id)
    again = client.post(_drill_url(world, "/accept"), headers=coordinator)
    assert again.status_code == 409 and "submitted" in again.get_json()["detail"]
    client.put(_drill_url(world), headers=staff, json={"recommendations": "补充照片已上传", "version": 3})
    client.post(_drill_url(world, "/submit"), headers=staff, json={"version": 4})
    accepted = client.post(_drill_url(world, "/accept"), headers=coordinator).get_json()
    assert accepted["filing_status"] == "accepted" and accepted["version"] == 6
    assert [(h["step"], h["by"], h["reason"]) for h in accepted["history"]] == [
        ("submit", world.staff.id, ""),
        ("return", world.coordinator.id, "补充照片"),
        ("submit", world.staff.id, ""),
        ("accept", world.coordinator.id, ""),
    ]


def test_review_of_a_planned_drill_is_a_conflict(client, world, make_drill):
    planned = make_drill(organizer=world.org_a, starts_at=at(days=4))
    response = client.put(
        f"/api/v1/drills/{planned.id}/review", headers=world.headers(world.staff), json={**REVIEW, "version": 0}
    )
    assert response.status_code == 409


def test_double_blind_review_invisible_before_start(client, world, make_drill):
    secret = make_drill(organizer=world.org_a, starts_at=at(days=2), double_blind=True, participants=[world.org_b])
    assert client.get(f"/api/v1/drills/{secret.id}/review", headers=world.headers(world.other_staff)).status_code == 404
    assert client.get(f"/api/v1/drills/{secret.id}/review", headers=world.headers(world.staff)).status_code == 200


def test_malformed_and_non_json_bodies_are_400(client, world):
    headers = world.headers(world.staff)
    for url, method in ((_drill_url(world), "put"), (f"/api/v1/drills/{world.drill.id}/findings", "post")):
        bad = getattr(client, method)(url, headers=headers, data="{not json", content_type="application/json")
        assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
        plain = getattr(client, method)(url, headers=headers, data="summary=x", content_type="text/plain")
        assert plain.status_code == 400
    not_object = client.put(_drill_url(world), headers=headers, json=[1, 2])
    assert not_object.status_code == 422


def test_finding_input_errors_name_the_field(client, world):
    headers = world.headers(world.staff)
    url = f"/api/v1/drills/{world.drill.id}/findings"
    response = client.post(url, headers=headers, json=finding_data(world.colleague, severity="huge"))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["severity"]
    early = finding_data(world.colleague, found_on=local_day(-1).isoformat())
    early["corrective_action"]["due_on"] = local_day(-5).isoformat()
    response = client.post(url, headers=headers, json=early)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["corrective_action.due_on"]
    created = client.post(url, headers=headers, json=finding_data(world.colleague))
    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"/api/v1/findings/{created.get_json()['id']}")
    patch = client.patch(
        f"/api/v1/findings/{created.get_json()['id']}",
        headers=headers,
        json={"corrective_action": {"status": "closed"}, "version": 1},
    )
    assert patch.status_code == 422 and "corrective_action.status" in patch.get_json()["errors"]


def test_close_out_through_the_api(client, world):
    finding = _finding(world)
    url = f"/api/v1/findings/{finding.id}"
    owner, organiser = world.headers(world.colleague), world.headers(world.staff)
    assert (
        client.patch(
            url, headers=organiser, json={"version": 1, "corrective_action": {"status": "in_progress"}}
        ).status_code
        == 403
    )
    skipped = client.patch(url, headers=owner, json={"version": 1, "corrective_action": {"status": "verified"}})
    assert skipped.status_code == 409 and "cannot go from" in skipped.get_json()["detail"]
    assert (
        client.patch(
            url, headers=owner, json={"version": 1, "corrective_action": {"status": "in_progress"}}
        ).status_code
        == 200
    )
    body = client.patch(url, headers=owner, json={"version": 2, "corrective_action": {"status": "done"}}).get_json()
    assert body["corrective_action"]["status"] == "done" and body["version"] == 3
    self_check = client.patch(url, headers=owner, json={"version": 3, "corrective_action": {"status": "verified"}})
    assert self_check.status_code == 403
    stale = client.patch(url, headers=organiser, json={"version": 2, "corrective_action": {"status": "verified"}})
    assert stale.status_code == 409
    no_reason = client.patch(
        url, headers=organiser, json={"version": 3, "corrective_action": {"status": "in_progress"}}
    )
    assert no_reason.status_code == 422 and "corrective_action.reason" in no_reason.get_json()["errors"]
    verified = client.patch(
        url, headers=world.headers(world.coordinator), json={"version": 3, "corrective_action": {"status": "verified"}}
    ).get_json()
    assert verified["corrective_action"]["status"] == "verified"
    assert verified["corrective_action"]["verified_by"] == world.coordinator.id
    assert client.get("/api/v1/findings", headers=organiser).get_json()["total"] == 0


def test_open_actions_list_is_paginated_ordered_and_filtered(client, world):
    for days in (20, -1, 5):
        let_time_pass(
            actions.add_drill_finding(
                world.staff, world.drill, finding_data(world.colleague, 1, found_on=local_day(-10).isoformat())
            ),
            days,
        )
    headers = world.headers(world.coordinator)
    first = client.get("/api/v1/findings?per_page=2", headers=headers).get_json()
    assert first["total"] == 3 and first["page"] == 1 and len(first["items"]) == 2
    assert [i["corrective_action"]["overdue"] for i in first["items"]] == [True, False]
    assert first["items"][0]["drill"] == {"id": world.drill.id, "title": world.drill.title}
    second = client.get("/api/v1/findings?per_page=2&page=2", headers=headers).get_json()
    due = [i["corrective_action"]["due_on"] for i in first["items"] + second["items"]]
    assert due[1] < due[2]
    assert client.get("/api/v1/findings?overdue=true", headers=headers).get_json()["total"] == 1
    bad = client.get("/api/v1/findings?severity=huge&status=verified", headers=headers)
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"severity", "status"}
    assert client.get("/api/v1/findings?page=0", headers=headers).status_code == 400


def test_review_includes_its_findings(client, world):
    finding = _finding(world)
    body = client.get(_drill_url(world), headers=world.headers(world.viewer)).get_json()
    assert [f["id"] for f in body["findings"]] == [finding.id]
    assert body["findings"][0]["corrective_action"]["owner"] == world.colleague.id


def test_openapi_describes_every_findings_endpoint(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert set(paths["/drills/{drill_id}/review"]) == {"get", "put"}
    for step in ("submit", "accept", "return"):
        assert "409" in paths[f"/drills/{{drill_id}}/review/{step}"]["post"]["responses"]
    assert paths["/drills/{drill_id}/findings"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FindingInput"
    }
    assert "201" in paths["/drills/{drill_id}/findings"]["post"]["responses"]
    assert "409" in paths["/drills/{drill_id}/findings"]["post"]["responses"]  # the drill is not completed yet
    assert set(paths["/findings/{finding_id}"]) == {"get", "patch"}
    assert "409" in paths["/findings/{finding_id}"]["patch"]["responses"]
    listing = paths["/findings"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "per_page", "severity", "overdue", "mine"}
    for name in (
        "Review",
        "ReviewInput",
        "FilingReturn",
        "Finding",
        "FindingInput",
        "FindingPatch",
        "CorrectiveAction",
    ):
        assert name in document["components"]["schemas"]


def test_cancelled_drill_findings_are_refused(client, world, make_drill):
    cancelled = make_drill(organizer=world.org_a, starts_at=at(days=-2), status=DrillStatus.CANCELLED)
    response = client.post(
        f"/api/v1/drills/{cancelled.id}/findings",
        headers=world.headers(world.staff),
        json=finding_data(world.colleague),
    )
    assert response.status_code == 409


def test_api_messages_are_chinese_by_default(client, world):
    finding = _finding(world)
    headers = {"Authorization": world.headers(world.colleague)["Authorization"]}
    response = client.patch(
        f"/api/v1/findings/{finding.id}",
        headers=headers,
        json={"version": 1, "corrective_action": {"status": "verified"}},
    )
    assert response.status_code == 409
    assert "整改措施不能从“待整改”变为" in response.get_json()["detail"]


def test_double_blind_findings_stay_out_of_lists_counts_and_answers_before_the_start(client, world, make_drill):
    secret = make_drill(organizer=world.org_a, starts_at=at(days=3), double_blind=True, participants=[world.org_b])
    # a pre-drill checklist finding of the secret drill, owned by the organiser's staff
    finding = actions.create_finding(
        world.staff,
        finding_data(world.colleague),
        region_code=secret.region_code,
        org_id=world.org_a.id,
        drill_id=secret.id,
    )
    outsider = world.headers(world.other_staff)  # staff of a participating unit: not an insider
    assert client.get("/api/v1/findings", headers=outsider).get_json()["total"] == 0
    assert client.get(f"/api/v1/findings/{finding.id}", headers=outsider).status_code == 404
    assert (
        client.patch(
            f"/api/v1/findings/{finding.id}", headers=outsider, json={"summary": "x", "version": 1}
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/drills/{secret.id}/review", headers=outsider).status_code == 404
    assert client.get("/api/v1/findings", headers=world.headers(world.viewer)).get_json()["total"] == 0
    for insider in (world.staff, world.colleague, world.coordinator, world.admin):
        assert client.get("/api/v1/findings", headers=world.headers(insider)).get_json()["total"] == 1
