"""Drill day: the phone's context, the one-time submission (planned and unplanned drills, photos, repeats,
conflicts), and a shell and service worker that hold nothing of a user."""

import io
import json
import uuid
from datetime import timedelta

import pytest

from drillmgr.attachments.models import Attachment
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.extensions import db
from drillmgr.orgs import services as orgs
from tests.conftest import TACHENG_CITY, WUSU, at, login

pytestmark = pytest.mark.usefixtures("english")
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00"
    b"\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def world(make_org, make_user, make_drill, app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU, headcount=100)
    staff = make_user(role=Role.ORG_STAFF, org=school, display_name="王老师")
    one, two = orgs.set_groups(staff, school, [{"name": "一班", "expected": 30}, {"name": "二班", "expected": 28}])
    drill = make_drill(organizer=school, starts_at=at(hours=-0.5), minutes=60, title="今天的疏散演练")
    make_drill(organizer=school, starts_at=at(days=3), title="下周的演练")
    make_drill(organizer=make_org(region_code=TACHENG_CITY), starts_at=at(hours=-0.5), title="别的单位")
    return {"school": school, "staff": staff, "groups": (one, two), "drill": drill}


def record(world, **fields) -> str:
    one, two = world["groups"]
    start = at(hours=-0.25)
    data = {
        "drill_id": world["drill"].id,
        "version": world["drill"].version,
        "started_at": start.isoformat(),
        "cleared_at": (start + timedelta(seconds=97.6)).isoformat(),
        "groups": [
            {"group_id": one.id, "present": 30, "missing": 0},
            {"group_id": two.id, "present": 27, "missing": 1},
        ],
        "notes": "二班一人未到，后在厕所找到",
    }
    return json.dumps(data | fields)


def send(client, world, key=None, photos=(), **fields):
    token = client.get("/day/context").get_json()["csrf_token"]
    return client.post(
        "/day/submit",
        headers={"Idempotency-Key": key or str(uuid.uuid4()), "X-CSRFToken": token},
        data={"record": record(world, **fields), "photos": [(io.BytesIO(content), name) for name, content in photos]},
        content_type="multipart/form-data",
    )


def test_context_holds_the_units_groups_and_todays_drills(client, world):
    login(client, world["staff"])
    context = client.get("/day/context").get_json()
    assert context["user"] == {"id": world["staff"].id, "name": "王老师", "role": "单位工作人员"}
    assert [(g["name"], g["expected"]) for g in context["groups"]] == [("一班", 30), ("二班", 28)]
    assert [d["title"] for d in context["drills"]] == ["今天的疏散演练"]
    assert context["csrf_token"]


def test_submission_completes_the_drill_once_with_time_groups_notes_and_photos(client, world):
    login(client, world["staff"])
    key = str(uuid.uuid4())
    first = send(client, world, key, photos=[("a.png", PNG), ("b.png", PNG)])
    assert first.status_code == 201, first.get_json()
    again = send(client, world, key, photos=[("a.png", PNG), ("b.png", PNG)])
    assert again.status_code == 200 and again.get_json()["applied"] is False
    db.session.expire_all()
    drill = db.session.get(Drill, world["drill"].id)
    part = drill.participation
    assert drill.status == DrillStatus.COMPLETED and drill.version == 2
    assert (part.evacuation_seconds, part.students, part.notes) == (97, 57, "二班一人未到，后在厕所找到")
    assert [(g.name, g.present, g.missing) for g in part.groups] == [("一班", 30, 0), ("二班", 27, 1)]
    assert db.session.query(Attachment).filter_by(drill_id=drill.id).count() == 2
    page = client.get(f"/drills/{drill.id}").get_data(as_text=True)
    assert 'id="participation-groups"' in page and "二班" in page


def test_a_drill_changed_meanwhile_is_a_conflict_with_the_drill_as_it_is(client, world):
    login(client, world["staff"])
    answer = send(client, world, version=world["drill"].version + 5)
    assert answer.status_code == 409
    assert answer.get_json()["current"]["version"] == world["drill"].version
    assert db.session.get(Drill, world["drill"].id).status == DrillStatus.PLANNED


