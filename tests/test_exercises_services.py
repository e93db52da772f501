"""Exercise services: objectives and templates, the MSEL and its XLSX, the live session, responses,
evaluations, feedback and the after-action report — values, hostile input, and the double-blind rule."""

import io
from datetime import timedelta

import pytest
from openpyxl import Workbook, load_workbook

from drillmgr.access import services as access
from drillmgr.db import utcnow
from drillmgr.enums import DrillStatus
from drillmgr.errors import Conflict, Forbidden, NotFound, ValidationError
from drillmgr.exercises.conduct import add_unplanned, live_state, live_tick, release_due, release_inject, respond
from drillmgr.exercises.evaluations import evaluation_to_finding, save_evaluation
from drillmgr.exercises.feedback import feedback_summary, feedback_tokens, read_feedback_token, submit_feedback
from drillmgr.exercises.injects import add_inject, get_inject, injects, seed_from_scenario, update_inject
from drillmgr.exercises.msel import import_msel, msel_xlsx
from drillmgr.exercises.objective_templates import create_template, ensure_default_templates, templates, update_template
from drillmgr.exercises.objectives import add_objective, update_objective
from drillmgr.exercises.aar import after_action, fill_review, focus_coverage, review_draft
from drillmgr.exercises.aar_docx import report_docx
from drillmgr.exercises.sessions import (
    elapsed_seconds,
    end_session,
    pause_session,
    resume_session,
    session_of,
    start_session,
)
from drillmgr.exercises.enums import Rating, SessionStatus
from drillmgr.exercises.models import ObjectiveTemplate
from drillmgr.extensions import db
from drillmgr.findings import reviews as findings
from tests.exercises_world import inject_data, objective_data, world  # noqa: F401 — fixture

pytestmark = pytest.mark.usefixtures("english")


