"""Exactly once (issue 11.1), no lost update (10.3), no race that gives a 500 or a duplicate (10.5): real
requests sent at the same moment to a live server (gunicorn, two processes) on SQLite or PostgreSQL."""

from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
import sqlalchemy as sa

from drillmgr.extensions import db
from drillmgr.idempotency import services as idempotency
from drillmgr.idempotency.models import IdempotencyKey
from tests.conftest import WUSU, login, token_for
from tests.live_support import Client, hidden_fields, live, together  # noqa: F401 — fixture
from tests.test_browser import page, server  # noqa: F401 — fixtures

N = 8
_serial = count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{datetime.now().strftime('%H%M%S%f')}-{next(_serial)}"


def iso(days: float, hours: float = 0) -> str:
    moment = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0) + timedelta(days=days, hours=hours)
    return moment.isoformat()


def no_server_error(answers) -> None:
    assert all(a.status < 500 for a in answers), [(a.status, a.text[:300]) for a in answers]


def one_created(answers, created=201) -> None:
    """Exactly one request made the record; the others were refused with a problem, never a 500."""
    no_server_error(answers)
    statuses = sorted(a.status for a in answers)
    assert statuses.count(created) == 1, [(a.status, a.text[:200]) for a in answers]
    assert all(a.headers["Content-Type"] == "application/problem+json" for a in answers if a.status != created)


def same_first_answer(answers, created=201) -> dict:
    """With one Idempotency-Key: every answer is the first one, byte for byte; all but one are replays."""
    no_server_error(answers)
    assert {(a.status, a.body) for a in answers} == {(answers[0].status, answers[0].body)}, [
        (a.status, a.text[:200]) for a in answers
    ]
    assert answers[0].status == created, answers[0].text
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == len(answers) - 1
    return answers[0].json


# --- a small world on the live server --------------------------------------------------------------------


def new_org(live, **fields) -> dict:
    answer = live.admin.call(
        "POST",
        "/api/v1/orgs",
        {"name": unique("单位"), "kind": "school", "region_code": WUSU, "headcount": 800, **fields},
    )
    assert answer.status == 201, answer.text
    return answer.json


def new_user(live, role="coordinator", **fields) -> Client:
    username = unique("u")
    body = {"username": username, "password": live.password, "role": role, **fields}
    if role == "coordinator":
        body.setdefault("region_code", WUSU)
    answer = live.admin.call("POST", "/api/v1/users", body)
    assert answer.status == 201, answer.text
    client = live.api_token(username, live.password)
    client.username, client.id = username, answer.json["id"]
    return client


def new_drill(live, org_id: int, days: float = 7, **fields) -> dict:
    body = {
        "title": unique("演练"),
        "form": "evacuation",
        "organizer_org_id": org_id,
        "starts_at": iso(days),
        "ends_at": iso(days, 1),
        **fields,
    }
    answer = live.admin.call("POST", "/api/v1/drills", body)
    assert answer.status == 201, answer.text
    return answer.json


def held_drill(live, org_id: int) -> dict:
    return new_drill(
        live, org_id, days=-2, participation={"counts": {"students": 250, "staff": 20}, "evacuation_seconds": 95}
    )


def drill_count(live, org_id: int) -> int:
    return live.admin.call("GET", f"/api/v1/drills?org={org_id}&from=2000-01-01&to=2099-12-31").json["total"]


def run_with_a_no(live, org: dict) -> tuple[dict, int]:
    """A readiness run of the unit with its first item answered "no"."""
    run = live.admin.call("POST", "/api/v1/checklist-runs", {"org_id": org["id"]})
    assert run.status in (200, 201), run.text
    run = run.json
    item_id = run["answers"][0]["item_id"]
    answered = live.admin.call(
        "POST",
        f"/api/v1/checklist-runs/{run['id']}/answers",
        {str(item_id): {"answer": "no", "note": "清点人数方法未明确"}},
    )
    assert answered.status == 200, answered.text
    return run, item_id


# --- 10.3 lost updates ----------------------------------------------------------------------------------


