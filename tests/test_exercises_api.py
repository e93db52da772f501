"""The exercise API: the role × resource matrix before and after the console starts a double-blind tabletop,
problem+json, versions, hostile input, XLSX and DOCX."""

import io

import pytest
from openpyxl import Workbook

from drillmgr.exercises.conduct import release_inject
from drillmgr.exercises.evaluations import save_evaluation
from drillmgr.exercises.injects import add_inject, injects
from drillmgr.exercises.objectives import add_objective
from drillmgr.exercises.sessions import start_session
from tests.exercises_world import inject_data, objective_data, world  # noqa: F401 — fixture

pytestmark = pytest.mark.usefixtures("english")

ROLES = ("admin", "coordinator", "other_coordinator", "organiser", "evaluator", "player", "outsider", "viewer")


def _designed(world):
    objective = add_objective(world.organiser, world.drill, objective_data())
    for k in range(3):
        add_inject(world.organiser, world.drill, inject_data(5 * k, objective_id=objective.id))
    return objective


def _started(world):
    objective = _designed(world)
    start_session(world.organiser, world.drill)
    release_inject(world.organiser, injects(world.drill)[0])
    return objective


D = lambda w: f"/api/v1/drills/{w.drill.id}"  # noqa: E731

# resource → (method, url, body); expected status per role in ROLES, before and after the start
READS = {
    "session": ("get", lambda w: D(w) + "/session", None),
    "objectives": ("get", lambda w: D(w) + "/objectives", None),
    "injects": ("get", lambda w: D(w) + "/injects", None),
    "msel.xlsx": ("get", lambda w: D(w) + "/msel.xlsx", None),
    "evaluations": ("get", lambda w: D(w) + "/evaluations", None),
    "after-action": ("get", lambda w: D(w) + "/after-action", None),
    "feedback": ("get", lambda w: D(w) + "/feedback", None),
    "unreleased inject": (
        "patch",
        lambda w: f"/api/v1/injects/{injects(w.drill)[2].id}",
        {"message": "x", "version": 1},
    ),
}
INSIDERS_ONLY = (200, 200, 404, 200, 200, 404, 404, 404)
BEFORE = {name: INSIDERS_ONLY for name in READS} | {"unreleased inject": (200, 200, 404, 200, 403, 404, 404, 404)}
AFTER = BEFORE | {"session": (200, 200, 404, 200, 200, 200, 404, 200)}


@pytest.mark.parametrize("resource", list(READS))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("moment", ["before", "after"])
def test_role_matrix(client, world, resource, role, moment):
    (_designed if moment == "before" else _started)(world)
    method, url, body = READS[resource]
    response = getattr(client, method)(
        url(world), headers=world.headers(getattr(world, role)), **({"json": body} if body is not None else {})
    )
    want = (BEFORE if moment == "before" else AFTER)[resource][ROLES.index(role)]
    assert response.status_code == want, (role, resource, moment, response.get_data(as_text=True)[:300])
    if want >= 400:
        assert response.mimetype == "application/problem+json" and response.get_json()["status"] == want
    if resource == "session" and want == 200 and role in ("player", "viewer"):
        injects = response.get_json()["injects"]
        assert len(injects) == 1 and "expected_action" not in injects[0]