def _sheet(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- templates and objectives --------------------------------------------------------------------


def test_default_templates_are_chinese_per_focus_link_and_only_admins_edit_them(world):
    rows = templates()
    assert {t.focus.value for t in rows} >= {"command_post", "command_comms", "force_organization", "medical"}
    assert any("现场指挥部" in t.text for t in rows)
    assert ensure_default_templates() == 0  # once
    template = rows[0]
    with pytest.raises(Forbidden):
        update_template(world.coordinator, template, {"text": "改", "version": 1})
    update_template(world.admin, template, {"text": "接报后20分钟内开设指挥部", "version": 1})
    assert template.text == "接报后20分钟内开设指挥部" and template.version == 2
    with pytest.raises(Conflict):
        update_template(world.admin, template, {"text": "旧版本", "version": 1})
    made = create_template(world.admin, {"focus": "medical", "text": "设立临时医疗点"})
    assert db.session.get(ObjectiveTemplate, made.id).focus.value == "medical"


def test_objective_from_template_tied_to_focus_and_plan(world):
    template = next(t for t in templates() if t.focus.value == "command_comms")
    objective = add_objective(world.organiser, world.drill, {"template_id": template.id, "plan": "通信保障预案"})
    assert (objective.text, objective.focus, objective.plan, objective.position) == (
        template.text,
        ["command_comms"],
        "通信保障预案",
        1,
    )
    second = add_objective(world.organiser, world.drill, objective_data(focus=["command_post", "medical"]))
    assert second.position == 2 and second.focus == ["command_post", "medical"]
    update_objective(world.organiser, second, {"measure": "以时间为准", "version": 1})
    assert second.measure == "以时间为准" and second.version == 2
    with pytest.raises(Conflict):
        update_objective(world.organiser, second, {"measure": "过期", "version": 1})


@pytest.mark.parametrize(
    "data, field",
    [
        ({"text": "", "focus": ["command_post"]}, "text"),
        ({"text": "x" * 501, "focus": ["command_post"]}, "text"),
        ({"text": "目标", "focus": []}, "focus"),
        ({"text": "目标", "focus": ["teleportation"]}, "focus"),
        ({"text": "目标", "focus": ["command_post"], "template_id": 2**40}, "template_id"),
        ({"text": "目标", "focus": "command_post"}, "focus"),
    ],
)
def test_objective_input_refused(world, data, field):
    with pytest.raises(ValidationError) as refused:
        add_objective(world.organiser, world.drill, data)
    assert field in refused.value.errors


@pytest.mark.parametrize("who", ["player", "outsider", "viewer", "evaluator", "other_coordinator"])
def test_only_organisers_design(world, who):
    with pytest.raises(Forbidden):
        add_objective(getattr(world, who), world.drill, objective_data())
    with pytest.raises(Forbidden):
        add_inject(getattr(world, who), world.drill, inject_data())


# --- the MSEL --------------------------------------------------------------------------------------


def test_injects_seeded_from_the_scenario_conditions(world):
    made = seed_from_scenario(world.organiser, world.drill)
    assert [i.offset_minutes for i in made] == [0, 5, 10]
    assert "乌苏市人民广场" in made[0].message
    assert "深夜" in made[1].message and "停电" in made[2].message


def test_inject_refuses_foreign_objective_and_hostile_numbers(world, make_drill):
    other = make_drill(organizer=world.organiser_org)
    foreign = add_objective(world.organiser, other, objective_data())
    for data, field in [
        (inject_data(objective_id=foreign.id), "objective_id"),
        (inject_data(offset=-1), "offset_minutes"),
        (inject_data(offset=2**40), "offset_minutes"),
        (inject_data(message=""), "message"),
        (inject_data(message="x" * 5001), "message"),
    ]:
        with pytest.raises(ValidationError) as refused:
            add_inject(world.organiser, world.drill, data)
        assert field in refused.value.errors


def test_msel_round_trip_through_xlsx(world):
    objective = add_objective(world.organiser, world.drill, objective_data())
    add_inject(world.organiser, world.drill, inject_data(0, objective_id=objective.id))
    add_inject(world.organiser, world.drill, inject_data(15, sender="供电公司"))
    content = msel_xlsx(world.drill)
    rows = list(load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[0][:2] == ("No.", "Minutes after start")
    assert rows[1] == (1, 0, "地震台网", "现场指挥部", "第0分钟：余震发生", "组织人员清点", 1)
    made = import_msel(world.organiser, world.drill, content)
    assert [(i.number, i.offset_minutes, i.sender, i.objective_id) for i in made] == [
        (1, 0, "地震台网", objective.id),
        (2, 15, "供电公司", None),
    ]
    assert len(injects(world.drill)) == 2


def test_msel_import_is_all_or_nothing_with_line_numbers(world):
    add_inject(world.organiser, world.drill, inject_data(3))
    content = _sheet(
        [
            ["序号", "开始后分钟", "发出方", "接收方", "信息", "预期行动", "检验目标"],
            [1, 0, "台网", "指挥部", "地震发生", "启动响应", None],
            [2, "十", "台网", "指挥部", "余震", "", None],
            [3, 20, "台网", "指挥部", "", "", None],
            [4, 30, "台网", "指挥部", "断网", "", 9],
        ]
    )
    with pytest.raises(ValidationError) as refused:
        import_msel(world.organiser, world.drill, content)
    lines = refused.value.errors["lines"]
    assert any(m.startswith("Line 3, offset_minutes") for m in lines)
    assert any(m.startswith("Line 4, message") for m in lines)
    assert any(m.startswith("Line 5, objective") for m in lines)
    assert [i.offset_minutes for i in injects(world.drill)] == [3]  # nothing changed


@pytest.mark.parametrize("content", [b"", b"not a workbook", b"PK\x03\x04broken", _sheet([["a", "b"], [1, 2]])])
def test_msel_import_refuses_foreign_files(world, content):
    with pytest.raises(ValidationError) as refused:
        import_msel(world.organiser, world.drill, content)
    assert "file" in refused.value.errors


# --- the live session ------------------------------------------------------------------------------


def _design(world, n=3):
    objective = add_objective(world.organiser, world.drill, objective_data())
    for k in range(n):
        add_inject(world.organiser, world.drill, inject_data(5 * k, objective_id=objective.id))
    return objective


def test_double_blind_exercise_hidden_from_players_until_the_console_starts_it(world):
    _design(world)
    assert not access.can_view_drill(world.player, world.drill)
    with pytest.raises(NotFound):
        live_state(world.player, world.drill)
    with pytest.raises(NotFound):
        live_state(world.viewer, world.drill)
    planned = world.drill.starts_at
    session = start_session(world.organiser, world.drill)
    assert session.revealed_by_console is True
    assert world.drill.starts_at <= utcnow() < planned
    state = live_state(world.player, world.drill)
    assert state["session"]["status"] == "running" and state["session"]["run_blind"] is True
    from drillmgr.notifications.models import Notification

    told = db.session.scalars(db.select(Notification).where(Notification.kind == "exercise_started")).all()
    assert [(n.user_id, n.link) for n in told] == [(world.player.id, f"/exercises/drills/{world.drill.id}/play")]
    assert state["injects"] == []  # nothing released yet
    assert state["may_respond"] is True
    with pytest.raises(Conflict):
        start_session(world.organiser, world.drill)


def test_players_see_only_released_injects_without_expected_actions(world):
    _design(world)
    start_session(world.organiser, world.drill)
    first = injects(world.drill)[0]
    hidden = injects(world.drill)[1]
    tick = live_tick(world.player, world.drill)
    release_inject(world.organiser, first)
    assert live_tick(world.player, world.drill) == tick + 1
    state = live_state(world.player, world.drill)
    assert [i["id"] for i in state["injects"]] == [first.id]
    assert "expected_action" not in state["injects"][0] and "objective_id" not in state["injects"][0]
    with pytest.raises(NotFound):
        get_inject(world.player, hidden.id)
    assert get_inject(world.player, first.id) is first
    with pytest.raises(Conflict):
        release_inject(world.organiser, first)  # once
    controller = live_state(world.organiser, world.drill)
    assert len(controller["injects"]) == 3 and controller["injects"][0]["expected_action"] == "组织人员清点"


def test_responses_time_taken_once_per_player(world):
    _design(world)
    start_session(world.organiser, world.drill)
    inject = injects(world.drill)[0]
    now = utcnow()
    release_inject(world.organiser, inject, now=now)
    response = respond(world.player, inject, {"decision": "启动应急照明"}, now=now + timedelta(seconds=42))
    assert response.seconds_taken == 42
    with pytest.raises(Conflict):
        respond(world.player, inject, {"decision": "again"})
    with pytest.raises(Forbidden):
        respond(world.outsider, inject, {"decision": "不是参演单位"})
    with pytest.raises(ValidationError):
        respond(world.player, injects(world.drill)[0], {"decision": ""})
    state = live_state(world.player, world.drill)
    assert state["injects"][0]["responses"][0]["decision"] == "启动应急照明"


def test_pause_resume_end_clock_and_unplanned(world):
    _design(world)
    start = utcnow() - timedelta(minutes=12)
    start_session(world.organiser, world.drill, now=start)
    session = session_of(world.drill)
    released = release_due(world.organiser, world.drill, now=start + timedelta(minutes=6))
    assert [i.offset_minutes for i in released] == [0, 5]
    pause_session(world.organiser, world.drill, {"version": 1}, now=start + timedelta(minutes=7))
    with pytest.raises(Conflict):
        release_inject(world.organiser, injects(world.drill)[2])
    with pytest.raises(Conflict):
        pause_session(world.organiser, world.drill, {"version": 2})
    resume_session(world.organiser, world.drill, {"version": 2}, now=start + timedelta(minutes=10))
    assert elapsed_seconds(session, start + timedelta(minutes=11)) == 8 * 60
    extra = add_unplanned(
        world.organiser, world.drill, {"message": "指挥部帐篷被大风吹倒"}, now=start + timedelta(minutes=11)
    )
    assert extra.unplanned and extra.released_at is not None and extra.offset_minutes == 8
    with pytest.raises(Conflict):
        end_session(world.organiser, world.drill, {"version": 1})  # stale
    end_session(world.organiser, world.drill, {"version": 3})
    assert session.status == SessionStatus.ENDED
    with pytest.raises(Conflict):
        add_unplanned(world.organiser, world.drill, {"message": "太晚了"})


def test_design_frozen_once_released_or_started(world):
    _design(world)
    start_session(world.organiser, world.drill)
    inject = injects(world.drill)[0]
    release_inject(world.organiser, inject)
    with pytest.raises(Conflict):
        update_inject(world.organiser, inject, {"message": "改写历史", "version": inject.version})
    with pytest.raises(Conflict):
        import_msel(world.organiser, world.drill, msel_xlsx(world.drill))


# --- evaluation, feedback, report ------------------------------------------------------------------


def test_evaluators_rate_objectives_and_the_report_drafts_itself(world, app):
    objective = _design(world)
    with pytest.raises(Conflict):
        save_evaluation(world.evaluator, objective, {"rating": "S"})  # not started yet
    now = utcnow()
    start_session(world.organiser, world.drill, now=now - timedelta(minutes=30))
    for k, inject in enumerate(injects(world.drill)):
        release_inject(world.organiser, inject, now=now - timedelta(minutes=20 - k))
        respond(
            world.player, inject, {"decision": f"处置{k}"}, now=now - timedelta(minutes=20 - k, seconds=-30 * (k + 1))
        )
    with pytest.raises(Forbidden):
        save_evaluation(world.organiser, objective, {"rating": "P"})
    with pytest.raises(ValidationError):
        save_evaluation(world.evaluator, objective, {"rating": "X"})
    evaluation = save_evaluation(
        world.evaluator,
        objective,
        {
            "rating": "S",
            "observations": "指挥部开设用时35分钟",
            "strengths": "分工明确",
            "improvements": "通信设备调试慢",
        },
    )
    assert evaluation.rating == Rating.S and evaluation.version == 1
    save_evaluation(world.evaluator, objective, {"rating": "M", "version": 1, "observations": "超时"})
    assert evaluation.rating == Rating.M and evaluation.version == 2
    with pytest.raises(Conflict):
        save_evaluation(world.evaluator, objective, {"rating": "P", "version": 1})
    end_session(world.organiser, world.drill)
    report = after_action(world.organiser, world.drill)
    assert report.objectives[0].rating == Rating.M
    assert [(r.responses, r.first_seconds) for r in report.timeline] == [(1, 30), (1, 60), (1, 90)]
    draft = review_draft(report)
    assert "M: performed with major challenges" in draft["execution"]
    assert "first after 0 min 30 s" in draft["execution"]
    assert report.improvement_plan[0]["rating"] == "M"
    with pytest.raises(Forbidden):
        after_action(world.player, world.drill)
    docx = report_docx(report)
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)
    cells = [c.text for t in Document(io.BytesIO(docx)).tables for row in t.rows for c in row.cells]
    assert world.drill.title in text and "M" in cells and "处置0" not in cells and "第0分钟：余震发生" in cells


def test_feedback_links_one_answer_each_and_only_after_the_exercise(world):
    _design(world)
    with pytest.raises(Conflict):
        feedback_tokens(world.organiser, world.drill, {"count": 2})
    start_session(world.organiser, world.drill)
    end_session(world.organiser, world.drill)
    with pytest.raises(ValidationError):
        feedback_tokens(world.organiser, world.drill, {"count": 2**40})
    first, second = feedback_tokens(world.organiser, world.drill, {"count": 2})
    submit_feedback(first, {"overall": 4, "realism": 5, "strengths": "贴近实战"})
    with pytest.raises(Conflict):
        submit_feedback(first, {"overall": 1, "realism": 1})
    with pytest.raises(ValidationError):
        submit_feedback(second, {"overall": 6, "realism": 0})
    submit_feedback(second, {"overall": 3, "realism": 4, "improvements": "时间太短"})
    summary = feedback_summary(world.drill)
    assert summary == {
        "count": 2,
        "overall_mean": 3.5,
        "realism_mean": 4.5,
        "strengths": ["贴近实战"],
        "improvements": ["时间太短"],
    }
    for bad in ("", "x" * 5000, first[:-2] + "zz", "\x00"):
        with pytest.raises(NotFound):
            read_feedback_token(bad)


def test_fill_review_and_observation_to_finding(world):
    objective = _design(world)
    start_session(world.organiser, world.drill)
    evaluation = save_evaluation(world.evaluator, objective, {"rating": "U", "improvements": "卫星电话无人会用"})
    end_session(world.organiser, world.drill)
    world.drill.status = DrillStatus.COMPLETED
    db.session.commit()
    finding = evaluation_to_finding(
        world.organiser,
        evaluation,
        {
            "severity": "major",
            "category": "communications",
            "corrective_action": {
                "description": "开展卫星电话培训",
                "owner": world.organiser.id,
                "due_on": (utcnow() + timedelta(days=20)).date().isoformat(),
            },
        },
    )
    assert finding.summary == "卫星电话无人会用" and evaluation.finding_id == finding.id
    with pytest.raises(Conflict):
        evaluation_to_finding(world.organiser, evaluation, {})
    findings.save_review(world.organiser, world.drill, {"went_well": "组织者自己写的", "version": 0})
    fill_review(world.organiser, world.drill)
    review = findings.review_of(world.drill)
    assert review.went_well == "组织者自己写的"  # kept
    assert "U: unable to be performed" in review.execution
    assert review.recommendations == "卫星电话无人会用"
    plan = after_action(world.organiser, world.drill).improvement_plan[0]
    assert plan["corrective_action"] == "开展卫星电话培训" and plan["rating"] == "U"


def test_focus_links_planned_and_exercised(world):
    assert [(c["focus"], c["planned"], c["exercised"]) for c in focus_coverage(world.drill)] == [
        ("command_post", False, False),
        ("command_comms", False, False),
    ]
    objective = _design(world)  # command_post
    start_session(world.organiser, world.drill)
    inject = injects(world.drill)[0]
    release_inject(world.organiser, inject)
    assert [(c["planned"], c["exercised"]) for c in focus_coverage(world.drill)] == [(True, False), (False, False)]
    respond(world.player, inject, {"decision": "开设指挥部"})
    assert [(c["planned"], c["exercised"]) for c in focus_coverage(world.drill)] == [(True, True), (False, False)]
    assert objective.focus == ["command_post"]