def test_two_saves_of_one_version_one_wins_the_other_is_409(live):
    org = new_org(live, headcount=100)
    answers = together(
        N,
        lambda i: live.admin.call(
            "PATCH", f"/api/v1/orgs/{org['id']}", {"headcount": 200 + i, "version": org["version"]}
        ),
    )
    one_created(answers, created=200)
    (winner,) = [a.json for a in answers if a.status == 200]
    assert {a.status for a in answers} == {200, 409}
    now = live.admin.call("GET", f"/api/v1/orgs/{org['id']}").json
    assert (now["headcount"], now["version"]) == (winner["headcount"], org["version"] + 1)


def test_outreach_changes_are_compare_and_set(live):
    created = live.admin.call(
        "POST",
        "/api/v1/outreach",
        {
            "kind": "observance_campaign",
            "title": unique("宣传"),
            "observance_day": "05-12",
            "held_on": f"{datetime.now().year - 1}-05-12",
            "region_code": WUSU,
            "channels": ["internet"],
            "audience": 100,
        },
    )
    assert created.status == 201, created.text
    activity = created.json
    assert activity["version"] == 1
    url = f"/api/v1/outreach/{activity['id']}"
    answers = together(N, lambda i: live.admin.call("PATCH", url, {"audience": 200 + i, "version": 1}))
    one_created(answers, created=200)
    assert live.admin.call("PATCH", url, {"audience": 5}).status == 422
    assert live.admin.call("GET", url).json["version"] == 2


# --- 10.5 races ----------------------------------------------------------------------------------------


def test_one_username_created_at_once_is_one_account_without_a_500(live):
    name = unique("same")
    answers = together(
        N,
        lambda i: live.admin.call(
            "POST",
            "/api/v1/users",
            {
                "username": name if i % 2 else name.upper(),
                "password": live.password,
                "role": "viewer",
                "region_code": WUSU,
            },
        ),
    )
    one_created(answers)
    users = live.admin.call("GET", "/api/v1/users?per_page=500").json["items"]
    assert len([u for u in users if u["username"].lower() == name.lower()]) == 1
    # login matches whatever the case
    assert (
        live.call("POST", "/api/v1/auth/token", {"username": name.swapcase(), "password": live.password}).status == 200
    )


def test_one_organisation_name_twenty_times_at_once_is_one_unit(live):
    name = unique("同名单位")
    answers = together(
        20, lambda i: live.admin.call("POST", "/api/v1/orgs", {"name": name, "kind": "school", "region_code": WUSU})
    )
    one_created(answers)
    assert live.admin.call("GET", f"/api/v1/orgs?q={name}").json["total"] == 1


def test_checklist_answers_at_once_are_all_kept(live):
    org = new_org(live)
    run = live.admin.call("POST", "/api/v1/checklist-runs", {"org_id": org["id"]}).json
    items = [line["item_id"] for line in run["answers"]][:N]
    # each thread answers its own item and the first one, which no thread had answered before
    answers = together(
        len(items),
        lambda i: live.admin.call(
            "POST",
            f"/api/v1/checklist-runs/{run['id']}/answers",
            {str(items[i]): {"answer": "yes"}, str(items[0]): {"answer": "yes"}},
        ),
    )
    no_server_error(answers)
    assert {a.status for a in answers} == {200}
    again = live.admin.call("GET", f"/api/v1/checklist-runs/{run['id']}").json
    assert [line["answer"] for line in again["answers"] if line["item_id"] in items] == ["yes"] * len(items)


def chosen_category_and_owner(client) -> dict:
    """A checklist item becomes an action with the category and owner the user chose (here: the caller)."""
    return {"category": "facility", "corrective_action": {"owner": client.call("GET", "/api/v1/me").json["id"]}}


