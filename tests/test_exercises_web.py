"""Exercise pages: Chinese by default, forms that change what they say, the players' screen and its poll that
show nothing before the start, and the public feedback form."""

import io

import pytest

from drillmgr.exercises.conduct import release_inject, respond
from drillmgr.exercises.evaluations import evaluations
from drillmgr.exercises.feedback import feedback_summary
from drillmgr.exercises.injects import add_inject, injects
from drillmgr.exercises.msel import msel_xlsx
from drillmgr.exercises.objective_templates import templates
from drillmgr.exercises.objectives import add_objective
from drillmgr.exercises.sessions import end_session, start_session
from drillmgr.exercises.models import Objective
from drillmgr.extensions import db
from tests.conftest import login
from tests.exercises_world import inject_data, objective_data, world  # noqa: F401 — fixture


def _designed(world):
    objective = add_objective(world.organiser, world.drill, objective_data())
    for k in range(2):
        add_inject(world.organiser, world.drill, inject_data(5 * k, objective_id=objective.id))
    return objective


def test_design_page_in_chinese_adds_objective_from_template(client, world):
    login(client, world.organiser)
    page = client.get(f"/exercises/drills/{world.drill.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "演练目标" in html and "情景事件清单" in html and "现场指挥部" in html
    template = next(t for t in templates() if t.focus.value == "medical")
    answer = client.post(
        f"/exercises/drills/{world.drill.id}/objectives",
        data={"template_id": str(template.id), "text": "", "plan": "医疗救护预案"},
    )
    assert answer.status_code == 303
    objective = db.session.scalar(db.select(Objective).where(Objective.drill_id == world.drill.id))
    assert (objective.text, objective.focus, objective.plan) == (template.text, ["medical"], "医疗救护预案")
    bad = client.post(
        f"/exercises/drills/{world.drill.id}/injects",
        data={"offset_minutes": "-3", "message": "x"},
        follow_redirects=True,
    )
    assert "开始后分钟: 不能小于 0" in bad.get_data(as_text=True) and injects(world.drill) == []


def test_msel_upload_and_download_on_the_page(client, world):
    _designed(world)
    login(client, world.organiser)
    sheet = client.get(f"/exercises/drills/{world.drill.id}/msel.xlsx")
    assert sheet.status_code == 200 and sheet.data[:2] == b"PK"
    page = client.post(
        f"/exercises/drills/{world.drill.id}/msel",
        data={"file": (io.BytesIO(b"junk"), "m.xlsx")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Excel" in page.get_data(as_text=True) and len(injects(world.drill)) == 2
    client.post(
        f"/exercises/drills/{world.drill.id}/msel",
        data={"file": (io.BytesIO(sheet.data), "m.xlsx")},
        content_type="multipart/form-data",
    )
    assert [i.offset_minutes for i in injects(world.drill)] == [0, 5]


@pytest.mark.parametrize("who", ["player", "viewer", "outsider", "other_coordinator"])
def test_nothing_of_the_exercise_before_the_start(client, world, who):
    _designed(world)
    login(client, getattr(world, who))
    for url in (
        f"/exercises/drills/{world.drill.id}",
        f"/exercises/drills/{world.drill.id}/play",
        f"/exercises/drills/{world.drill.id}/live.json",
        f"/exercises/drills/{world.drill.id}/console",
        f"/exercises/drills/{world.drill.id}/report",
        f"/exercises/drills/{world.drill.id}/msel.xlsx",
        f"/drills/{world.drill.id}",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "余震" not in response.get_data(as_text=True)


def test_player_screen_after_the_start_polls_released_injects(client, world):
    _designed(world)
    login(client, world.organiser)
    assert client.post(f"/exercises/drills/{world.drill.id}/session/start", data={}).status_code == 303
    first = injects(world.drill)[0]
    assert client.post(f"/exercises/injects/{first.id}/release").status_code == 200
    client.post("/logout")
    login(client, world.player)
    page = client.get(f"/exercises/drills/{world.drill.id}/play")
    assert page.status_code == 200 and "进行中" in page.get_data(as_text=True)
    state = client.get(f"/exercises/drills/{world.drill.id}/live.json").get_json()
    assert [i["message"] for i in state["injects"]] == ["第0分钟：余震发生"]
    assert "expected_action" not in state["injects"][0]
    tick = state["session"]["tick"]
    assert client.get(f"/exercises/drills/{world.drill.id}/live.json?tick={tick}").status_code == 204
    answer = client.post(f"/exercises/injects/{first.id}/respond", data={"decision": "启动照明"})
    assert answer.status_code == 201
    assert client.post(f"/exercises/injects/{first.id}/respond", data={"decision": "再次"}).status_code == 409
    hidden = injects(world.drill)[1]
    assert client.post(f"/exercises/injects/{hidden.id}/respond", data={"decision": "偷看"}).status_code == 404
    assert client.get(f"/exercises/drills/{world.drill.id}/console").status_code == 404


def test_evaluation_report_and_public_feedback(client, world):
    objective = _designed(world)
    start_session(world.organiser, world.drill)
    first = injects(world.drill)[0]
    release_inject(world.organiser, first)
    respond(world.player, first, {"decision": "收到"})
    login(client, world.evaluator)
    page = client.get(f"/exercises/drills/{world.drill.id}/evaluate")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "P：顺利完成" in html
    assert "inject-times" in html and "1条回应" in html and "首次回应" in html
    client.post(
        f"/exercises/drills/{world.drill.id}/evaluate",
        data={"objective_id": str(objective.id), "rating": "S", "observations": "通信慢", "version": "0"},
    )
    assert evaluations(world.drill)[0].rating.value == "S"
    report = client.get(f"/exercises/drills/{world.drill.id}/report").get_data(as_text=True)
    assert "演练评估报告" in report and "S：完成但存在一些问题" in report
    assert client.get(f"/exercises/drills/{world.drill.id}/report.docx").data[:2] == b"PK"
    end_session(world.organiser, world.drill)
    client.post("/logout")
    login(client, world.organiser)
    links = client.post(f"/exercises/drills/{world.drill.id}/feedback-links", data={"count": "1"})
    link = links.get_data(as_text=True).split("/exercises/feedback/")[1].split("<")[0]
    client.post("/logout")
    anonymous = client.get(f"/exercises/feedback/{link}")
    assert anonymous.status_code == 200 and "演练反馈" in anonymous.get_data(as_text=True)
    sent = client.post(f"/exercises/feedback/{link}", data={"overall": "5", "realism": "4", "strengths": "好"})
    assert "谢谢" in sent.get_data(as_text=True)
    assert feedback_summary(world.drill)["count"] == 1
    again = client.post(f"/exercises/feedback/{link}", data={"overall": "1", "realism": "1"})
    assert "谢谢" in again.get_data(as_text=True) and feedback_summary(world.drill)["overall_mean"] == 5
    assert client.get("/exercises/feedback/forged-token").status_code == 404


def test_templates_page_admin_edits_others_read(client, world):
    login(client, world.coordinator)
    page = client.get("/exercises/templates")
    assert page.status_code == 200 and "演练目标模板" in page.get_data(as_text=True)
    assert client.post("/exercises/templates", data={"focus": "medical", "text": "x"}).status_code == 403
    client.post("/logout")
    login(client, world.admin)
    client.post("/exercises/templates", data={"focus": "medical", "text": "2小时内转运重伤员", "active": "on"})
    assert any(t.text == "2小时内转运重伤员" for t in templates())


def test_english_pages(client, world):
    login(client, world.organiser)
    client.post("/language", data={"lang": "en", "next": "/"})
    html = client.get(f"/exercises/drills/{world.drill.id}").get_data(as_text=True)
    assert "Scenario injects (MSEL)" in html


def test_drill_page_panel_shows_links_planned_and_the_console_only_to_insiders(client, world):
    _designed(world)
    login(client, world.organiser)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert "导调台" in html and "exercise-coverage" in html and "已列入目标" in html and "无目标" in html
    start_session(world.organiser, world.drill)
    client.post("/logout")
    login(client, world.player)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert "参演人员界面" in html and "导调台" not in html and "exercise-coverage" not in html


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_inject_map_reaches_players_only_with_its_release(client, world, app, tmp_path):
    _designed(world)
    first = injects(world.drill)[0]
    login(client, world.organiser)
    refused = client.post(
        f"/exercises/injects/{first.id}/attachment",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(msel_xlsx(world.drill)), "plan.xlsx")},
        follow_redirects=True,
    )
    assert first.attachment_id is None and "JPEG" in refused.get_data(as_text=True)
    client.post(
        f"/exercises/injects/{first.id}/attachment",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(PNG), "震中地图.png")},
    )
    db.session.refresh(first)
    assert first.attachment.filename == "震中地图.png" and first.attachment.drill_id is None
    assert client.get(f"/exercises/injects/{first.id}/attachment").data == PNG
    assert client.get(f"/attachments/{first.attachment_id}").status_code == 404  # never a drill file
    start_session(world.organiser, world.drill)
    client.post("/logout")
    login(client, world.player)
    assert client.get(f"/exercises/injects/{first.id}/attachment").status_code == 404  # not released yet
    release_inject(world.organiser, first)
    shown = client.get(f"/exercises/injects/{first.id}/attachment")
    assert shown.status_code == 200 and shown.data == PNG and shown.headers["Content-Security-Policy"] == "sandbox"
    state = client.get(f"/exercises/drills/{world.drill.id}/live.json").get_json()
    assert state["injects"][0]["attachment"]["filename"] == "震中地图.png"
