from datetime import date

import pytest
from tests.conftest import PREFECTURE, SHAWAN, WUSU, at, token_for

from drillmgr.enums import DrillForm, DrillScope, OrgKind, Role

YEAR = date.today().year - 1  # a year wholly past: activities are recorded once held


def campaign(**overrides):
    return {
        "kind": "observance_campaign",
        "title": "国际减灾日宣传",
        "observance_day": "10-13",
        "held_on": f"{YEAR}-10-13",
        "region_code": WUSU,
        "channels": ["internet"],
        "audience": 12000,
        **overrides,
    }


@pytest.fixture
def coordinator(make_user):
    return make_user(role=Role.COORDINATOR, region_code=WUSU)


def test_create_list_get_patch(client, coordinator):
    headers = token_for(client, coordinator)
    response = client.post("/api/v1/outreach", json=campaign(), headers=headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["counts_toward_observance"] is True and body["channels"] == ["internet"]
    assert response.headers["Location"].endswith(f"/api/v1/outreach/{body['id']}")
    late = client.post("/api/v1/outreach", json=campaign(held_on=f"{YEAR}-10-25"), headers=headers).get_json()
    assert late["counts_toward_observance"] is False and late["observance_note"]
    listing = client.get(f"/api/v1/outreach?year={YEAR}&kind=observance_campaign&per_page=1", headers=headers)
    assert listing.get_json()["total"] == 2 and len(listing.get_json()["items"]) == 1
    assert client.get(f"/api/v1/outreach?region={SHAWAN}", headers=headers).get_json()["total"] == 0
    assert client.get(f"/api/v1/outreach/{body['id']}", headers=headers).get_json()["title"] == "国际减灾日宣传"
    patched = client.patch(
        f"/api/v1/outreach/{late['id']}", json={"held_on": f"{YEAR}-10-14", "version": 1}, headers=headers
    )
    assert patched.get_json()["counts_toward_observance"] is True


@pytest.mark.parametrize(
    "data, field",
    [
        (campaign(audience=-5), "audience"),
        (campaign(audience=10_000_001), "audience"),
        (campaign(audience="lots"), "audience"),
        (campaign(observance_day=None), "observance_day"),
        (campaign(held_on="13/10/2026"), "held_on"),
        (campaign(kind="six_into", observance_day=None), "setting"),
    ],
)
def test_bad_input_is_a_problem(client, coordinator, data, field):
    response = client.post("/api/v1/outreach", json=data, headers=token_for(client, coordinator))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]
    assert client.get("/api/v1/outreach", headers=token_for(client, coordinator)).get_json()["total"] == 0


def test_malformed_requests(client, coordinator):
    headers = token_for(client, coordinator)
    assert (
        client.post("/api/v1/outreach", data="{", headers=headers | {"Content-Type": "application/json"}).status_code
        == 400
    )
    assert client.post("/api/v1/outreach", json=[1], headers=headers).status_code == 422
    response = client.get("/api/v1/outreach?year=soon&region=nowhere", headers=headers)
    assert response.status_code == 422 and set(response.get_json()["errors"]) == {"year", "region"}
    assert client.get("/api/v1/outreach").status_code == 401
    assert client.get("/api/v1/outreach/999999", headers=headers).status_code == 404


def test_scope_over_the_api(client, coordinator, make_user):
    client.post("/api/v1/outreach", json=campaign(), headers=token_for(client, coordinator))
    shawan = make_user(role=Role.COORDINATOR, region_code=SHAWAN)
    headers = token_for(client, shawan)
    assert client.get("/api/v1/outreach", headers=headers).get_json()["total"] == 0
    assert client.post("/api/v1/outreach", json=campaign(), headers=headers).status_code == 403
    viewer = make_user(role=Role.VIEWER, region_code=PREFECTURE)
    headers = token_for(client, viewer)
    assert client.get("/api/v1/outreach", headers=headers).get_json()["total"] == 1
    assert client.post("/api/v1/outreach", json=campaign(), headers=headers).status_code == 403


def test_coverage_and_sites(client, coordinator):
    headers = token_for(client, coordinator)
    client.post(
        "/api/v1/outreach", json=campaign(kind="six_into", observance_day=None, setting="village"), headers=headers
    )
    coverage = client.get(f"/api/v1/outreach/coverage?year={YEAR}", headers=headers).get_json()
    assert coverage["region_code"] == WUSU
    direct = coverage["rows"][0]
    assert direct["direct"] and direct["counts"]["village"] == 1 and "village" not in direct["gaps"]
    site = client.post(
        "/api/v1/demonstration-sites",
        json={"kind": "school", "name": "乌苏市第一中学", "region_code": WUSU, "year": YEAR},
        headers=headers,
    )
    assert site.status_code == 201 and site.get_json()["status"] == "planned"
    changed = client.patch(
        f"/api/v1/demonstration-sites/{site.get_json()['id']}",
        json={"status": "created", "version": 1},
        headers=headers,
    )
    assert changed.get_json()["status"] == "created"
    assert client.get("/api/v1/demonstration-sites?status=created", headers=headers).get_json()["total"] == 1
    assert client.get("/api/v1/demonstration-sites?status=famous", headers=headers).status_code == 422
    bad = client.post(
        "/api/v1/demonstration-sites",
        json={"kind": "school", "name": "x", "region_code": WUSU, "year": 1900},
        headers=headers,
    )
    assert bad.status_code == 422 and "year" in bad.get_json()["errors"]