def test_corrective_action_from_one_item_clicked_at_once_is_one_finding(live):
    org = new_org(live)
    run, item_id = run_with_a_no(live, org)
    url = f"/api/v1/checklist-runs/{run['id']}/items/{item_id}/corrective-action"
    choice = chosen_category_and_owner(live.admin)
    answers = together(N, lambda i: live.admin.call("POST", url, choice))
    one_created(answers)
    assert {a.status for a in answers} == {201, 409}
    findings = live.admin.call("GET", f"/api/v1/findings?org={org['id']}&per_page=500").json
    assert findings["total"] == 1


def test_readiness_runs_started_at_once_are_one_open_run(live):
    org = new_org(live)
    answers = together(N, lambda i: live.admin.call("POST", "/api/v1/checklist-runs", {"org_id": org["id"]}))
    no_server_error(answers)
    assert len({a.json["id"] for a in answers}) == 1
    runs = live.admin.call("GET", f"/api/v1/checklist-runs?org={org['id']}").json
    assert runs["total"] == 1


# --- 11.1 exactly once: the API's Idempotency-Key -------------------------------------------------------


def _keyed(live, client, method, path, body, created=201):
    key = unique("key")
    answers = together(N, lambda i: client.call(method, path, body, headers={"Idempotency-Key": key}))
    return same_first_answer(answers, created), key


def test_keyed_creates_happen_once(live):
    admin = live.admin
    org, key = _keyed(
        live, admin, "POST", "/api/v1/orgs", {"name": unique("单位"), "kind": "school", "region_code": WUSU}
    )
    assert admin.call("GET", f"/api/v1/orgs?q={org['name']}").json["total"] == 1
    user, _ = _keyed(
        live,
        admin,
        "POST",
        "/api/v1/users",
        {"username": unique("k"), "password": live.password, "role": "viewer", "region_code": WUSU},
    )
    assert admin.call("GET", f"/api/v1/users/{user['id']}").status == 200
    _keyed(
        live,
        admin,
        "POST",
        "/api/v1/drills",
        {
            "title": "一次",
            "form": "evacuation",
            "organizer_org_id": org["id"],
            "starts_at": iso(5),
            "ends_at": iso(5, 1),
        },
    )
    assert drill_count(live, org["id"]) == 1
    series, _ = _keyed(
        live,
        admin,
        "POST",
        "/api/v1/drill-series",
        {
            "title": "每月疏散",
            "form": "evacuation",
            "organizer_org_id": org["id"],
            "starts_at": iso(30),
            "ends_at": iso(30, 1),
            "rrule": "FREQ=MONTHLY;COUNT=3",
        },
    )
    assert len(series["occurrences"]) == 3 and drill_count(live, org["id"]) == 4
    activity, _ = _keyed(
        live,
        admin,
        "POST",
        "/api/v1/outreach",
        {
            "kind": "observance_campaign",
            "title": unique("宣传"),
            "observance_day": "07-28",
            "held_on": f"{datetime.now().year - 1}-07-28",
            "region_code": WUSU,
            "channels": ["internet"],
        },
    )
    listed = admin.call("GET", f"/api/v1/outreach?year={datetime.now().year - 1}&per_page=500").json["items"]
    assert [a["id"] for a in listed if a["title"] == activity["title"]] == [activity["id"]]
    site, _ = _keyed(
        live,
        admin,
        "POST",
        "/api/v1/demonstration-sites",
        {"kind": "school", "name": unique("示范校"), "region_code": WUSU, "year": datetime.now().year},
    )
    sites = admin.call("GET", "/api/v1/demonstration-sites?per_page=500").json["items"]
    assert [s["id"] for s in sites if s["name"] == site["name"]] == [site["id"]]


