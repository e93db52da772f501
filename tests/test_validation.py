"""Hostile input never makes a 500 (issue 10 item 4): ids beyond the column's range, NUL bytes, lone surrogates,
deep JSON, dates at the end of the calendar, huge page numbers — on the API and on the web pages."""

import re

import pytest

from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.validation import MAX_ID, IdConverter, _up_to, parse_id, parse_whole_number
from tests.conftest import WUSU, login, token_for
from tests.conftest import assert_problem

HUGE = "99999999999999999999"


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="hostile-admin")


@pytest.fixture
def auth(client, admin):
    return token_for(client, admin)


def _api_rules(app, with_arguments: bool):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and "GET" in rule.methods and bool(rule.arguments) == with_arguments:
            yield rule


@pytest.mark.parametrize("number", [str(MAX_ID + 1), "1099511627776", HUGE, "0"])
def test_ids_beyond_the_column_are_404_on_every_api_path(app, client, auth, number):
    for rule in _api_rules(app, with_arguments=True):
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", number).replace(f"<{name}>", number)
        assert_problem(client.get(path, headers=auth), 404)


def test_ids_beyond_the_column_are_404_on_web_pages(client, admin, make_drill):
    login(client, admin)
    for path in (
        f"/drills/{MAX_ID + 1}",
        f"/drills/{HUGE}",
        f"/orgs/{MAX_ID + 1}",
        f"/users/{HUGE}",
        f"/findings/{MAX_ID + 1}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "页面不存在，或您无权查看" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query, field",
    [
        ("/drills?org=2147483648", "org"),
        (f"/drills?org={HUGE}", "org"),
        ("/findings?org=2147483648", "org"),
        ("/checklist-runs?org=2147483648", "org"),
        ("/checklist-runs?drill=2147483648", "drill"),
        ("/drills?to=9999-12-31", "to"),
        ("/drills?from=0001-01-01", "from"),
        ("/drills?to=", "to"),
        ("/reports/half-year?half=", "half"),
        ("/outreach?year=2026%00", "year"),
        ("/orgs?q=a%00b", "q"),
        ("/drills?region=%00", "region"),
        ("/orgs?region=0000000000000", "region"),
        ("/users?per_page=501", "per_page"),
        (f"/users?page={HUGE}", "page"),
    ],
)
def test_out_of_range_filters_are_a_problem_naming_the_field(client, auth, query, field):
    response = client.get(f"/api/v1{query}", headers=auth)
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert field in assert_problem(response, response.status_code)["errors"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "a\u0000b", "kind": "school", "region_code": WUSU}, "name"),
        ({"name": "ok", "kind": "school", "region_code": WUSU, "headcount": 1099511627776}, "headcount"),
        ({"name": "ok", "kind": "school", "region_code": WUSU, "headcount": int(HUGE)}, "headcount"),
    ],
)
def test_hostile_json_fields_are_422_naming_the_field(client, auth, body, field):
    response = client.post("/api/v1/orgs", json=body, headers=auth)
    assert field in assert_problem(response, 422)["errors"]


def test_a_huge_version_is_422_not_500(client, auth, make_org):
    org = make_org(region_code=WUSU)
    response = client.patch(f"/api/v1/orgs/{org.id}", json={"name": "新名称", "version": 1099511627776}, headers=auth)
    assert response.status_code in (409, 422), response.get_data(as_text=True)
    response = client.patch(f"/api/v1/orgs/{org.id}", json={"name": "新名称", "version": int(HUGE)}, headers=auth)
    assert response.status_code in (409, 422), response.get_data(as_text=True)


def test_ids_in_bodies_beyond_the_column_are_422(client, auth):
    response = client.post("/api/v1/checklist-runs", json={"org_id": 2**40}, headers=auth)
    assert "org_id" in assert_problem(response, 422)["errors"]
    response = client.post(
        "/api/v1/drills",
        headers=auth,
        json={
            "title": "演练",
            "form": "evacuation",
            "starts_at": "2030-01-01T10:00:00+08:00",
            "ends_at": "2030-01-01T11:00:00+08:00",
            "organizer_region_code": WUSU,
            "participant_org_ids": [2**31],
        },
    )
    assert "participant_org_ids" in assert_problem(response, 422)["errors"]


