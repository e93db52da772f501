import io
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from tests.conftest import PREFECTURE, SHAWAN, WUSU, at

from drillmgr.checklists import readiness, runs, shortcomings, templates
from drillmgr.checklists.defaults import DEFAULT_TEMPLATES, PRE_DRILL_COMPREHENSIVE_LIVE
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate
from drillmgr.db import utcnow as db_now
from drillmgr.enums import ActionStatus, DrillForm, DrillScope, OrgKind, Role
from drillmgr.errors import Conflict, Forbidden, NotFound, ValidationError
from drillmgr.extensions import db
from drillmgr.findings.models import Finding

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def admin(make_user):
    return make_user(role=Role.ADMIN)


@pytest.fixture
def live_drill(make_drill):
    return make_drill(organizer=WUSU, form=DrillForm.LIVE, scope=DrillScope.COMPREHENSIVE, starts_at=at(days=10))


def answer_all(actor, run, value="yes", overrides=None):
    overrides = overrides or {}
    answers = {str(line.item.id): {"answer": overrides.get(line.item.id, value)} for line in runs.run_lines(run)}
    return runs.save_answers(actor, run, answers)


def test_defaults_are_idempotent():
    assert templates.ensure_default_templates() == len(DEFAULT_TEMPLATES)
    assert templates.ensure_default_templates() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistTemplate)) == len(DEFAULT_TEMPLATES)


def test_a_deactivated_default_is_not_recreated(admin):
    templates.ensure_default_templates()
    hospital = db.session.scalar(sa.select(ChecklistTemplate).where(ChecklistTemplate.org_kind == OrgKind.HOSPITAL))
    templates.update_template(admin, hospital, {"active": False})
    assert templates.ensure_default_templates() == 0


def test_templates_appear_lazily(live_drill, make_org):
    assert templates.template_for_drill(live_drill).name == DEFAULT_TEMPLATES[0][0]
    assert [i.text for i in templates.template_for_drill(live_drill).items] == list(PRE_DRILL_COMPREHENSIVE_LIVE)
    assert templates.template_for_org(make_org(kind=OrgKind.HOSPITAL)).org_kind == OrgKind.HOSPITAL
    assert templates.template_for_org(make_org(kind=OrgKind.VENUE)) is None


def test_default_texts_cover_item_13_and_schools():
    pre = " ".join(PRE_DRILL_COMPREHENSIVE_LIVE)
    for phrase in ("预案", "现场指挥部", "断路、断电、断网", "力量", "救灾物资", "安全员", "医疗", "评估人员", "公告"):
        assert phrase in pre
    school = " ".join(DEFAULT_TEMPLATES[1][4])
    for phrase in ("疏散路线图", "集合点", "未上锁", "清点人数", "培训", "家庭应急"):
        assert phrase in school


def test_admin_edits_templates(admin, make_user):
    template = templates.create_template(admin, {"name": "单项演练检查", "drill_form": "evacuation"})
    first = templates.add_item(admin, template, {"text": "疏散路线已检查"})
    second = templates.add_item(admin, template, {"text": "警报可用"})
    templates.move_item(admin, template, second.id, -1)
    assert [i.text for i in template.items] == ["警报可用", "疏散路线已检查"]
    templates.update_item(admin, template, first.id, {"active": False, "text": "疏散路线已检查并拍照"})
    assert first.active is False and first.text == "疏散路线已检查并拍照"
    coordinator = make_user(role=Role.COORDINATOR)
    with pytest.raises(Forbidden):
        templates.add_item(coordinator, template, {"text": "x"})
    with pytest.raises(ValidationError):
        templates.add_item(admin, template, {"text": " "})
    with pytest.raises(NotFound):
        templates.update_item(admin, template, 987654, {"active": True})


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "x"}, "drill_form"),
        ({"name": "x", "drill_form": "live", "org_kind": "school"}, "drill_form"),
        ({"name": "x", "org_kind": "school", "drill_scope": "single"}, "drill_scope"),
        ({"name": "x", "org_kind": "castle"}, "org_kind"),
        ({"name": "", "org_kind": "school"}, "name"),
        ({"name": "second school checklist", "org_kind": "school"}, "name"),
    ],
)
def test_template_bad_input(admin, data, field):
    templates.ensure_default_templates()
    with pytest.raises(ValidationError) as error:
        templates.create_template(admin, data)
    assert field in error.value.errors