def test_keyed_drill_steps_happen_once(live):
    admin = live.admin
    org = new_org(live)
    planned = new_drill(live, org["id"], days=-1)
    completion = {"participation": {"counts": {"students": 300}, "evacuation_seconds": 80}}
    done, _ = _keyed(live, admin, "POST", f"/api/v1/drills/{planned['id']}/complete", completion, created=200)
    assert done["status"] == "completed" and done["version"] == planned["version"] + 1
    other = new_drill(live, org["id"])
    cancelled, _ = _keyed(live, admin, "POST", f"/api/v1/drills/{other['id']}/cancel", {"reason": "暴雪"}, created=200)
    assert cancelled["status"] == "cancelled" and cancelled["version"] == other["version"] + 1
    held = held_drill(live, org["id"])
    review = admin.call(
        "PUT", f"/api/v1/drills/{held['id']}/review", {"execution": "按预案疏散", "went_well": "有序", "version": 0}
    )
    assert review.status == 200, review.text
    submitted, _ = _keyed(live, admin, "POST", f"/api/v1/drills/{held['id']}/review/submit", {}, created=200)
    assert (submitted["filing_status"], submitted["version"]) == ("submitted", 2)
    returned, _ = _keyed(
        live, admin, "POST", f"/api/v1/drills/{held['id']}/review/return", {"reason": "补照片"}, created=200
    )
    assert (returned["filing_status"], returned["version"]) == ("returned", 3)
    history = admin.call("GET", f"/api/v1/drills/{held['id']}/review").json["history"]
    assert [h["step"] for h in history] == ["submit", "return"]
    owner = new_user(live)
    finding, _ = _keyed(
        live,
        admin,
        "POST",
        f"/api/v1/drills/{held['id']}/findings",
        {
            "summary": "通道堵塞",
            "severity": "major",
            "category": "facility",
            "corrective_action": {
                "description": "清理通道",
                "owner": owner.id,
                "due_on": (datetime.now() + timedelta(days=20)).date().isoformat(),
            },
        },
    )
    assert [f["id"] for f in admin.call("GET", f"/api/v1/drills/{held['id']}/review").json["findings"]] == [
        finding["id"]
    ]


def test_keyed_checklist_steps_happen_once(live):
    admin = live.admin
    org = new_org(live)
    run, _ = _keyed(live, admin, "POST", "/api/v1/checklist-runs", {"org_id": org["id"]})
    item_id = run["answers"][0]["item_id"]
    _keyed(
        live,
        admin,
        "POST",
        f"/api/v1/checklist-runs/{run['id']}/answers",
        {str(item_id): {"answer": "no", "note": "缺少应急照明"}},
        created=200,
    )
    _keyed(
        live,
        admin,
        "POST",
        f"/api/v1/checklist-runs/{run['id']}/items/{item_id}/corrective-action",
        chosen_category_and_owner(admin),
    )
    assert admin.call("GET", f"/api/v1/findings?org={org['id']}").json["total"] == 1


def test_keyed_upload_happens_once(live):
    import uuid

    org = new_org(live)
    drill = new_drill(live, org["id"])
    boundary = uuid.uuid4().hex
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5d0e7b70000000049454e44ae426082"
    )
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nphoto\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="现场.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    key = unique("upload")

    def send(i):
        import urllib.request

        from tests.live_support import Answer

        request = urllib.request.Request(
            f"{live.base}/api/v1/drills/{drill['id']}/attachments",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {live.admin.token}",
                "Idempotency-Key": key,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read())

    same_first_answer(together(N, send))
    assert len(live.admin.call("GET", f"/api/v1/drills/{drill['id']}/attachments").json["items"]) == 1


def test_a_key_is_one_users_and_one_requests(live):
    admin, other = live.admin, new_user(live, role="admin")
    key = unique("mine")
    name = unique("单位")
    body = {"name": name, "kind": "school", "region_code": WUSU}
    first = admin.call("POST", "/api/v1/orgs", body, headers={"Idempotency-Key": key})
    assert first.status == 201
    changed = admin.call("POST", "/api/v1/orgs", {**body, "name": name + "2"}, headers={"Idempotency-Key": key})
    assert changed.status == 422 and "Idempotency-Key" in changed.json["errors"]
    # another user's same key is another request: it is checked and refused on its own merits
    theirs = other.call("POST", "/api/v1/orgs", body, headers={"Idempotency-Key": key})
    assert theirs.status == 422 and "name" in theirs.json["errors"]


