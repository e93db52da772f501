import io

import pytest
import sqlalchemy as sa
from flask import render_template_string
from tests.conftest import SHAWAN, WUSU, at, login

from drillmgr.checklists import services
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate
from drillmgr.enums import Answer, DrillForm, DrillScope, OrgKind, Role
from drillmgr.extensions import db
from drillmgr.findings.models import Finding

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _request(app, _transaction):
    """Services called directly from a test translate their messages too."""
    with app.test_request_context():
        yield


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_staff_run_their_readiness_checklist_from_the_unit_page(client, make_org, make_user):
    school = make_org(kind=OrgKind.SCHOOL)
    staff = make_user(org=school)
    login(client, staff)
    page = client.get(f"/orgs/{school.id}").get_data(as_text=True)
    assert "readiness-panel" in page and f"/checklists/orgs/{school.id}/start" in page
    response = client.post(f"/checklists/orgs/{school.id}/start")
    assert response.status_code == 302
    run = db.session.scalar(sa.select(ChecklistRun))
    lines = services.run_lines(run)
    data = {f"answer-{line.item.id}": "yes" for line in lines}
    data[f"answer-{lines[0].item.id}"] = "no"
    data[f"note-{lines[0].item.id}"] = "路线图未更新"
    data[f"photo-{lines[1].item.id}"] = (io.BytesIO(PNG), "出口.png")
    data["complete"] = "1"
    response = client.post(f"/checklists/runs/{run.id}", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    assert run.completed_at is not None
    photo_id = services.run_lines(run)[1].answer.photo_id
    assert client.get(f"/checklists/photos/{photo_id}").data == PNG
    page = client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    assert "路线图未更新" in page and f"/checklists/runs/{run.id}/items/{lines[0].item.id}/action" in page
    response = client.post(f"/checklists/runs/{run.id}/items/{lines[0].item.id}/action")
    assert response.status_code == 302 and count(Finding) == 1
    page = client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    assert "text-bg-info" in page and f"/items/{lines[0].item.id}/action" not in page
    unit_page = client.get(f"/orgs/{school.id}").get_data(as_text=True)
    assert "badge text-bg-success" in unit_page


def test_incomplete_run_cannot_be_completed_and_keeps_input(client, make_org, make_user):
    school = make_org()
    staff = make_user(org=school)
    login(client, staff)
    client.post(f"/checklists/orgs/{school.id}/start")
    run = db.session.scalar(sa.select(ChecklistRun))
    first = services.run_lines(run)[0].item.id
    response = client.post(f"/checklists/runs/{run.id}", data={f"answer-{first}": "yes", "complete": "1",
                                                               f"note-{first}": "已检查"})
    assert response.status_code == 200
    assert run.completed_at is None
    bad = client.post(f"/checklists/runs/{run.id}", data={f"answer-{first}": "perhaps"})
    assert bad.status_code == 200 and "invalid-feedback" in bad.get_data(as_text=True)


def test_other_units_and_viewers(client, make_org, make_user):
    school = make_org()
    staff = make_user(org=school)
    run = services.start_readiness_run(staff, school)
    login(client, make_user(org=make_org()))
    assert client.get(f"/checklists/runs/{run.id}").status_code == 404
    assert client.post(f"/checklists/orgs/{school.id}/start").status_code == 404
    client.post("/logout")
    login(client, make_user(role=Role.VIEWER, region_code=WUSU))
    assert client.get(f"/checklists/runs/{run.id}").status_code == 200
    assert client.post(f"/checklists/runs/{run.id}", data={}).status_code == 403
    client.post("/logout")
    login(client, make_user(role=Role.COORDINATOR, region_code=SHAWAN))
    assert client.get(f"/checklists/runs/{run.id}").status_code == 404


def test_drill_panel_shows_progress(app, client, make_user, make_drill):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    drill = make_drill(organizer=WUSU, form=DrillForm.LIVE, scope=DrillScope.COMPREHENSIVE, starts_at=at(days=9))
    login(client, coordinator)
    with app.test_request_context():
        from flask_login import login_user

        login_user(coordinator)
        html = render_template_string('{% include "checklists/_drill_panel.html" %}', drill=drill)
        assert "pre-drill-checklist" in html and f"/checklists/drills/{drill.id}/start" in html
        run = services.start_drill_run(coordinator, drill)
        first = services.run_lines(run)[0].item.id
        services.save_answers(coordinator, run, {str(first): {"answer": Answer.NO.value}})
        html = render_template_string('{% include "checklists/_drill_panel.html" %}', drill=drill)
        assert f"/checklists/runs/{run.id}" in html
        assert 'aria-valuenow="7"' in html and "bg-warning" in html  # 1 of 14 answered, and it is a "no"
    tabletop = make_drill(organizer=WUSU, form=DrillForm.TABLETOP)
    with app.test_request_context():
        from flask_login import login_user

        login_user(coordinator)
        assert "pre-drill-checklist" not in render_template_string(
            '{% include "checklists/_drill_panel.html" %}', drill=tabletop)
    response = client.post(f"/checklists/drills/{drill.id}/start")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/checklists/runs/{run.id}")


def test_admin_edits_template_items(client, make_user):
    admin = make_user(role=Role.ADMIN)
    login(client, admin)
    assert client.get("/checklists/templates").status_code == 200
    template = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.org_kind == OrgKind.SCHOOL))
    first, second = template.items[0], template.items[1]
    client.post(f"/checklists/templates/{template.id}/items", data={"text": "应急照明每月测试"})
    assert template.items[-1].text == "应急照明每月测试"
    client.post(f"/checklists/templates/{template.id}/items/{second.id}/move", data={"direction": "up"})
    db.session.expire_all()
    assert [i.id for i in template.items[:2]] == [second.id, first.id]
    client.post(f"/checklists/templates/{template.id}/items/{first.id}", data={"active": "0"})
    assert first.active is False
    page = client.get(f"/checklists/templates/{template.id}").get_data(as_text=True)
    assert "应急照明每月测试" in page
    response = client.post("/checklists/templates/new", data={"name": "重复的学校清单", "org_kind": "school",
                                                             "drill_form": "", "drill_scope": "", "active": "y"})
    assert response.status_code == 200 and "invalid-feedback" in response.get_data(as_text=True)
    response = client.post("/checklists/templates/new", data={"name": "避险疏散演练前检查", "drill_form": "evacuation",
                                                             "drill_scope": "", "org_kind": "", "active": "y"})
    assert response.status_code == 302


