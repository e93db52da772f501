from tests.conftest import login, token_for

from drillmgr.enums import Role


def test_login_and_home_in_chinese(client, make_user):
    user = make_user(role=Role.ADMIN)
    response = login(client, user)
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert user.username in page


def test_api_me(client, make_user):
    user = make_user(role=Role.COORDINATOR)
    response = client.get("/api/v1/me", headers=token_for(client, user))
    assert response.get_json() == {
        "id": user.id,
        "username": user.username,
        "role": "coordinator",
        "region_code": "654202",
        "org_id": None,
    }