def test_a_failed_request_frees_its_key(live):
    key = unique("retry")
    body = {"name": unique("单位"), "kind": "school", "region_code": WUSU}
    refused = live.admin.call("POST", "/api/v1/orgs", {**body, "kind": "castle"}, headers={"Idempotency-Key": key})
    assert refused.status == 422
    mended = live.admin.call("POST", "/api/v1/orgs", {**body, "kind": "castle"}, headers={"Idempotency-Key": key})
    assert mended.status == 422 and mended.headers.get("Idempotent-Replayed") is None
    assert live.admin.call("POST", "/api/v1/orgs", body, headers={"Idempotency-Key": key}).status == 201


# --- 11.1 exactly once: the forms' one-time submission keys ---------------------------------------------


def test_a_form_sent_several_times_at_once_and_again_later_makes_one_record(live):
    web = live.login("live-admin", live.password)
    org = new_org(live)
    fields = hidden_fields(web.call("GET", "/drills/new").text)
    assert len(fields["submission_key"]) == 32
    form = {
        **fields,
        "title": unique("表单演练"),
        "form": "evacuation",
        "scope": "single",
        "organizer": f"org:{org['id']}",
        "starts_at": iso(9)[:16],
        "ends_at": iso(9, 1)[:16],
        "joint_with": "none",
    }
    answers = together(N, lambda i: web.call("POST", "/drills/new", form=form))
    no_server_error(answers)
    assert {a.status for a in answers} == {302}, [(a.status, a.text[:500]) for a in answers]
    assert len({a.location for a in answers}) == 1
    assert drill_count(live, org["id"]) == 1
    # Back, then send again: the first drill, with a notice, and still one drill
    again = web.call("POST", "/drills/new", form=form)
    assert again.status == 302 and again.location == answers[0].location
    page = web.call("GET", again.location).text
    assert "已经提交过" in page or "already been sent" in page
    assert drill_count(live, org["id"]) == 1


def _form_at_once(web, page_path: str, action: str, fields: dict):
    """Sends the form found on the page N times at the same moment with its one submission key."""
    form = {**hidden_fields(web.call("GET", page_path).text, action=action if action != page_path else None), **fields}
    assert len(form["submission_key"]) == 32
    answers = together(N, lambda i: web.call("POST", action, form=form))
    no_server_error(answers)
    assert {a.status for a in answers} == {302} and len({a.location for a in answers}) == 1, [
        (a.status, a.location, a.text[:300]) for a in answers
    ]
    return answers[0].location


def test_forms_sent_at_once_create_and_step_once(live):
    web = live.login("live-admin", live.password)
    name = unique("表单单位")
    _form_at_once(
        web, "/orgs/new", "/orgs/new", {"name": name, "kind": "school", "region_code": WUSU, "headcount": "300"}
    )
    (org,) = live.admin.call("GET", f"/api/v1/orgs?q={name}").json["items"]
    title = unique("表单宣传")
    _form_at_once(
        web,
        "/outreach/new",
        "/outreach/new",
        {
            "kind": "six_into",
            "setting": "school",
            "observance_day": "",
            "title": title,
            "held_on": f"{datetime.now().year - 1}-04-01",
            "region_code": WUSU,
            "audience": "50",
        },
    )
    listed = live.admin.call("GET", f"/api/v1/outreach?year={datetime.now().year - 1}&per_page=500").json["items"]
    assert len([a for a in listed if a["title"] == title]) == 1
    _form_at_once(web, f"/orgs/{org['id']}", f"/checklists/orgs/{org['id']}/start", {})
    assert live.admin.call("GET", f"/api/v1/checklist-runs?org={org['id']}").json["total"] == 1
    drill = new_drill(live, org["id"])
    _form_at_once(web, f"/drills/{drill['id']}/cancel", f"/drills/{drill['id']}/cancel", {"reason": "暴雪停课"})
    now = live.admin.call("GET", f"/api/v1/drills/{drill['id']}").json
    assert (now["status"], now["version"]) == ("cancelled", drill["version"] + 1)
    held = held_drill(live, org["id"])
    assert (
        live.admin.call("PUT", f"/api/v1/drills/{held['id']}/review", {"execution": "按预案疏散", "version": 0}).status
        == 200
    )
    _form_at_once(
        web,
        f"/drills/{held['id']}",
        f"/findings/drills/{held['id']}/review",  # 保存并报送备案
        {"review-execution": "按预案疏散", "then": "submit"},
    )
    review = live.admin.call("GET", f"/api/v1/drills/{held['id']}/review").json
    assert (review["filing_status"], [h["step"] for h in review["history"]]) == ("submitted", ["submit"])