def test_ids_in_patches_beyond_the_column_are_422_before_any_lookup(client, auth):
    """Found by the fuzzer: a PATCH with an organisation id of 2**80 reached the organisation lookup (500)."""
    activity = client.post(
        "/api/v1/outreach",
        headers=auth,
        json={
            "kind": "observance_campaign",
            "title": "宣传",
            "observance_day": "10-13",
            "held_on": "2025-10-13",
            "region_code": WUSU,
            "channels": ["internet"],
            "audience": 100,
        },
    ).get_json()
    response = client.patch(
        f"/api/v1/outreach/{activity['id']}",
        headers=auth,
        json={"organizer_org_id": 2**80, "version": activity["version"]},
    )
    assert "organizer_org_id" in assert_problem(response, 422)["errors"]
    site = client.post(
        "/api/v1/demonstration-sites",
        headers=auth,
        json={"kind": "school", "name": "示范校", "region_code": WUSU, "year": 2025},
    ).get_json()
    response = client.patch(
        f"/api/v1/demonstration-sites/{site['id']}",
        headers=auth,
        json={"org_id": 2**80, "kind": "community", "version": site["version"]},
    )
    assert "org_id" in assert_problem(response, 422)["errors"]
    kept = client.get("/api/v1/demonstration-sites", headers=auth).get_json()["items"]
    assert [(s["id"], s["kind"]) for s in kept] == [(site["id"], "school")]


@pytest.mark.parametrize(
    "raw", [b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000, b"[" * 100_000 + b"]" * 100_000]
)
def test_deeply_nested_json_is_422(client, auth, raw):
    response = client.post("/api/v1/orgs", data=raw, headers=auth | {"Content-Type": "application/json"})
    assert_problem(response, 422)


def test_lone_surrogate_escape_and_nan_in_raw_json(client, auth):
    raw = b'{"name": "\\ud800", "kind": "school", "region_code": "654202"}'
    response = client.post("/api/v1/orgs", data=raw, headers=auth | {"Content-Type": "application/json"})
    assert "name" in assert_problem(response, 422)["errors"]
    raw = b'{"name": "x", "kind": "school", "region_code": "654202", "headcount": NaN}'
    assert_problem(client.post("/api/v1/orgs", data=raw, headers=auth | {"Content-Type": "application/json"}), 400)


def test_dates_at_the_end_of_the_calendar_are_422(client, auth):
    response = client.post(
        "/api/v1/drills",
        headers=auth,
        json={
            "title": "演练",
            "form": "evacuation",
            "starts_at": "9999-12-31T23:00:00+00:00",
            "ends_at": "9999-12-31T23:30:00-08:00",
            "organizer_region_code": WUSU,
        },
    )
    errors = assert_problem(response, 422)["errors"]
    assert "starts_at" in errors and "ends_at" in errors


def test_nul_in_a_path_is_404(client, auth):
    assert client.get("/api/v1/drills%00", headers=auth).status_code == 404


HOSTILE_ARGS = {
    "page": HUGE,
    "year": HUGE,
    "month": "13",
    "org": str(MAX_ID + 1),
    "drill": HUGE,
    "to": "9999-12-31",
    "from": "0001-01-01",
    "half": "3",
    "region": "6542\u0000",
    "q": "a\u0000b",
    "kind": "\u0000",
    "status": "x",
    "unread": "1",
    "job": "x",
    "format": "xlsx",
    "mine": HUGE,
}


