"""A double-blind drill never leaks before it starts: through every output the drills feature has,
for every kind of user. After its start, everyone in scope sees it again."""

import hashlib
import io
import re
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import current_app

from drillmgr.access import services as access
from drillmgr.attachments import services as attachments
from drillmgr.attachments.models import Attachment
from drillmgr.drills.queries import drill_query
from drillmgr.drills.series import create_series
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillForm, DrillScope, OrgKind, Role
from drillmgr.extensions import db
from drillmgr.findings import notices
from drillmgr.findings.models import Finding
from drillmgr.notifications.models import Notification
from drillmgr.scheduler import reminder_jobs
from tests.conftest import TACHENG_CITY, WUSU, at, issue_kept_token, local_day

TITLE = "双盲桌面推演X"
PDF = b"%PDF-1.7\n%test\n"
ROLES = ["admin", "coordinator", "other_coordinator", "organiser", "participant", "evaluator", "viewer", "stranger"]
INSIDERS = {"admin", "coordinator", "organiser", "evaluator"}
IN_SCOPE = INSIDERS | {"participant", "viewer"}


@pytest.fixture
def world(make_org, make_user, make_drill, app):
    township = make_org(kind=OrgKind.TOWNSHIP, region_code=WUSU, name="乌苏市某镇人民政府")
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU, name="乌苏市参演学校")
    third = make_org(kind=OrgKind.RESCUE_TEAM, region_code=WUSU)
    users = {
        "admin": make_user(role=Role.ADMIN),
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU),
        "other_coordinator": make_user(role=Role.COORDINATOR, region_code=TACHENG_CITY),
        "organiser": make_user(role=Role.ORG_STAFF, org=township),
        "participant": make_user(role=Role.ORG_STAFF, org=school),
        "evaluator": make_user(role=Role.ORG_STAFF, org=third),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
        "stranger": make_user(role=Role.ORG_STAFF, org=make_org(region_code=TACHENG_CITY)),
    }
    return {"township": township, "school": school, "users": users}


def secret_drill(world, make_drill, starts_at):
    drill = make_drill(
        organizer=world["township"],
        title=TITLE,
        form="tabletop",
        double_blind=True,
        participants=[world["school"]],
        evaluators=[world["users"]["evaluator"]],
        starts_at=starts_at,
    )
    attachment = Attachment(
        drill_id=drill.id,
        kind="plan",
        filename="脚本.pdf",
        stored_name=f"db{drill.id}",
        content_type="application/pdf",
        size=len(PDF),
        sha256=hashlib.sha256(PDF).hexdigest(),
    )
    (attachments.upload_dir() / f"db{drill.id}").write_bytes(PDF)
    db.session.add(attachment)
    db.session.commit()
    return drill, attachment