def test_one_name_sent_from_several_forms_at_once_is_one_unit_and_no_error_page(live):
    web = live.login("live-admin", live.password)
    name = unique("同名表单单位")
    forms = [
        {
            **hidden_fields(web.call("GET", "/orgs/new").text),
            "name": name,
            "kind": "school",
            "region_code": WUSU,
            "headcount": "10",
        }
        for _ in range(N)
    ]
    answers = together(
        N, lambda i: web.call("POST", "/orgs/new", form=forms[i], headers={"Referer": f"{live.base}/orgs/new"})
    )
    no_server_error(answers)
    created = [a for a in answers if a.status == 302 and "/orgs/new" not in a.location]
    assert len(created) == 1 and live.admin.call("GET", f"/api/v1/orgs?q={name}").json["total"] == 1
    # the others: the form again with "already exists", or (lost at the database) back to the form with a notice
    assert all(a.status == 200 or a.location.endswith("/orgs/new") for a in answers if a not in created)


def test_each_form_gets_its_own_key_and_a_refused_form_keeps_none(live):
    web = live.login("live-admin", live.password)
    page = web.call("GET", "/orgs/new").text
    keys = [value for name, value in __import__("re").findall(r'name="(submission_key)" value="([0-9a-f]+)"', page)]
    assert len(keys) == len(set(keys)) >= 2  # the form, and the language and logout forms of the layout
    fields = hidden_fields(page, action=None)
    form = {**fields, "name": "", "kind": "school", "region_code": WUSU, "headcount": "10"}
    refused = web.call("POST", "/orgs/new", form=form)
    assert refused.status == 200
    form["name"] = unique("单位")
    created = web.call("POST", "/orgs/new", form=form)
    assert created.status == 302 and "/orgs/" in created.location
    assert live.admin.call("GET", f"/api/v1/orgs?q={form['name']}").json["total"] == 1


# --- in-process: expiry, the documents, the stale form ---------------------------------------------------


def test_keys_expire_and_the_scheduler_forgets_them(app, make_user):
    from drillmgr.scheduler.jobs import DEFAULT_SCHEDULE, JOBS

    user = make_user()
    old = datetime.now(timezone.utc) - idempotency.KEY_LIFETIME - timedelta(minutes=1)
    db.session.add_all(
        [
            IdempotencyKey(
                user_id=user.id,
                key="api:old",
                fingerprint="x",
                status=201,
                content_type="",
                location="",
                created_at=old,
            ),
            IdempotencyKey(user_id=user.id, key="api:new", fingerprint="x", status=201, content_type="", location=""),
        ]
    )
    db.session.commit()
    assert JOBS["prune_idempotency_keys"](datetime.now(timezone.utc)) and DEFAULT_SCHEDULE["prune_idempotency_keys"]
    assert db.session.scalars(sa.select(IdempotencyKey.key).where(IdempotencyKey.user_id == user.id)).all() == [
        "api:new"
    ]
    # an expired key is a new key: the request is made again
    claim = idempotency.take(user.id, "api:old", "y")
    assert claim.id is not None