def test_pre_drill_run_progress_and_completion(admin, live_drill):
    run = runs.start_drill_run(admin, live_drill)
    assert runs.start_drill_run(admin, live_drill).id == run.id
    first, second = [line.item.id for line in runs.run_lines(run)][:2]
    runs.save_answers(admin, run, {str(first): {"answer": "yes", "note": "已更新"}, str(second): {"answer": "no"}})
    done = runs.progress(run)
    assert (done.answered, done.total, done.no) == (2, len(PRE_DRILL_COMPREHENSIVE_LIVE), 1)
    with pytest.raises(ValidationError) as error:
        runs.complete_run(admin, run)
    assert len(error.value.errors["answers"]) == len(PRE_DRILL_COMPREHENSIVE_LIVE) - 2
    answer_all(admin, run, "na", {second: "no"})
    runs.complete_run(admin, run)
    assert run.completed_at is not None
    with pytest.raises(Conflict):
        runs.save_answers(admin, run, {str(first): {"answer": "no"}})
    checklist = readiness.drill_checklist(admin, live_drill)
    assert checklist.run == run and checklist.progress.percent == 100 and not checklist.can_start


def test_bad_answers_change_nothing(admin, live_drill):
    run = runs.start_drill_run(admin, live_drill)
    db.session.commit()
    item = runs.run_lines(run)[0].item.id
    with pytest.raises(ValidationError) as error:
        runs.save_answers(
            admin, run, {str(item): {"answer": "yes"}, "999999": {"answer": "yes"}, "abc": {"answer": "no"}}
        )
    assert set(error.value.errors) == {"item-999999", "item-abc"}
    with pytest.raises(ValidationError) as error:
        runs.save_answers(admin, run, {str(item): {"answer": "maybe", "note": "x" * 2001}})
    assert len(error.value.errors[f"item-{item}"]) == 2
    with pytest.raises(ValidationError):
        runs.save_answers(admin, run, ["yes"])
    db.session.rollback()
    assert runs.progress(run).answered == 0


def test_photo_must_be_an_image(admin, live_drill, app):
    run = runs.start_drill_run(admin, live_drill)
    item = runs.run_lines(run)[0].item.id
    with pytest.raises(ValidationError) as error:
        runs.save_answers(admin, run, {}, photos={item: (io.BytesIO(b"%PDF-1.4 nope"), "a.pdf")})
    assert "Only photos" in error.value.errors[f"item-{item}"][0]
    with pytest.raises(ValidationError):
        runs.save_answers(admin, run, {}, photos={item: (io.BytesIO(b"MZ\x90\x00"), "photo.jpg")})
    app.config["MAX_ATTACHMENT_BYTES"], limit = 32, app.config["MAX_ATTACHMENT_BYTES"]
    try:
        with pytest.raises(ValidationError) as error:
            runs.save_answers(admin, run, {}, photos={item: (io.BytesIO(PNG), "big.png")})
        assert "too large" in error.value.errors[f"item-{item}"][0]
    finally:
        app.config["MAX_ATTACHMENT_BYTES"] = limit
    runs.save_answers(admin, run, {str(item): {"answer": "yes"}}, photos={item: (io.BytesIO(PNG), "exit.png")})
    line = runs.run_lines(run)[0]
    assert line.answer.photo_id is not None


def test_no_becomes_a_corrective_action(admin, make_org, make_user):
    school = make_org(kind=OrgKind.SCHOOL)
    staff = make_user(org=school)
    run = runs.start_readiness_run(staff, school)
    item = runs.run_lines(run)[2].item
    runs.save_answers(staff, run, {str(item.id): {"answer": "no", "note": "东侧出口上锁"}})
    chosen = {"category": "facility", "corrective_action": {"owner": staff.id}}
    finding = shortcomings.make_corrective_action(staff, run, item.id, chosen, today=date(2026, 3, 2))
    assert finding.checklist_run_id == run.id and finding.org_id == school.id and finding.drill_id is None
    assert item.text == "安全出口未上锁，应急照明和疏散指示标志完好"
    assert finding.summary == "安全出口上锁，或应急照明和疏散指示标志不完好"
    action = finding.corrective_action
    assert (action.owner_id, action.due_on, action.status, action.description) == (
        staff.id,
        date(2026, 4, 1),
        ActionStatus.OPEN,
        "东侧出口上锁",
    )
    with pytest.raises(Conflict):
        shortcomings.make_corrective_action(staff, run, item.id, chosen)
    yes_item = runs.run_lines(run)[0].item
    runs.save_answers(staff, run, {str(yes_item.id): {"answer": "yes"}})
    with pytest.raises(Conflict):
        shortcomings.make_corrective_action(staff, run, yes_item.id, chosen)
    viewer = make_user(role=Role.VIEWER)
    with pytest.raises(Forbidden):
        shortcomings.make_corrective_action(viewer, run, item.id, chosen)