def test_checklist_runs_over_the_api(client, make_user, make_org, make_drill):
    school = make_org(kind=OrgKind.SCHOOL)
    staff = make_user(org=school)
    headers = token_for(client, staff)
    response = client.post("/api/v1/checklist-runs", json={"org_id": school.id}, headers=headers)
    assert response.status_code == 201
    run = response.get_json()
    items = [a["item_id"] for a in run["answers"]]
    answers = {str(i): {"answer": "yes"} for i in items}
    answers[str(items[0])] = {"answer": "no", "note": "集合点标识缺失"}
    saved = client.post(f"/api/v1/checklist-runs/{run['id']}/answers", json=answers, headers=headers).get_json()
    assert (saved["answered"], saved["no"]) == (len(items), 1)
    bad = client.post(
        f"/api/v1/checklist-runs/{run['id']}/answers", json={str(items[0]): {"answer": "maybe"}}, headers=headers
    )
    assert bad.status_code == 422 and f"item-{items[0]}" in bad.get_json()["errors"]
    url = f"/api/v1/checklist-runs/{run['id']}/items/{items[0]}/corrective-action"
    unchosen = client.post(url, json={}, headers=headers)
    assert unchosen.status_code == 422
    assert set(unchosen.get_json()["errors"]) == {"category", "corrective_action.owner"}
    action = client.post(url, json={"category": "facility", "corrective_action": {"owner": staff.id}}, headers=headers)
    assert action.status_code == 201
    made = action.get_json()
    assert made["summary"] == "疏散路线图未在各楼层、教室张贴，或与实际路线不一致"
    assert (made["category"], made["corrective_action"]["owner"]) == ("facility", staff.id)
    assert made["corrective_action"]["description"] == "集合点标识缺失"
    again = client.post(url, json={"category": "facility", "corrective_action": {"owner": staff.id}}, headers=headers)
    assert again.status_code == 409
    done = client.post(f"/api/v1/checklist-runs/{run['id']}/complete", headers=headers).get_json()
    assert done["completed_at"] is not None
    assert client.get(f"/api/v1/checklist-runs?org={school.id}", headers=headers).get_json()["total"] == 1
    assert client.post("/api/v1/checklist-runs", json={}, headers=headers).status_code == 422
    other = make_user(org=make_org())
    assert client.get(f"/api/v1/checklist-runs/{run['id']}", headers=token_for(client, other)).status_code == 404
    drill = make_drill(organizer=WUSU, form=DrillForm.LIVE, scope=DrillScope.COMPREHENSIVE, starts_at=at(days=3))
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    pre = client.post("/api/v1/checklist-runs", json={"drill_id": drill.id}, headers=token_for(client, coordinator))
    assert pre.status_code == 201 and pre.get_json()["drill_id"] == drill.id
    readiness = client.get("/api/v1/readiness", headers=token_for(client, coordinator)).get_json()["items"]
    assert readiness[0]["code"] == WUSU and readiness[0]["ready"] == 1
    assert (
        client.get(f"/api/v1/readiness?region={PREFECTURE}", headers=token_for(client, coordinator)).status_code == 403
    )


def test_openapi_describes_outreach(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "/outreach" in document["paths"]
    operations = document["paths"]["/outreach"]
    assert operations["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "OutreachActivityInput"
    )
    assert "201" in operations["post"]["responses"]
    assert "OutreachActivity" in document["components"]["schemas"]


def test_attachments_over_the_api(client, coordinator, make_user):
    import io

    headers = token_for(client, coordinator)
    activity = client.post("/api/v1/outreach", json=campaign(), headers=headers).get_json()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    missing = client.post(
        f"/api/v1/outreach/{activity['id']}/attachments", data={}, headers=headers, content_type="multipart/form-data"
    )
    assert missing.status_code == 422 and "file" in missing.get_json()["errors"]
    fake = client.post(
        f"/api/v1/outreach/{activity['id']}/attachments",
        headers=headers,
        data={"file": (io.BytesIO(b"not a png"), "photo.png")},
        content_type="multipart/form-data",
    )
    assert fake.status_code == 422
    added = client.post(
        f"/api/v1/outreach/{activity['id']}/attachments",
        headers=headers,
        data={"file": (io.BytesIO(png), "宣传现场.png")},
        content_type="multipart/form-data",
    )
    assert added.status_code == 201
    listed = client.get(f"/api/v1/outreach/{activity['id']}/attachments", headers=headers).get_json()["items"]
    assert [a["filename"] for a in listed] == ["宣传现场.png"]
    assert client.get(listed[0]["url"], headers=headers).data == png
    outsider = token_for(client, make_user(role=Role.COORDINATOR, region_code=SHAWAN))
    assert client.get(listed[0]["url"], headers=outsider).status_code == 404
    assert (
        client.post(
            f"/api/v1/outreach/{activity['id']}/attachments",
            headers=outsider,
            data={"file": (io.BytesIO(png), "x.png")},
            content_type="multipart/form-data",
        ).status_code
        == 404
    )


def test_readiness_figures_are_refused_to_unit_staff_as_compliance_is(client, make_user, make_org):
    from drillmgr.checklists.templates import ensure_default_templates

    ensure_default_templates()
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU)
    staff = make_user(org=school)
    headers = token_for(client, staff)
    assert client.get(f"/api/v1/compliance?region={WUSU}", headers=headers).status_code == 403
    for query in (f"?region={WUSU}", f"?region={school.region_code}", f"?region={PREFECTURE}", ""):
        assert client.get(f"/api/v1/readiness{query}", headers=headers).status_code == 403, query
    viewer = token_for(client, make_user(role=Role.VIEWER, region_code=WUSU))
    items = client.get(f"/api/v1/readiness?region={WUSU}", headers=viewer).get_json()["items"]
    assert [(i["code"], i["units"]) for i in items] == [(WUSU, 1)]