def test_openapi_documents_the_key_on_every_post_and_the_version_on_every_change(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    posts = [op for item in paths.values() for method, op in item.items() if method == "post" and "security" in op]
    assert len(posts) >= 19
    assert posts and all(
        any(p["name"] == "Idempotency-Key" and p["in"] == "header" and not p["required"] for p in op["parameters"])
        for op in posts
    )
    changes = [op for item in paths.values() for method, op in item.items() if method in ("patch", "put")]
    assert changes and all(
        op["requestBody"]["content"]["application/json"]["schema"]["allOf"][1]["required"] == ["version"]
        for op in changes
    )


@pytest.mark.parametrize("path", ["orgs", "users", "drills", "outreach", "demonstration-sites"])
def test_a_change_without_version_is_422_naming_version(client, admin_headers, make_org, make_drill, path):
    org = make_org()
    ids = {"orgs": org.id, "drills": make_drill(organizer=org).id}
    if path == "users":
        ids[path] = client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={"username": unique("v"), "password": "long-enough-1", "role": "viewer", "region_code": WUSU},
        ).get_json()["id"]
    elif path == "outreach":
        ids[path] = client.post(
            "/api/v1/outreach",
            headers=admin_headers,
            json={
                "kind": "six_into",
                "setting": "school",
                "title": "进校园",
                "held_on": "2025-03-01",
                "region_code": WUSU,
            },
        ).get_json()["id"]
    elif path == "demonstration-sites":
        ids[path] = client.post(
            "/api/v1/demonstration-sites",
            headers=admin_headers,
            json={"kind": "school", "name": "示范校", "region_code": WUSU, "year": 2025},
        ).get_json()["id"]
    response = client.patch(f"/api/v1/{path}/{ids[path]}", headers=admin_headers, json={"title": "x"})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert list(response.get_json()["errors"]) == ["version"]


@pytest.fixture
def admin_headers(client, make_user):
    from drillmgr.enums import Role

    return token_for(client, make_user(Role.ADMIN))