def test_pre_drill_action_is_due_before_the_drill(admin, make_drill):
    drill = make_drill(
        organizer=WUSU,
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        starts_at=datetime(2026, 3, 12, 2, tzinfo=timezone.utc),
    )
    run = runs.start_drill_run(admin, drill)
    item = runs.run_lines(run)[0].item
    runs.save_answers(admin, run, {str(item.id): {"answer": "no"}})
    finding = shortcomings.make_corrective_action(
        admin, run, item.id, {"category": "plan", "corrective_action": {"owner": admin.id}}, today=date(2026, 3, 1)
    )
    assert finding.drill_id == drill.id and finding.corrective_action.due_on == date(2026, 3, 11)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Finding)) == 1


def test_no_template_no_run(admin, make_drill, make_org):
    with pytest.raises(ValidationError):
        runs.start_drill_run(admin, make_drill(organizer=WUSU, form=DrillForm.TABLETOP))
    with pytest.raises(ValidationError):
        runs.start_readiness_run(admin, make_org(kind=OrgKind.VENUE))
    assert readiness.drill_checklist(admin, make_drill(organizer=WUSU, form=DrillForm.TABLETOP)) is None


def test_readiness_reruns_each_term_and_unit_page_figures(make_org, make_user):
    school = make_org()
    staff = make_user(org=school)
    run = runs.start_readiness_run(staff, school)
    assert runs.start_readiness_run(staff, school).id == run.id
    answer_all(staff, run)
    runs.complete_run(staff, run, now=datetime.now(timezone.utc) - timedelta(days=3))
    again = runs.start_readiness_run(staff, school)
    assert again.id != run.id
    shown = readiness.unit_readiness(staff, school)
    assert shown.last_run == run and shown.open_run == again and shown.age_days in (3, 4)


def test_term_bounds():
    assert readiness.term_bounds(date(2026, 3, 1)) == (date(2026, 2, 1), date(2026, 7, 31))
    assert readiness.term_bounds(date(2026, 9, 1)) == (date(2026, 8, 1), date(2027, 1, 31))
    assert readiness.term_bounds(date(2027, 1, 15)) == (date(2026, 8, 1), date(2027, 1, 31))


def test_readiness_summary_by_county(make_org, make_user, make_region):
    township = make_region(parent_code=WUSU)
    ready = make_org(region_code=township.code)
    make_org(region_code=WUSU, kind=OrgKind.HOSPITAL)
    make_org(region_code=WUSU, kind=OrgKind.VENUE)
    make_org(region_code=SHAWAN, kind=OrgKind.KINDERGARTEN)
    stale = make_org(region_code=SHAWAN)
    staff = make_user(org=ready)
    run = runs.start_readiness_run(staff, ready)
    answer_all(staff, run)
    runs.complete_run(staff, run, now=datetime(2026, 3, 5, tzinfo=timezone.utc))
    old_staff = make_user(org=stale)
    old = runs.start_readiness_run(old_staff, stale)
    answer_all(old_staff, old)
    runs.complete_run(old_staff, old, now=datetime(2025, 12, 1, tzinfo=timezone.utc))
    rows = {r["code"]: r for r in readiness.readiness_summary(PREFECTURE, today=date(2026, 4, 1))}
    assert len(rows) == 7
    assert (rows[WUSU]["units"], rows[WUSU]["ready"], rows[WUSU]["share"]) == (2, 1, 0.5)
    assert (rows[SHAWAN]["units"], rows[SHAWAN]["ready"]) == (2, 0)
    assert rows["654221"]["share"] is None
    assert [r["code"] for r in readiness.readiness_summary(WUSU, today=date(2026, 4, 1))] == [WUSU]
    assert [r["code"] for r in readiness.readiness_summary(township.code, today=date(2026, 4, 1))] == [WUSU]
    autumn = {r["code"]: r for r in readiness.readiness_summary(PREFECTURE, today=date(2025, 12, 20))}
    assert autumn[SHAWAN]["ready"] == 1 and autumn[WUSU]["ready"] == 0