def test_an_unplanned_drill_is_created_completed(client, world):
    login(client, world["staff"])
    answer = send(client, world, drill_id=None, version=None)
    assert answer.status_code == 201, answer.get_json()
    drill = db.session.get(Drill, answer.get_json()["drill_id"])
    assert drill.status == DrillStatus.COMPLETED and drill.organizer_org_id == world["school"].id
    assert drill.participation.evacuation_seconds == 97 and drill.participation.students == 57


@pytest.mark.parametrize(
    "fields, photos, field",
    [
        ({"cleared_at": at(hours=-1).isoformat()}, (), "cleared_at"),
        ({"groups": [{"group_id": 2**31, "present": 1}]}, (), "participation.groups.0.group_id"),
        ({"notes": "x\x00"}, (), "notes"),
        ({}, (("plan.pdf", b"%PDF-1.4\n%%EOF\n"),), "photos"),
        ({}, (("fake.png", b"not a png"),), "file"),
    ],
)
def test_a_bad_record_changes_nothing_and_leaves_the_key_unused(client, world, fields, photos, field):
    login(client, world["staff"])
    key = str(uuid.uuid4())
    answer = send(client, world, key, photos=photos, **fields)
    assert answer.status_code == 422 and field in answer.get_json()["errors"], answer.get_json()
    assert db.session.get(Drill, world["drill"].id).status == DrillStatus.PLANNED
    assert send(client, world, key).status_code == 201


def test_keys_are_checked_and_not_shared_between_users(client, world, make_user):
    login(client, world["staff"])
    assert send(client, world, key="short").status_code == 422
    key = str(uuid.uuid4())
    assert send(client, world, key).status_code == 201
    client.post("/logout")
    colleague = make_user(role=Role.ORG_STAFF, org=world["school"])
    login(client, colleague)
    assert send(client, world, key).status_code == 409


def test_the_pruning_job_forgets_drill_day_keys_after_their_lifetime(client, world):
    from drillmgr.drillday.models import DrilldaySubmission
    from drillmgr.drillday.services import KEY_LIFETIME
    from drillmgr.scheduler.jobs import JOBS

    login(client, world["staff"])
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    assert send(client, world, old).status_code == 201
    assert send(client, world, new, drill_id=None).status_code == 201
    db.session.get(DrilldaySubmission, old).created_at = at(days=-KEY_LIFETIME.days, hours=-1)
    db.session.commit()
    assert " 1 " in JOBS["prune_idempotency_keys"](at())
    db.session.expire_all()
    assert db.session.get(DrilldaySubmission, old) is None and db.session.get(DrilldaySubmission, new) is not None


def test_the_shell_and_worker_hold_nothing_of_the_user(client, world):
    login(client, world["staff"])
    shell = client.get("/day").get_data(as_text=True)
    assert "王老师" not in shell and world["staff"].username not in shell and world["school"].name not in shell
    worker = client.get("/sw.js")
    assert worker.headers["Service-Worker-Allowed"] == "/" and "no-cache" in worker.headers["Cache-Control"]
    assert client.get("/day/context").headers["Cache-Control"] == "no-store"
    assert client.get(f"/drills/{world['drill'].id}/day").status_code == 200
    home = client.get("/").get_data(as_text=True)
    assert 'id="drill-now"' in home


def test_drill_page_opens_drill_day_for_the_units_staff_on_the_day(client, app, world, make_user):
    later = db.session.query(Drill).filter_by(title="下周的演练").one()
    login(client, world["staff"])
    today = client.get(f"/drills/{world['drill'].id}").get_data(as_text=True)
    assert f'href="/drills/{world["drill"].id}/day" id="drill-day"' in today
    assert 'id="drill-day"' not in client.get(f"/drills/{later.id}").get_data(as_text=True)
    assert client.get(f"/drills/{world['drill'].id}/day").status_code == 200
    coordinator, other = make_user(role=Role.COORDINATOR, region_code=WUSU), app.test_client()
    login(other, coordinator)
    # A coordinator may edit the drill but keeps no unit's groups on a phone: no drill-day button.
    page = other.get(f"/drills/{world['drill'].id}").get_data(as_text=True)
    assert 'id="edit-drill"' in page and 'id="drill-day"' not in page