def sign_in(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["lang"] = "en"


def check_outputs(client, app, world, drill, attachment, role, visible):
    user = world["users"][role]
    headers = {"Authorization": f"Bearer {issue_kept_token(user)}"}
    school = world["school"]
    local = drill.starts_at.astimezone(ZoneInfo("Asia/Shanghai"))

    # API list, with and without each filter, and the detail, files and file download.
    for query in (
        "",
        f"?org={school.id}",
        f"?org={world['township'].id}",
        f"?region={WUSU}",
        "?form=tabletop",
        "?status=planned",
        f"?from={local.date()}&to={local.date()}",
    ):
        body = client.get(f"/api/v1/drills{query}", headers=headers).get_json()
        ids = {item["id"] for item in body["items"]}
        assert (drill.id in ids) == visible, (role, query)
        assert all(item["title"] != TITLE for item in body["items"]) or visible
    assert client.get(f"/api/v1/drills/{drill.id}", headers=headers).status_code == (200 if visible else 404)
    assert client.get(f"/api/v1/drills/{drill.id}/attachments", headers=headers).status_code == (
        200 if visible else 404
    )
    download = client.get(f"/api/v1/attachments/{attachment.id}", headers=headers)
    assert download.status_code == (200 if visible else 404)
    assert (download.data == PDF) == visible

    # Web pages: list (with filters), detail, calendar, file, home counts, the participant's org page.
    sign_in(client, user)
    for query in ("", f"?org={school.id}", "?form=tabletop", f"?region={WUSU}"):
        assert (TITLE in client.get(f"/drills/{query}").get_data(as_text=True)) == visible, (role, query)
    assert client.get(f"/drills/{drill.id}").status_code == (200 if visible else 404)
    month = client.get(f"/drills/calendar?year={local.year}&month={local.month}").get_data(as_text=True)
    assert (TITLE in month) == visible
    assert client.get(f"/attachments/{attachment.id}").status_code == (200 if visible else 404)
    home = client.get("/").get_data(as_text=True)
    # Upcoming drills for everyone who sees it; once it has ended, "record it" for those who may record it.
    records_it = drill.ends_at <= at() and role in ("admin", "coordinator", "organiser")
    assert (TITLE in home) == (visible and (drill.starts_at > at() or records_it))
    org_page = client.get(f"/orgs/{school.id}")
    if org_page.status_code == 200:
        assert (TITLE in org_page.get_data(as_text=True)) == visible
    with app.test_request_context():
        assert (drill in db.session.scalars(drill_query(user)).all()) == visible


@pytest.mark.parametrize("role", ROLES)
def test_before_start_only_insiders_see_it(client, app, world, make_drill, role):
    drill, attachment = secret_drill(world, make_drill, at(days=2))
    check_outputs(client, app, world, drill, attachment, role, visible=role in INSIDERS)


@pytest.mark.parametrize("role", ROLES)
def test_after_start_everyone_in_scope_sees_it(client, app, world, make_drill, role):
    drill, attachment = secret_drill(world, make_drill, at(hours=-1))
    check_outputs(client, app, world, drill, attachment, role, visible=role in IN_SCOPE)


@pytest.mark.parametrize(
    "role, planned",
    [("participant", "0"), ("viewer", "0"), ("evaluator", "1"), ("coordinator", "1"), ("organiser", "1")],
)
def test_home_counts_leave_it_out(client, world, make_drill, role, planned):
    secret_drill(world, make_drill, at(days=2))
    sign_in(client, world["users"][role])
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'id="stat-planned">\s*' + planned + r"\s*<", html)


def test_anonymous_public_flag_does_not_reveal_it(app, world, make_drill):
    drill, _attachment = secret_drill(world, make_drill, at(days=2))
    drill.public = True
    db.session.commit()
    with app.test_request_context():
        assert drill not in db.session.scalars(sa.select(Drill).where(access.public_drill_clause())).all()