def test_a_stale_org_form_keeps_the_input_and_offers_to_reload(client, make_user, make_org):
    from drillmgr.enums import Role
    from drillmgr.orgs.services import update_org

    admin = make_user(Role.ADMIN)
    org = make_org(name="第一中学", headcount=100)
    login(client, admin)
    client.get(f"/orgs/{org.id}/edit")
    update_org(admin, org, {"headcount": 200, "version": 1})  # someone else saves first
    db.session.commit()  # their request's unit of work
    response = client.post(
        f"/orgs/{org.id}/edit",
        data={"name": "第一中学（新）", "kind": "school", "region_code": WUSU, "headcount": "300", "version": "1"},
        headers={"Referer": f"http://localhost/orgs/{org.id}/edit"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'value="第一中学（新）"' in page and 'value="300"' in page
    assert f'href="http://localhost/orgs/{org.id}/edit"' in page and "重新载入" in page
    db.session.expire_all()
    assert (org.name, org.headcount, org.version) == ("第一中学", 200, 2)


# --- in Chromium: a double tap on a slow link, and Back then send again -------------------------------


@pytest.mark.browser
def test_double_tap_on_a_slow_link_and_back_then_send_again_make_one_record(server, page):
    import json
    import re
    import time
    import urllib.request

    page.goto(f"{server}/login")
    page.fill("#username", "wusu")
    page.fill("#password", "drillmgr-demo")
    page.click("#login-submit")
    page.wait_for_url(f"{server}/")
    posts = []

    def slow(route):
        if route.request.method == "POST":
            posts.append(route.request.post_data)
            time.sleep(1.5)
        route.continue_()

    page.route("**/outreach/new*", slow)
    title = unique("双击宣传")
    page.goto(f"{server}/outreach/new?kind=six_into")
    page.select_option("#kind", "six_into")
    page.select_option("#setting", "school")
    page.fill("#title", title)
    page.fill("#audience", "120")
    button = page.locator("form.row button[type=submit]")
    button.dblclick()
    page.wait_for_url(re.compile(r".*/outreach/\d+$"))
    first = page.url
    assert first.rstrip("/").split("/")[-1].isdigit(), page.content()[:2000]
    assert len(posts) == 1  # the form kept itself from sending a second time
    page.go_back()
    page.wait_for_url(f"{server}/outreach/new?kind=six_into")
    assert page.input_value("#title") == title
    page.locator("form.row button[type=submit]").click()
    page.wait_for_url(first)
    assert "已经提交过" in page.content() and len(posts) == 2
    token = urllib.request.urlopen(
        urllib.request.Request(
            f"{server}/api/v1/auth/token",
            data=json.dumps({"username": "wusu", "password": "drillmgr-demo"}).encode(),
            headers={"Content-Type": "application/json"},
        )
    ).read()
    request = urllib.request.Request(
        f"{server}/api/v1/outreach?kind=six_into&per_page=500",
        headers={"Authorization": f"Bearer {json.loads(token)['token']}"},
    )
    items = json.loads(urllib.request.urlopen(request).read())["items"]
    assert [a["id"] for a in items if a["title"] == title] == [int(first.rstrip("/").split("/")[-1])]


def test_every_form_backed_change_is_compare_and_set(app, make_user, make_org):
    """Two saves based on one version: the second is a Conflict naming `version` and changes nothing."""
    from drillmgr.accounts.services import update_user
    from drillmgr.checklists.templates import create_template, update_template
    from drillmgr.enums import Role
    from drillmgr.errors import Conflict
    from drillmgr.orgs.services import update_org
    from drillmgr.outreach.activities import create_activity, update_activity
    from drillmgr.outreach.sites import create_site, update_site

    admin = make_user(Role.ADMIN)
    org = make_org()
    user = make_user(Role.VIEWER, region_code=WUSU)
    activity = create_activity(
        admin,
        {"kind": "six_into", "setting": "school", "title": "进校园", "held_on": "2025-03-01", "region_code": WUSU},
    )
    site = create_site(admin, {"kind": "school", "name": "示范校", "region_code": WUSU, "year": 2025})
    template = create_template(admin, {"name": "医院清单", "org_kind": "hospital"})
    cases = [
        (update_org, org, {"headcount": 7}, "headcount"),
        (update_user, user, {"display_name": "新"}, "display_name"),
        (update_activity, activity, {"audience": 7}, "audience"),
        (update_site, site, {"name": "新"}, "name"),
        (update_template, template, {"name": "新"}, "name"),
    ]
    for change, record, data, field in cases:
        change(admin, record, {**data, "version": 1})
        db.session.commit()  # the test is the unit of work: the refusal below takes back only itself
        with pytest.raises(Conflict) as stale:
            change(admin, record, {field: "旧" if isinstance(data[field], str) else 9, "version": 1})
        db.session.rollback()
        db.session.refresh(record)
        assert list(stale.value.errors) == ["version"]
        assert (getattr(record, field), record.version) == (data[field], 2), change.__name__


def test_a_keyed_upload_with_a_malformed_part_name_is_kept_once_not_500(client, admin_headers):
    """Found by the fuzzer: a part header werkzeug reads as a field named None broke the key's fingerprint."""
    activity = client.post(
        "/api/v1/outreach",
        headers=admin_headers,
        json={"kind": "six_into", "setting": "school", "title": "进校园", "held_on": "2025-03-01", "region_code": WUSU},
    ).get_json()
    boundary = "b0undary"
    png = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00:~\x9bU\x00"
        b"\x00\x00\nIDATx\x9cc`\x00\x00\x00\x02\x00\x01H\xaf\xa4q\x00\x00\x00\x00IEND\xaeB`\x82"
    )
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="f;\\"\r\n\r\n1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n2\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = admin_headers | {
        "Idempotency-Key": unique("odd"),
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    answers = [
        client.post(f"/api/v1/outreach/{activity['id']}/attachments", data=body, headers=headers) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].get_json() == answers[1].get_json()
    listed = client.get(f"/api/v1/outreach/{activity['id']}/attachments", headers=admin_headers).get_json()["items"]
    assert [a["filename"] for a in listed] == ["p.png"]


def test_outreach_uploads_document_only_the_fields_they_read(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert set(schemas["OutreachAttachmentUpload"]["properties"]) == {"file"}
    assert set(schemas["AttachmentUpload"]["properties"]) == {"file", "kind"}