def test_only_admins_edit_templates(client, make_user):
    login(client, make_user(role=Role.COORDINATOR))
    template = services.all_templates()[0]
    assert client.get("/checklists/templates/new").status_code == 403
    assert client.post(f"/checklists/templates/{template.id}/items", data={"text": "x"}).status_code == 403
    assert client.post(f"/checklists/templates/{template.id}", data={"name": "x"}).status_code == 403
    assert client.get(f"/checklists/templates/{template.id}").status_code == 200


def test_overview_pages(client, make_user, make_org):
    login(client, make_user(role=Role.VIEWER, region_code="654200"))
    page = client.get("/checklists/").get_data(as_text=True)
    assert "readiness-summary" in page and "乌苏市" in page
    client.post("/logout")
    school = make_org()
    login(client, make_user(org=school))
    page = client.get("/checklists/").get_data(as_text=True)
    assert "readiness-panel" in page and "readiness-summary" not in page


def test_drill_page_includes_the_panel(client, make_user, make_drill):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    live = make_drill(organizer=WUSU, form=DrillForm.LIVE, scope=DrillScope.COMPREHENSIVE, starts_at=at(days=9))
    evacuation = make_drill(organizer=WUSU, form=DrillForm.EVACUATION, starts_at=at(days=9))
    login(client, coordinator)
    assert "pre-drill-checklist" in client.get(f"/drills/{live.id}").get_data(as_text=True)
    assert "pre-drill-checklist" not in client.get(f"/drills/{evacuation.id}").get_data(as_text=True)
    run_page = client.get(client.post(f"/checklists/drills/{live.id}/start").headers["Location"])
    assert run_page.status_code == 200 and f'href="/drills/{live.id}"' in run_page.get_data(as_text=True)


def test_readiness_partial_for_the_compliance_dashboard(app, make_user):
    from flask_login import login_user

    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    with app.test_request_context():
        login_user(coordinator)
        partial = '{% include "checklists/_readiness_summary.html" %}'
        assert "readiness-summary" in render_template_string(partial, region_code=WUSU)
        assert "readiness-summary" not in render_template_string(partial, region_code=SHAWAN)