def test_readiness_summary_is_kept_until_a_run_a_template_or_a_unit_changes(make_org, make_user, monkeypatch):
    templates.ensure_default_templates()
    school = make_org(region_code=WUSU)
    spring = date(2026, 4, 1)
    before = {r["code"]: r for r in readiness.readiness_summary(PREFECTURE, today=spring)}
    counted = readiness._count_ready_units

    def not_again(*args):
        raise AssertionError("counted again although nothing changed")

    monkeypatch.setattr(readiness, "_count_ready_units", not_again)
    assert readiness.readiness_summary(PREFECTURE, today=spring) == list(before.values())
    monkeypatch.setattr(readiness, "_count_ready_units", counted)
    # A write around the app raises no generation: after COMPLIANCE_KEPT_SECONDS (15 minutes) the figures are
    # counted again even so.
    counts = []
    monkeypatch.setattr(readiness, "_count_ready_units", lambda *args: counts.append(args) or counted(*args))
    later = db_now() + timedelta(seconds=901)
    monkeypatch.setattr(readiness, "utcnow", lambda: later)
    assert readiness.readiness_summary(PREFECTURE, today=spring) == list(before.values())
    assert len(counts) == 1
    monkeypatch.setattr(readiness, "_count_ready_units", counted)
    monkeypatch.setattr(readiness, "utcnow", db_now)

    staff = make_user(org=school)
    run = runs.start_readiness_run(staff, school)
    answer_all(staff, run)
    runs.complete_run(staff, run, now=datetime(2026, 3, 5, tzinfo=timezone.utc))
    after = {r["code"]: r for r in readiness.readiness_summary(PREFECTURE, today=spring)}
    assert after[WUSU]["ready"] == before[WUSU]["ready"] + 1
    assert after[WUSU]["units"] == before[WUSU]["units"]
    autumn = {r["code"]: r for r in readiness.readiness_summary(PREFECTURE, today=date(2026, 9, 1))}
    assert autumn[WUSU]["ready"] == before[WUSU]["ready"]  # another term: its own figures
    make_org(region_code=WUSU)
    assert {r["code"]: r for r in readiness.readiness_summary(PREFECTURE, today=spring)}[WUSU]["units"] == (
        after[WUSU]["units"] + 1
    )
    for template in db.session.scalars(sa.select(ChecklistTemplate).where(ChecklistTemplate.org_kind.is_not(None))):
        template.active = False
    db.session.flush()
    assert {r["code"]: r["units"] for r in readiness.readiness_summary(PREFECTURE, today=spring)}[WUSU] == 0


def test_run_scope(make_org, make_user, make_drill):
    school = make_org()
    other = make_org()
    staff = make_user(org=school)
    other_staff = make_user(org=other)
    shawan = make_user(role=Role.COORDINATOR, region_code=SHAWAN)
    wusu_viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    run = runs.start_readiness_run(staff, school)
    with pytest.raises(Forbidden):
        runs.start_readiness_run(other_staff, school)
    with pytest.raises(NotFound):
        runs.get_visible_run(other_staff, run.id)
    with pytest.raises(NotFound):
        runs.get_visible_run(shawan, run.id)
    assert runs.get_visible_run(wusu_viewer, run.id) == run
    with pytest.raises(Forbidden):
        runs.save_answers(wusu_viewer, run, {})
    with pytest.raises(Forbidden):
        runs.save_answers(shawan, run, {})


def test_double_blind_pre_drill_run_stays_hidden(make_user, make_drill, make_org):
    admin = make_user(role=Role.ADMIN)
    secret = make_drill(
        organizer=WUSU, form=DrillForm.LIVE, scope=DrillScope.COMPREHENSIVE, double_blind=True, starts_at=at(days=5)
    )
    run = runs.start_drill_run(admin, secret)
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    assert list(db.session.scalars(runs.run_query(viewer))) == []
    with pytest.raises(NotFound):
        runs.get_visible_run(viewer, run.id)
    assert runs.get_visible_run(coordinator, run.id) == run
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistRun)) == 1


@pytest.mark.parametrize(
    "requirement, shortcoming",
    [
        ("清点人数方法已明确（班主任点名、逐级报告）", "清点人数方法未明确"),
        ("疏散通道、楼梯畅通，无杂物堆放", "疏散通道、楼梯不畅通，或有杂物堆放"),
        ("应急广播和警报装置可用", "应急广播和警报装置不可用"),
        ("急救箱和应急物资配备齐全且在有效期内", "急救箱和应急物资配备不齐全，或已过有效期"),
        (
            "地震应急预案为现行有效版本，演练方案、脚本已审定印发",
            "地震应急预案不是现行有效版本，或演练方案、脚本未审定印发",
        ),
        ("残疾或行动不便学生的疏散帮扶人员已落实", "残疾或行动不便学生的疏散帮扶人员未落实"),
        ("室外集合点已标识，远离建筑物和围墙", "室外集合点未标识，或未远离建筑物和围墙"),
    ],
)
def test_a_no_answer_is_drafted_as_the_shortcoming_not_the_requirement(requirement, shortcoming):
    assert shortcomings.shortcoming(requirement) == shortcoming


def test_every_shipped_item_drafts_a_shortcoming_different_from_itself():
    from drillmgr.checklists.defaults import DEFAULT_TEMPLATES

    for *_rest, items in DEFAULT_TEMPLATES:
        for text in items:
            draft = shortcomings.shortcoming(text)
            assert draft and draft != text and len(draft) <= 500, text