def test_player_sees_nothing_before_and_answers_after(client, world):
    _designed(world)
    player = world.headers(world.player)
    assert client.get(D(world) + "/session", headers=player).status_code == 404
    assert client.get(f"/api/v1/drills/{world.drill.id}", headers=player).status_code == 404
    start = client.post(D(world) + "/session/start", headers=world.headers(world.organiser))
    assert start.status_code == 200 and start.get_json()["session"]["run_blind"] is True
    assert client.post(D(world) + "/session/start", headers=world.headers(world.organiser)).status_code == 409
    first = injects(world.drill)[0]
    assert (
        client.post(f"/api/v1/injects/{first.id}/responses", json={"decision": "x"}, headers=player).status_code == 404
    )
    released = client.post(f"/api/v1/injects/{first.id}/release", headers=world.headers(world.organiser))
    assert released.status_code == 200 and released.get_json()["released_at"]
    answer = client.post(f"/api/v1/injects/{first.id}/responses", json={"decision": "启动照明"}, headers=player)
    assert answer.status_code == 201 and answer.get_json()["decision"] == "启动照明"
    again = client.post(f"/api/v1/injects/{first.id}/responses", json={"decision": "again"}, headers=player)
    assert again.status_code == 409
    outsider = client.post(
        f"/api/v1/injects/{first.id}/responses", json={"decision": "x"}, headers=world.headers(world.outsider)
    )
    assert outsider.status_code == 404
    assert client.post(f"/api/v1/injects/{first.id}/release", headers=player).status_code == 403


def test_objective_crud_versions_and_hostile_input(client, world):
    organiser = world.headers(world.organiser)
    created = client.post(D(world) + "/objectives", json=objective_data(), headers=organiser)
    assert created.status_code == 201
    objective = created.get_json()
    assert objective["focus"] == ["command_post"] and objective["version"] == 1
    url = f"/api/v1/objectives/{objective['id']}"
    assert client.patch(url, json={"plan": "新预案"}, headers=organiser).status_code == 422  # no version
    assert client.patch(url, json={"plan": "新预案", "version": 1}, headers=organiser).get_json()["plan"] == "新预案"
    assert client.patch(url, json={"plan": "旧", "version": 1}, headers=organiser).status_code == 409
    for body in (
        {"text": "a\x00b", "focus": ["command_post"]},
        {"text": "x", "focus": ["command_post"], "template_id": 2**80},
        [1, 2],
        {"text": "x", "focus": [None]},
    ):
        response = client.post(D(world) + "/objectives", json=body, headers=organiser)
        assert response.status_code == 422, body
    for huge in (2**31, 2**80):
        assert (
            client.put(
                f"/api/v1/objectives/{huge}/evaluation", json={"rating": "P", "version": 0}, headers=organiser
            ).status_code
            == 404
        )
        assert client.post(f"/api/v1/injects/{huge}/release", headers=organiser).status_code == 404
    assert client.delete(url, headers=organiser).status_code == 204
    assert client.delete(url, headers=organiser).status_code == 404


def test_templates_admin_only(client, world):
    listed = client.get("/api/v1/objective-templates", headers=world.headers(world.player))
    assert listed.status_code == 200 and len(listed.get_json()["items"]) >= 11
    body = {"focus": "medical", "text": "设立临时医疗点"}
    assert (
        client.post("/api/v1/objective-templates", json=body, headers=world.headers(world.coordinator)).status_code
        == 403
    )
    made = client.post("/api/v1/objective-templates", json=body, headers=world.headers(world.admin))
    assert made.status_code == 201
    url = f"/api/v1/objective-templates/{made.get_json()['id']}"
    assert (
        client.patch(url, json={"active": False, "version": 1}, headers=world.headers(world.admin)).get_json()["active"]
        is False
    )
    assert client.patch(url, json={"active": True, "version": 1}, headers=world.headers(world.admin)).status_code == 409