@pytest.mark.parametrize(
    "args",
    [
        HOSTILE_ARGS,
        {"page": HUGE},
        {"year": HUGE, "month": HUGE},
        {"year": "0", "month": "0"},
        {"to": "9999-12-31"},
        {"org": HUGE},
        {"year": "9999", "month": "12"},
        {"year": "1", "month": "1"},
        {"page": "\u00b9", "year": "\u00b9", "month": "\u2460", "half": "\u00b2", "org": "\u0661", "drill": "\u00b9"},
    ],
)
def test_no_web_page_answers_500_to_hostile_query_arguments(app, client, admin, args):
    login(client, admin)
    failures = []
    for rule in app.url_map.iter_rules():
        if (
            "GET" not in rule.methods
            or rule.arguments
            or rule.endpoint.startswith("api.")
            or rule.endpoint in ("static", "accounts.logout")
        ):
            continue
        try:
            status = client.get(rule.rule, query_string=args).status_code
        except Exception as error:  # noqa: BLE001 — the test client re-raises what would be a 500
            status = repr(error)
        if not isinstance(status, int) or status >= 500:
            failures.append((rule.rule, status))
    assert not failures


def test_a_web_page_number_beyond_any_page_is_404(client, admin):
    login(client, admin)
    assert client.get(f"/users?page={HUGE}").status_code == 404
    assert client.get("/users?page=2").status_code == 200


def test_nul_in_a_web_form_is_refused_in_the_users_language(client, admin):
    login(client, admin)
    response = client.post("/orgs/new", data={"name": "学校\u0000", "kind": "school", "region_code": WUSU})
    assert response.status_code == 422
    assert "不能包含 NUL 字符" in response.get_data(as_text=True)


def test_the_id_pattern_matches_exactly_the_column_range():
    small = re.compile(_up_to(1234))
    assert [n for n in range(20_000) if small.fullmatch(str(n))] == list(range(1, 1235))
    ids = re.compile(IdConverter.regex)
    assert ids.fullmatch(str(MAX_ID)) and ids.fullmatch("0042") and ids.fullmatch("2147483639")
    assert not any(ids.fullmatch(n) for n in ("0", "000", str(MAX_ID + 1), "2147483650", "3000000000", HUGE))


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_an_id_beyond_the_column_is_404_for_every_method(client, auth, method):
    """Not 405: the path names nothing, whatever the method (werkzeug checks the method before converting)."""
    for path in (f"/api/v1/drills/{MAX_ID + 1}/attachments", f"/api/v1/drills/{MAX_ID + 1}", "/api/v1/attachments/0"):
        assert_problem(getattr(client, method)(path, headers=auth), 404)


@pytest.mark.parametrize("user_id", [HUGE, str(MAX_ID + 1), "\u00b2", "0", "-1", "1e5"])
def test_feed_tokens_with_bad_ids_are_refused_not_500(client, user_id):
    for path in ("/calendars/me.ics", "/calendars/org/1.ics", f"/calendars/region/{WUSU}.ics"):
        response = client.get(path, query_string={"token": f"{user_id}.c2lnbmF0dXJl"})
        assert response.status_code in (403, 404), (path, response.status_code)


def test_a_bad_field_name_is_named_back_escaped(client):
    raw = b'{"\\ud800": 1, "a\\u0000": 2, "username": "a", "password": "b"}'
    response = client.post("/api/v1/auth/token", data=raw, headers={"Content-Type": "application/json"})
    errors = assert_problem(response, 422)["errors"]
    assert set(errors) <= {"\\ud800", "a\\u0000"} and errors


# Characters str.isdigit() takes but int() refuses (superscript one, circled one), and digits of other scripts
# that int() would read.
NOT_ASCII_DIGITS = ["\u00b9", "\u2460", "\u0661", "1\u0662"]


def test_a_whole_number_in_text_is_ascii_digits_within_the_maximum():
    assert [parse_whole_number(t) for t in ("0", "007", "2147483647", "12")] == [0, 7, MAX_ID, 12]
    refused = [*NOT_ASCII_DIGITS, "", " 1", "-1", "1.0", "2147483648", HUGE, "9" * 5000, None]
    assert [parse_whole_number(t) for t in refused] == [None] * len(refused)
    assert parse_whole_number("65535", maximum=65535) == 65535 and parse_whole_number("65536", maximum=65535) is None
    assert [parse_id(t) for t in ("1", "0", "\u0661", "\u00b9")] == [1, None, None, None]


