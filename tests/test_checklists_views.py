import io

import pytest
import sqlalchemy as sa
from flask import render_template_string
from tests.conftest import SHAWAN, WUSU, at, local_day, login

from drillmgr.checklists import runs, templates
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
    lines = runs.run_lines(run)
    data = {f"answer-{line.item.id}": "yes" for line in lines}
    data[f"answer-{lines[0].item.id}"] = "no"
    data[f"note-{lines[0].item.id}"] = "路线图未更新"
    data[f"photo-{lines[1].item.id}"] = (io.BytesIO(PNG), "出口.png")
    data["complete"] = "1"
    response = client.post(f"/checklists/runs/{run.id}", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    assert run.completed_at is not None
    photo_id = runs.run_lines(run)[1].answer.photo_id
    assert client.get(f"/checklists/photos/{photo_id}").data == PNG
    page = client.get(f"/checklists/runs/{run.id}").get_data(as_text=True)
    assert "路线图未更新" in page and f"/checklists/runs/{run.id}/items/{lines[0].item.id}/action" in page
    form_url = f"/checklists/runs/{run.id}/items/{lines[0].item.id}/action"
    form_page = client.get(form_url).get_data(as_text=True)
    assert "疏散路线图未在各楼层、教室张贴，或与实际路线不一致" in form_page and "路线图未更新" in form_page
    response = client.post(
        form_url,
        data={
            "summary": "二楼路线图未更新",
            "severity": "minor",
            "category": "facility",
            "description": "更新二楼路线图",
            "owner_id": str(staff.id),
            "due_on": local_day(10).isoformat(),
        },
    )
    assert response.status_code == 302 and count(Finding) == 1
    finding = db.session.scalar(sa.select(Finding))
    assert (finding.summary, finding.category.value, finding.corrective_action.owner_id) == (
        "二楼路线图未更新",
        "facility",
        staff.id,
    )
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
    first = runs.run_lines(run)[0].item.id
    response = client.post(
        f"/checklists/runs/{run.id}", data={f"answer-{first}": "yes", "complete": "1", f"note-{first}": "已检查"}
    )
    assert response.status_code == 200
    assert run.completed_at is None
    bad = client.post(f"/checklists/runs/{run.id}", data={f"answer-{first}": "perhaps"})
    assert bad.status_code == 200 and "invalid-feedback" in bad.get_data(as_text=True)


def test_other_units_and_viewers(client, make_org, make_user):
    school = make_org()
    staff = make_user(org=school)
    run = runs.start_readiness_run(staff, school)
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
        run = runs.start_drill_run(coordinator, drill)
        first = runs.run_lines(run)[0].item.id
        runs.save_answers(coordinator, run, {str(first): {"answer": Answer.NO.value}})
        html = render_template_string('{% include "checklists/_drill_panel.html" %}', drill=drill)
        assert f"/checklists/runs/{run.id}" in html
        assert 'aria-valuenow="7"' in html and "bg-warning" in html  # 1 of 14 answered, and it is a "no"
    tabletop = make_drill(organizer=WUSU, form=DrillForm.TABLETOP)
    with app.test_request_context():
        from flask_login import login_user

        login_user(coordinator)
        assert "pre-drill-checklist" not in render_template_string(
            '{% include "checklists/_drill_panel.html" %}', drill=tabletop
        )
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
    response = client.post(
        "/checklists/templates/new",
        data={"name": "重复的学校清单", "org_kind": "school", "drill_form": "", "drill_scope": "", "active": "y"},
    )
    assert response.status_code == 200 and "invalid-feedback" in response.get_data(as_text=True)
    response = client.post(
        "/checklists/templates/new",
        data={
            "name": "避险疏散演练前检查",
            "drill_form": "evacuation",
            "drill_scope": "",
            "org_kind": "",
            "active": "y",
        },
    )
    assert response.status_code == 302


def test_only_admins_edit_templates(client, make_user):
    login(client, make_user(role=Role.COORDINATOR))
    template = templates.all_templates()[0]
    db.session.commit()  # the shipped defaults, created on first need; a refused request rolls back its own unit
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


def test_make_action_form_asks_for_category_and_owner_and_keeps_other_answers(client, make_org, make_user):
    school = make_org(kind=OrgKind.SCHOOL)
    staff = make_user(org=school)
    run = runs.start_readiness_run(staff, school)
    lines = runs.run_lines(run)
    runs.save_answers(
        staff,
        run,
        {str(lines[4].item.id): {"answer": "no", "note": "班主任不清楚"}},
        photos={lines[4].item.id: (io.BytesIO(PNG), "点名.png")},
    )
    photo_id = runs.run_lines(run)[4].answer.photo_id
    login(client, staff)
    # Clicking the button on an open run saves what was typed on the other items first.
    response = client.post(
        f"/checklists/runs/{run.id}",
        data={
            f"answer-{lines[0].item.id}": "yes",
            f"note-{lines[0].item.id}": "已张贴",
            "action_item": str(lines[4].item.id),
        },
    )
    form_url = f"/checklists/runs/{run.id}/items/{lines[4].item.id}/action"
    assert response.status_code == 302 and response.headers["Location"].endswith(form_url)
    assert runs.run_lines(run)[0].answer.note == "已张贴"
    page = client.get(form_url).get_data(as_text=True)
    assert "清点人数方法未明确" in page and "清点人数方法已明确" in page  # the draft, beside the item itself
    assert f"/checklists/photos/{photo_id}" in page
    assert '<option selected value="">' in page.replace('<option value="" selected>', '<option selected value="">')
    refused = client.post(
        form_url,
        data={
            "summary": "清点人数方法未明确",
            "severity": "major",
            "category": "",
            "description": "明确点名方法",
            "owner_id": "",
            "due_on": local_day(10).isoformat(),
        },
    )
    assert refused.status_code == 422 and count(Finding) == 0
    response = client.post(
        form_url,
        data={
            "summary": "清点人数方法未明确",
            "severity": "major",
            "category": "training",
            "description": "明确点名方法",
            "owner_id": str(staff.id),
            "due_on": local_day(10).isoformat(),
        },
    )
    assert response.status_code == 302
    finding = db.session.scalar(sa.select(Finding))
    assert finding.category.value == "training" and finding.summary == "清点人数方法未明确"
    # The checklist's photo is the action's first evidence, on its page.
    page = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    assert f"/attachments/{photo_id}" in page
    assert client.get(f"/attachments/{photo_id}").data == PNG