def test_upload_to_hidden_drill_is_404(client, world, make_drill):
    drill, _attachment = secret_drill(world, make_drill, at(days=2))
    headers = {"Authorization": f"Bearer {issue_kept_token(world['users']['participant'])}"}
    response = client.post(
        f"/api/v1/drills/{drill.id}/attachments",
        headers=headers,
        data={"file": (io.BytesIO(PDF), "x.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 404


# --- corrective actions of a secret drill (issue 10.2) --------------------------------------------


def secret_live_drill(world, make_drill, starts_at):
    """A double-blind comprehensive drill planned by 乌苏市 with the school taking part: it has a
    pre-drill checklist, whose "no" answers become corrective actions before the drill starts."""
    return make_drill(
        organizer=WUSU,
        title=TITLE,
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        double_blind=True,
        participants=[world["school"]],
        evaluators=[world["users"]["evaluator"]],
        starts_at=starts_at,
    )


def api(user) -> dict:
    return {"Authorization": f"Bearer {issue_kept_token(user)}", "Accept-Language": "en"}


def checklist_action(client, coordinator, drill, owner):
    """Runs the drill's checklist, answers the first item "no" and makes it an action owned by `owner`."""
    headers = api(coordinator)
    run = client.post("/api/v1/checklist-runs", json={"drill_id": drill.id}, headers=headers).get_json()
    items = [a["item_id"] for a in run["answers"]]
    client.post(
        f"/api/v1/checklist-runs/{run['id']}/answers",
        json={str(items[0]): {"answer": "no"}, str(items[1]): {"answer": "no"}},
        headers=headers,
    )
    return (
        run,
        items,
        client.post(
            f"/api/v1/checklist-runs/{run['id']}/items/{items[0]}/corrective-action",
            json={"category": "plan", "corrective_action": {"owner": owner.id}},
            headers=headers,
        ),
    )


def test_nobody_outside_a_secret_drill_is_offered_or_accepted_as_owner(client, world, make_drill):
    users = world["users"]
    drill = secret_live_drill(world, make_drill, at(days=1))
    run, items, refused = checklist_action(client, users["coordinator"], drill, users["participant"])
    assert refused.status_code == 422 and list(refused.get_json()["errors"]) == ["corrective_action.owner"]
    _run, _items, made = checklist_action(client, users["coordinator"], drill, users["coordinator"])
    assert made.status_code == 201
    finding_id = made.get_json()["id"]
    version = made.get_json()["version"]
    patch = client.patch(
        f"/api/v1/findings/{finding_id}",
        headers=api(users["coordinator"]),
        json={"corrective_action": {"owner": users["participant"].id}, "version": version},
    )
    assert patch.status_code == 422 and list(patch.get_json()["errors"]) == ["corrective_action.owner"]
    evaluator = client.patch(
        f"/api/v1/findings/{finding_id}",
        headers=api(users["coordinator"]),
        json={"corrective_action": {"owner": users["evaluator"].id}, "version": version},
    )
    assert evaluator.status_code == 200 and evaluator.get_json()["corrective_action"]["owner"] == users["evaluator"].id

    # The pick lists: the make-action form and the finding's own edit form.
    sign_in(client, users["coordinator"])
    for page in (
        client.get(f"/checklists/runs/{run['id']}/items/{items[1]}/action"),
        client.get(f"/findings/{finding_id}"),
    ):
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and f'value="{users["evaluator"].id}"' in html
        assert f'value="{users["participant"].id}"' not in html

    # Once the drill has started, the school's staff may own its actions like any other drill's.
    drill.starts_at = at(hours=-1)
    db.session.commit()
    version = evaluator.get_json()["version"]
    assert (
        client.patch(
            f"/api/v1/findings/{finding_id}",
            headers=api(users["coordinator"]),
            json={"corrective_action": {"owner": users["participant"].id}, "version": version},
        ).status_code
        == 200
    )


@pytest.fixture
def leaked(client, world, make_drill):
    """An action of a secret drill owned by a participant's staff member, as earlier versions allowed."""
    users = world["users"]
    drill = secret_live_drill(world, make_drill, at(days=1))
    _run, _items, made = checklist_action(client, users["coordinator"], drill, users["coordinator"])
    finding = db.session.get(Finding, made.get_json()["id"])
    finding.corrective_action.owner_id = users["participant"].id
    finding.corrective_action.due_on = local_day(1)
    db.session.commit()
    return drill, finding


def test_owning_an_action_never_reveals_a_secret_drill(app, client, world, leaked):
    drill, finding = leaked
    participant = world["users"]["participant"]
    listed = client.get("/api/v1/findings", headers=api(participant))
    assert listed.status_code == 200 and listed.get_json()["total"] == 0 and TITLE not in listed.get_data(as_text=True)
    mine = client.get("/api/v1/findings?mine=true", headers=api(participant)).get_json()
    assert mine["total"] == 0
    assert client.get(f"/api/v1/findings/{finding.id}", headers=api(participant)).status_code == 404
    assert client.get(f"/api/v1/findings/{finding.id}/evidence", headers=api(participant)).status_code == 404
    assert (
        client.patch(
            f"/api/v1/findings/{finding.id}",
            headers=api(participant),
            json={"corrective_action": {"status": "in_progress"}},
        ).status_code
        == 404
    )

    sign_in(client, participant)
    actions_page = client.get("/findings/actions?mine=1").get_data(as_text=True)
    assert TITLE not in actions_page and finding.summary not in actions_page
    assert client.get(f"/findings/{finding.id}").status_code == 404
    home = client.get("/").get_data(as_text=True)
    assert TITLE not in home and 'id="bell-count"' not in home
    assert re.search(r'id="stat-planned">\s*0\s*<', home)

    # Nothing tells them: neither the assignment nor the scheduler's due-date reminder.
    with app.test_request_context():
        notices.tell_assigned(world["users"]["coordinator"], finding)
        reminder_jobs.action_reminders(at())
        db.session.commit()
    told = db.session.scalars(sa.select(Notification).where(Notification.user_id == participant.id)).all()
    assert told == []
    assert client.get("/notifications/").get_data(as_text=True).count(TITLE) == 0

    # The drill has started: the owner sees their action and is reminded of it.
    drill.starts_at = at(hours=-1)
    db.session.commit()
    items = client.get("/api/v1/findings?mine=true", headers=api(participant)).get_json()["items"]
    assert [(i["id"], i["drill"]["title"]) for i in items] == [(finding.id, TITLE)]
    with app.test_request_context():
        reminder_jobs.action_reminders(at())
        db.session.commit()
    assert [
        n.kind for n in db.session.scalars(sa.select(Notification).where(Notification.user_id == participant.id))
    ] == ["action_due"]


def test_insiders_still_see_and_are_told_of_the_secret_action(app, client, world, leaked):
    _drill, finding = leaked
    for role in ("coordinator", "evaluator", "admin"):
        assert client.get(f"/api/v1/findings/{finding.id}", headers=api(world["users"][role])).status_code == 200
    finding.corrective_action.owner_id = world["users"]["evaluator"].id
    finding.version += 1
    db.session.commit()
    with app.test_request_context():
        notices.tell_assigned(world["users"]["coordinator"], finding)
        db.session.commit()
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Notification)
            .where(Notification.user_id == world["users"]["evaluator"].id)
        )
        == 1
    )