def test_msel_xlsx_export_and_import(client, world):
    _designed(world)
    organiser = world.headers(world.organiser)
    exported = client.get(D(world) + "/msel.xlsx", headers=organiser)
    assert exported.status_code == 200 and exported.mimetype.endswith("spreadsheetml.sheet")
    imported = client.post(
        D(world) + "/msel",
        data={"file": (io.BytesIO(exported.data), "msel.xlsx")},
        headers=organiser,
        content_type="multipart/form-data",
    )
    assert imported.status_code == 200 and [i["offset_minutes"] for i in imported.get_json()["items"]] == [0, 5, 10]
    book = Workbook()
    book.active.append(["No.", "Minutes after start", "Message"])
    book.active.append([1, -5, "负数"])
    out = io.BytesIO()
    book.save(out)
    refused = client.post(
        D(world) + "/msel",
        data={"file": (io.BytesIO(out.getvalue()), "bad.xlsx")},
        headers=organiser,
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and refused.get_json()["errors"]["lines"][0].startswith("Line 2, offset_minutes")
    missing = client.post(D(world) + "/msel", data={}, headers=organiser, content_type="multipart/form-data")
    assert missing.status_code == 422


def test_report_json_and_docx(client, world):
    objective = _started(world)
    save_evaluation(world.evaluator, objective, {"rating": "P", "strengths": "响应迅速"})
    evaluator = world.headers(world.evaluator)
    report = client.get(D(world) + "/after-action", headers=evaluator)
    assert report.status_code == 200
    body = report.get_json()
    assert body["objectives"][0]["rating"] == "P" and body["improvement_plan"][0]["strengths"] == "响应迅速"
    assert body["timeline"][0]["responses"] == 0
    docx = client.get(D(world) + "/after-action?format=docx", headers=evaluator)
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    links = client.post(D(world) + "/feedback-links", json={"count": 2}, headers=world.headers(world.organiser))
    assert links.status_code == 409  # not ended yet
    assert client.get(D(world) + "/after-action?format=pdf", headers=evaluator).status_code == 422
    assert client.post(D(world) + "/session/end", headers=world.headers(world.organiser)).status_code == 400  # no body
    for step in ("pause", "end"):  # JSON null, or any other non-object, is refused, and the exercise goes on
        for body in ("null", "[]", "3"):
            refused = client.post(
                D(world) + f"/session/{step}",
                data=body,
                content_type="application/json",
                headers=world.headers(world.organiser),
            )
            assert refused.status_code == 422, (step, body)
    assert client.get(D(world) + "/session", headers=evaluator).get_json()["session"]["status"] == "running"
    assert (
        client.post(D(world) + "/session/end", json={"version": 99}, headers=world.headers(world.organiser)).status_code
        == 409
    )
    assert client.post(D(world) + "/session/end", json={}, headers=world.headers(world.organiser)).status_code == 200
    links = client.post(D(world) + "/feedback-links", json={"count": 2}, headers=world.headers(world.organiser))
    assert links.status_code == 201 and len(links.get_json()["links"]) == 2


def test_every_endpoint_in_openapi(client, world):
    document = client.get("/api/v1/openapi.json").get_json()
    for path in (
        "/drills/{drill_id}/objectives",
        "/drills/{drill_id}/injects",
        "/drills/{drill_id}/msel",
        "/drills/{drill_id}/session/start",
        "/injects/{inject_id}/responses",
        "/objectives/{objective_id}/evaluation",
        "/drills/{drill_id}/after-action",
        "/drills/{drill_id}/feedback-links",
        "/objective-templates/{template_id}",
    ):
        assert path in document["paths"], path
    assert "409" in document["paths"]["/objectives/{objective_id}"]["patch"]["responses"]


def test_inject_attachment_over_the_api(client, world):
    _designed(world)
    inject = injects(world.drill)[1]
    url = f"/api/v1/injects/{inject.id}/attachment"
    organiser = world.headers(world.organiser)
    assert client.get(url, headers=organiser).status_code == 404
    made = client.post(
        url,
        data={"file": (io.BytesIO(b"%PDF-1.4 map"), "map.pdf")},
        headers=organiser,
        content_type="multipart/form-data",
    )
    assert made.status_code == 200 and made.get_json()["attachment"]["content_type"] == "application/pdf"
    assert client.get(url, headers=organiser).data == b"%PDF-1.4 map"
    assert (
        client.post(
            url,
            data={"file": (io.BytesIO(b"%PDF-1.4"), "map.pdf")},
            headers=world.headers(world.player),
            content_type="multipart/form-data",
        ).status_code
        == 404
    )
    assert client.get(url, headers=world.headers(world.player)).status_code == 404
