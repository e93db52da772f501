"""A double-blind drill never leaks before it starts: through every output the drills feature has,
for every kind of user. After its start, everyone in scope sees it again."""
import hashlib
import io
import re
from zoneinfo import ZoneInfo

import pytest

from drillmgr.accounts.services import issue_token
from drillmgr.attachments import services as attachments
from drillmgr.attachments.models import Attachment
from drillmgr.drills import services
from drillmgr.enums import OrgKind, Role
from drillmgr.extensions import db
from tests.conftest import TACHENG_CITY, WUSU, at

TITLE = "双盲桌面推演X"
PDF = b"%PDF-1.7\n%test\n"
ROLES = ["admin", "coordinator", "other_coordinator", "organiser", "participant", "evaluator", "viewer",
         "stranger"]
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
    drill = make_drill(organizer=world["township"], title=TITLE, form="tabletop", double_blind=True,
                       participants=[world["school"]], evaluators=[world["users"]["evaluator"]],
                       starts_at=starts_at)
    attachment = Attachment(drill_id=drill.id, kind="plan", filename="脚本.pdf", stored_name=f"db{drill.id}",
                            content_type="application/pdf", size=len(PDF), sha256=hashlib.sha256(PDF).hexdigest())
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
    headers = {"Authorization": f"Bearer {issue_token(user)}"}
    school = world["school"]
    local = drill.starts_at.astimezone(ZoneInfo("Asia/Shanghai"))

    # API list, with and without each filter, and the detail, files and file download.
    for query in ("", f"?org={school.id}", f"?org={world['township'].id}", f"?region={WUSU}", "?form=tabletop",
                  "?status=planned", f"?from={local.date()}&to={local.date()}"):
        body = client.get(f"/api/v1/drills{query}", headers=headers).get_json()
        ids = {item["id"] for item in body["items"]}
        assert (drill.id in ids) == visible, (role, query)
        assert all(item["title"] != TITLE for item in body["items"]) or visible
    assert client.get(f"/api/v1/drills/{drill.id}", headers=headers).status_code == (200 if visible else 404)
    assert client.get(f"/api/v1/drills/{drill.id}/attachments", headers=headers).status_code == \
        (200 if visible else 404)
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
        assert (drill in db.session.scalars(services.drill_query(user)).all()) == visible


@pytest.mark.parametrize("role", ROLES)
def test_before_start_only_insiders_see_it(client, app, world, make_drill, role):
    drill, attachment = secret_drill(world, make_drill, at(days=2))
    check_outputs(client, app, world, drill, attachment, role, visible=role in INSIDERS)


@pytest.mark.parametrize("role", ROLES)
def test_after_start_everyone_in_scope_sees_it(client, app, world, make_drill, role):
    drill, attachment = secret_drill(world, make_drill, at(hours=-1))
    check_outputs(client, app, world, drill, attachment, role, visible=role in IN_SCOPE)


@pytest.mark.parametrize("role, planned", [("participant", "0"), ("viewer", "0"), ("evaluator", "1"),
                                           ("coordinator", "1"), ("organiser", "1")])
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
        assert drill not in db.session.scalars(services.drill_query(None)).all()


def test_upload_to_hidden_drill_is_404(client, world, make_drill):
    drill, _attachment = secret_drill(world, make_drill, at(days=2))
    headers = {"Authorization": f"Bearer {issue_token(world['users']['participant'])}"}
    response = client.post(f"/api/v1/drills/{drill.id}/attachments", headers=headers,
                           data={"file": (io.BytesIO(PDF), "x.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 404