# --- the rule of a double-blind series -------------------------------------------------------------


def weekly_series(world, double_blind=True):
    with current_app.test_request_context():
        return create_series(
            world["users"]["coordinator"],
            {
                "title": TITLE,
                "form": "tabletop",
                "double_blind": double_blind,
                "organizer_region_code": WUSU,
                "participant_org_ids": [world["school"].id],
                "starts_at": at(hours=-1).isoformat(),
                "ends_at": at(hours=1).isoformat(),
                "rrule": "FREQ=WEEKLY;COUNT=4",
            },
        )


@pytest.mark.parametrize(
    "role, sees_rule", [("participant", False), ("viewer", False), ("coordinator", True), ("admin", True)]
)
def test_a_double_blind_series_keeps_its_rule_while_secret_dates_remain(client, world, role, sees_rule):
    series = weekly_series(world)
    occurrences = db.session.scalars(
        sa.select(Drill).where(Drill.series_id == series.id).order_by(Drill.starts_at)
    ).all()
    assert len(occurrences) == 4
    user = world["users"][role]
    body = client.get(f"/api/v1/drill-series/{series.id}", headers=api(user)).get_json()
    assert body["rrule"] == ("FREQ=WEEKLY;COUNT=4" if sees_rule else None)
    assert (body["materialized_until"] is None) == (not sees_rule)
    assert len(body["occurrences"]) == (4 if sees_rule else 1)
    sign_in(client, user)
    page = client.get(f"/drills/{occurrences[0].id}").get_data(as_text=True)
    assert ("FREQ=WEEKLY" in page) == sees_rule
    # Once every occurrence has started there is nothing left to give away.
    for number, drill in enumerate(occurrences):
        drill.starts_at, drill.ends_at = at(days=-number - 1), at(days=-number - 1, hours=1)
    db.session.commit()
    assert (
        client.get(f"/api/v1/drill-series/{series.id}", headers=api(user)).get_json()["rrule"] == "FREQ=WEEKLY;COUNT=4"
    )


def test_a_double_blind_series_beyond_its_horizon_stays_secret(client, world):
    series = weekly_series(world)
    series.rrule = "FREQ=WEEKLY"  # endless: occurrences are made a year ahead, more follow
    for drill in db.session.scalars(sa.select(Drill).where(Drill.series_id == series.id, Drill.starts_at > at())):
        drill.starts_at, drill.ends_at = at(days=-2), at(days=-2, hours=1)
    db.session.commit()
    participant = api(world["users"]["participant"])
    assert client.get(f"/api/v1/drill-series/{series.id}", headers=participant).get_json()["rrule"] is None


def test_an_ordinary_series_shows_its_rule(client, world):
    series = weekly_series(world, double_blind=False)
    body = client.get(f"/api/v1/drill-series/{series.id}", headers=api(world["users"]["participant"])).get_json()
    assert body["rrule"] == "FREQ=WEEKLY;COUNT=4" and len(body["occurrences"]) == 4


def test_whether_a_drill_is_still_secret_is_read_from_the_partial_index(make_drill):
    """The planners use a partial index only where the query states its condition as the index does: the
    secret clause must keep doing so (with `double_blind` written bare, PostgreSQL scanned 5 million drills)."""
    make_drill(double_blind=True, starts_at=at(days=3))
    question = sa.select(sa.exists().where(access.secret_clause(at())))
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # the few test rows: any plan would do
    compiled = question.compile(connection, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    plan = " ".join(str(row) for row in connection.exec_driver_sql(prefix + str(compiled)))
    assert "ix_drills_double_blind_starts_at" in plan
    assert db.session.scalar(question) is True
    assert db.session.scalar(sa.select(sa.exists().where(access.secret_clause(at(days=4))))) is False