@pytest.mark.parametrize("digits", NOT_ASCII_DIGITS)
def test_digits_that_are_not_ascii_never_make_a_500_on_the_api(app, client, auth, digits):
    """Found by the fuzzer: `year=¹` passed str.isdigit() and int() then raised."""
    failures = []
    for rule in _api_rules(app, with_arguments=False):
        for name in ("page", "per_page", "year", "half", "month", "org", "drill", "region"):
            status = client.get(rule.rule, query_string={name: digits}, headers=auth).status_code
            if status >= 500:
                failures.append((rule.rule, name, status))
    assert not failures
    response = client.get("/api/v1/reports/half-year/submissions", query_string={"year": digits}, headers=auth)
    assert "year" in assert_problem(response, 422)["errors"]
    response = client.get("/api/v1/drills", query_string={"page": digits}, headers=auth)
    assert "page" in assert_problem(response, response.status_code)["errors"]


@pytest.mark.parametrize("digits", NOT_ASCII_DIGITS)
def test_a_form_version_in_other_digits_saves_nothing_and_is_not_a_500(client, admin, make_org, digits):
    org = make_org(region_code=WUSU, name="旧名称")
    login(client, admin)
    page = client.get(f"/orgs/{org.id}/edit").get_data(as_text=True)
    assert f'value="{org.version}"' in page
    data = {"name": "新名称", "kind": "school", "region_code": WUSU, "headcount": "10", "version": digits}
    response = client.post(f"/orgs/{org.id}/edit", data=data)
    assert response.status_code == 200 and "alert-danger" in response.get_data(as_text=True)
    assert client.get(f"/api/v1/orgs/{org.id}", headers=token_for(client, admin)).get_json()["name"] == "旧名称"


def _form_field_names() -> set[str]:
    """Every field of every form class of the app, and the hand-written fields of its templates."""
    from flask_wtf import FlaskForm
    from wtforms.fields.core import UnboundField

    names, pending = set(), [FlaskForm]
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        names |= {name for name in dir(form) if isinstance(getattr(form, name, None), UnboundField)}
    return names | {"version", "year", "half", "org_id", "objective_id", "template_id", "action_item", "region"}


@pytest.mark.parametrize("value", [HUGE, "\u00b9", "-1", "a\u0000b", ""])
def test_no_web_form_answers_500_to_hostile_fields(app, client, admin, make_org, make_user, make_drill, value):
    """Every form posted with each of its fields (and every other form's) set to a hostile value."""
    from drillmgr.compliance.rules import ensure_rules
    from drillmgr.localtime import local_today

    org = make_org(region_code=WUSU)
    drill = make_drill(organizer=org)
    other = make_user(Role.ORG_STAFF, org=org)
    rule = ensure_rules(local_today().year)[0]
    db.session.commit()
    ids = {"drill_id": drill.id, "org_id": org.id, "user_id": other.id, "rule_id": rule.id}
    data = dict.fromkeys(_form_field_names() - {"csrf_token"}, value)
    login(client, admin)
    failures = []
    for rule_ in app.url_map.iter_rules():
        # Not the forms that end the admin's own session: the sweep goes on signed in.
        if "POST" not in rule_.methods or rule_.endpoint.startswith("api.") or "logout" in rule_.rule:
            continue
        path = re.sub(r"<any\((\w+)[^>]*>", r"\1", rule_.rule)
        for name in rule_.arguments:
            path = path.replace(f"<int:{name}>", str(ids.get(name, 1))).replace(f"<{name}>", "1")
        try:
            status = client.post(path, data=data).status_code
        except Exception as error:  # noqa: BLE001 — the test client re-raises what would be a 500
            status = repr(error)
        if not isinstance(status, int) or status >= 500:
            failures.append((path, status))
    assert not failures
