"""The OpenAPI document states what the server does (issue 10, "OpenAPI as a contract"); .ci/fuzz-api holds the
server to it with schemathesis, these tests pin the findings that schemathesis reported."""

import pytest

from drillmgr.enums import Role
from drillmgr.validation import MAX_ID
from tests.conftest import WUSU, token_for
from tests.conftest import assert_problem


@pytest.fixture
def doc(client):
    return client.get("/api/v1/openapi.json").get_json()


@pytest.fixture
def auth(client, make_user):
    return token_for(client, make_user(Role.ADMIN, username="contract-admin"))


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_lists_the_busy_database_and_bad_input(doc):
    for path, method, operation in operations(doc):
        responses = operation["responses"]
        assert {"400", "422", "503"} <= responses.keys(), (method, path)
        assert "Retry-After" in responses["503"]["headers"]
        if "requestBody" in operation:
            assert "413" in responses, (method, path)


def test_token_endpoint_documents_401_and_429(doc, client):
    responses = doc["paths"]["/auth/token"]["post"]["responses"]
    assert {"200", "401", "429"} <= responses.keys()
    assert client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"}).status_code == 401


def test_delete_answers_204_as_documented(doc):
    assert set(doc["paths"]["/attachments/{attachment_id}"]["delete"]["responses"]) >= {"204"}
    assert "200" not in doc["paths"]["/attachments/{attachment_id}"]["delete"]["responses"]


def test_downloads_document_their_file_types(doc):
    for path in ("/attachments/{attachment_id}", "/outreach/attachments/{attachment_id}"):
        content = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert {"image/jpeg", "image/png", "application/pdf"} <= content.keys()
        assert "application/json" not in content


def test_ids_in_paths_and_pages_are_bounded(doc):
    param = doc["paths"]["/drills/{drill_id}"]["get"]["parameters"][0]
    assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    page = {p["name"]: p["schema"] for p in doc["paths"]["/users"]["get"]["parameters"]}
    assert page["per_page"]["maximum"] == 500 and page["page"]["maximum"] == 1_000_000


def test_per_page_beyond_the_maximum_is_refused_not_capped(client, auth):
    assert "per_page" in assert_problem(client.get("/api/v1/users?per_page=501", headers=auth), 400)["errors"]
    assert client.get("/api/v1/users?per_page=500", headers=auth).get_json()["per_page"] == 500


def test_query_text_may_not_be_empty(doc, client, auth):
    params = {p["name"]: p["schema"] for p in doc["paths"]["/drills"]["get"]["parameters"]}
    assert params["to"]["minLength"] == 1 and params["region"] == {"type": "string", "minLength": 1, "maxLength": 12}
    assert "half" in assert_problem(client.get("/api/v1/reports/half-year?half=", headers=auth), 422)["errors"]


def test_required_text_is_not_blank_and_optional_fields_take_null(doc, client, auth):
    org = doc["components"]["schemas"]["OrganisationInput"]
    assert org["properties"]["name"]["pattern"] == r"\S"
    assert "null" in org["properties"]["address"]["type"]
    response = client.post("/api/v1/orgs", json={"name": "   ", "kind": "school", "region_code": WUSU}, headers=auth)
    assert "name" in assert_problem(response, 422)["errors"]
    response = client.post(
        "/api/v1/orgs", headers=auth, json={"name": "某学校", "kind": "school", "region_code": WUSU, "address": None}
    )
    assert response.status_code == 201


def test_patch_takes_a_subset(doc):
    schemas = doc["components"]["schemas"]
    assert "required" not in schemas["OrganisationInputPatch"]
    assert schemas["DrillInputPatch"]["required"] == ["version"]
    body = doc["paths"]["/orgs/{org_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["allOf"][0] == {"$ref": "#/components/schemas/OrganisationInputPatch"}
    assert body["allOf"][1]["required"] == ["version"], "every PATCH carries the version it read"


def test_dates_in_bodies_are_within_the_servers_range(doc):
    starts_at = doc["components"]["schemas"]["DrillInput"]["properties"]["starts_at"]
    assert starts_at["pattern"].startswith("^(?:19|20")
    ids = doc["components"]["schemas"]["DrillInput"]["properties"]["participant_org_ids"]
    assert ids["items"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
