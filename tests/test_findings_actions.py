"""Findings and corrective actions: creation, every status step, dynamic close-out, scope and the list."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.audit.services import entries_for
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate
from drillmgr.enums import ActionStatus, DrillStatus, Role
from drillmgr.errors import Conflict, Forbidden, NotFound, ValidationError
from drillmgr.extensions import db
from drillmgr.findings import actions, queries
from drillmgr.findings.schemas import FindingSchema
from drillmgr.findings.models import Finding
from drillmgr.localtime import local_today, to_local
from tests.conftest import SHAWAN, WUSU, at, local_day
from tests.findings_world import finding_data, let_time_pass, world  # noqa: F401 — fixtures

pytestmark = pytest.mark.usefixtures("english")


def step(user, finding, status, reason=None, **extra):
    action = {"status": status} | ({"reason": reason} if reason is not None else {})
    return actions.update_finding(user, finding, {"corrective_action": action, **extra})


def test_finding_takes_scope_from_the_drill_and_starts_open(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    assert finding.region_code == world.drill.region_code == WUSU
    assert finding.org_id == world.org_a.id
    assert finding.drill_id == world.drill.id and finding.checklist_run_id is None
    assert finding.found_on == to_local(world.drill.ends_at).date()
    action = finding.corrective_action
    assert action.status == ActionStatus.OPEN and action.owner_id == world.colleague.id
    entry = entries_for("finding", finding.id)[0]
    assert entry.action == "finding.create" and entry.after["owner_id"] == world.colleague.id


def test_full_close_out_by_someone_other_than_the_owner(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    assert step(world.colleague, finding, "in_progress").corrective_action.status == ActionStatus.IN_PROGRESS
    done = step(world.colleague, finding, "done").corrective_action
    assert done.status == ActionStatus.DONE and done.done_at is not None
    with pytest.raises(Forbidden) as caught:
        step(world.colleague, finding, "verified")
    assert "someone else" in caught.value.detail
    verified = step(world.staff, finding, "verified").corrective_action
    assert verified.status == ActionStatus.VERIFIED and verified.verified_by_id == world.staff.id
    assert [e.action for e in entries_for("corrective_action", verified.id)] == [
        "action.start",
        "action.done",
        "action.verify",
    ]
    with pytest.raises(Conflict) as caught:
        step(world.staff, finding, "in_progress", reason="再看看")
    assert "verified and closed" in caught.value.detail
    with pytest.raises(Conflict):
        actions.update_finding(world.staff, finding, {"summary": "改"})


def test_coordinator_of_the_region_may_verify(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.staff))
    step(world.staff, finding, "in_progress")
    step(world.staff, finding, "done")
    with pytest.raises(Forbidden):
        step(world.staff, finding, "verified")  # the owner, although an organiser
    for outsider in (world.viewer, world.other_coordinator, world.other_staff):
        with pytest.raises(Forbidden):
            step(outsider, finding, "verified")
    assert step(world.coordinator, finding, "verified").corrective_action.verified_by_id == world.coordinator.id


def test_only_the_owner_moves_the_action_forward(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    for other in (world.staff, world.coordinator, world.admin):
        with pytest.raises(Forbidden):
            step(other, finding, "in_progress")
    assert finding.corrective_action.status == ActionStatus.OPEN


def test_send_back_needs_a_reason_and_is_audited(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    step(world.colleague, finding, "in_progress")
    step(world.colleague, finding, "done")
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        step(world.staff, finding, "in_progress")
    assert "corrective_action.reason" in caught.value.errors
    db.session.rollback()
    finding = db.session.get(Finding, finding.id)
    assert finding.corrective_action.status == ActionStatus.DONE
    with pytest.raises(Forbidden):
        step(world.colleague, finding, "in_progress", reason="自己退回")
    action = step(world.staff, finding, "in_progress", reason="照片不清楚，请补充").corrective_action
    assert action.status == ActionStatus.IN_PROGRESS and action.done_at is None
    last = entries_for("corrective_action", action.id)[-1]
    assert last.action == "action.send_back"
    assert last.before == {"status": "done"}
    assert last.after == {"status": "in_progress", "reason": "照片不清楚，请补充"}


@pytest.mark.parametrize(
    "path",
    [("open", "done"), ("open", "verified"), ("in_progress", "verified"), ("in_progress", "open"), ("done", "open")],
)
def test_illegal_steps_are_conflicts_with_the_next_steps_named(world, path):
    start, target = path
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    if start in ("in_progress", "done"):
        step(world.colleague, finding, "in_progress")
    if start == "done":
        step(world.colleague, finding, "done")
    with pytest.raises(Conflict) as caught:
        step(world.staff, finding, target)
    assert "cannot go from" in caught.value.detail and "Possible next steps" in caught.value.detail


def test_due_date_before_finding_is_refused(world):
    data = finding_data(world.colleague)
    data["found_on"] = local_day(-1).isoformat()
    data["corrective_action"]["due_on"] = local_day(-2).isoformat()
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(world.staff, world.drill, data)
    assert list(caught.value.errors) == ["corrective_action.due_on"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Finding)) == 0
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    with pytest.raises(ValidationError):
        actions.update_finding(
            world.staff, finding, {"corrective_action": {"due_on": (finding.found_on - timedelta(days=1)).isoformat()}}
        )
    with pytest.raises(ValidationError):
        actions.update_finding(
            world.staff, finding, {"found_on": (finding.corrective_action.due_on + timedelta(days=1)).isoformat()}
        )


def test_a_new_action_is_never_due_before_it_exists(world):
    yesterday = local_today() - timedelta(days=1)
    data = finding_data(world.colleague, found_on=(yesterday - timedelta(days=2)).isoformat())
    data["corrective_action"]["due_on"] = yesterday.isoformat()
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(world.staff, world.drill, data)
    assert caught.value.errors == {
        "corrective_action.due_on": [
            f"A corrective action cannot be due before it was created ({local_today().isoformat()})."
        ]
    }
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Finding)) == 0
    data["corrective_action"]["due_on"] = local_today().isoformat()
    finding = actions.add_drill_finding(world.staff, world.drill, data)
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        actions.update_finding(world.staff, finding, {"corrective_action": {"due_on": yesterday.isoformat()}})
    assert list(caught.value.errors) == ["corrective_action.due_on"]
    db.session.rollback()
    let_time_pass(finding, -3)  # overdue by the passing of time: other changes still save
    actions.update_finding(world.staff, finding, {"summary": "疏散通道堵塞（二楼东侧）"})
    assert finding.summary == "疏散通道堵塞（二楼东侧）"


def test_finding_dated_in_the_future_is_refused(world):
    data = finding_data(world.colleague, 30, found_on=local_day(2).isoformat())
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(world.staff, world.drill, data)
    assert list(caught.value.errors) == ["found_on"]


def test_unknown_enums_and_missing_fields_name_the_field(world):
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(
            world.staff,
            world.drill,
            {"summary": "", "severity": "huge", "category": "x", "corrective_action": {"owner": "me"}},
        )
    assert set(caught.value.errors) >= {
        "summary",
        "severity",
        "category",
        "corrective_action.description",
        "corrective_action.owner",
        "corrective_action.due_on",
    }
    assert "minor, major, critical" in caught.value.errors["severity"][0]
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague, corrective_action=[]))
    assert "corrective_action" in caught.value.errors
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    with pytest.raises(ValidationError) as caught:
        step(world.colleague, finding, "finished")
    assert "corrective_action.status" in caught.value.errors


def test_new_action_must_start_open(world):
    data = finding_data(world.colleague)
    data["corrective_action"]["status"] = "verified"
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(world.staff, world.drill, data)
    assert "corrective_action.status" in caught.value.errors


@pytest.mark.parametrize("who", ["viewer", "other_coordinator", "other_staff"])
def test_owner_must_be_able_to_act_in_the_drills_scope(world, who):
    with pytest.raises(ValidationError) as caught:
        actions.add_drill_finding(world.staff, world.drill, finding_data(getattr(world, who)))
    assert "corrective_action.owner" in caught.value.errors


def test_owner_choices_cover_organiser_participants_evaluators_and_coordinators(world, make_drill, make_user):
    evaluator = make_user(role=Role.ORG_STAFF, org=world.org_c)
    drill = make_drill(
        organizer=world.org_a,
        starts_at=at(days=-2),
        status=DrillStatus.COMPLETED,
        participants=[world.org_b],
        evaluators=[evaluator],
    )
    probe = Finding(drill_id=drill.id, region_code=drill.region_code, org_id=drill.organizer_org_id)
    ids = {u.id for u in actions.owner_choices(probe)}
    assert {
        world.staff.id,
        world.colleague.id,
        world.other_staff.id,
        evaluator.id,
        world.coordinator.id,
        world.admin.id,
    } <= ids
    assert not {world.viewer.id, world.other_coordinator.id} & ids


def test_only_drill_editors_record_and_change_findings(world, make_drill):
    for outsider in (world.viewer, world.other_staff, world.other_coordinator):
        with pytest.raises(Forbidden):
            actions.add_drill_finding(outsider, world.drill, finding_data(world.colleague))
    joint = make_drill(
        organizer=world.org_a, starts_at=at(days=-2), status=DrillStatus.COMPLETED, participants=[world.org_b]
    )
    finding = actions.add_drill_finding(world.staff, joint, finding_data(world.other_staff))
    with pytest.raises(Forbidden):  # the owner works on the action but does not rewrite the finding
        actions.update_finding(world.other_staff, finding, {"corrective_action": {"due_on": "2099-01-01"}})
    assert step(world.other_staff, finding, "in_progress").corrective_action.status == ActionStatus.IN_PROGRESS
    planned = make_drill(organizer=world.org_a, starts_at=at(days=3))
    with pytest.raises(Conflict):
        actions.add_drill_finding(world.staff, planned, finding_data(world.colleague))


def test_manager_changes_owner_and_due_date_with_version_check(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    changed = actions.update_finding(
        world.staff,
        finding,
        {"version": 1, "severity": "critical", "corrective_action": {"owner": world.staff.id, "due_on": "2099-12-31"}},
    )
    assert changed.version == 2 and changed.severity.value == "critical"
    assert changed.corrective_action.owner_id == world.staff.id
    entry = entries_for("finding", finding.id)[-1]
    assert entry.action == "finding.update"
    assert entry.before["owner_id"] == world.colleague.id and entry.after["owner_id"] == world.staff.id
    with pytest.raises(Conflict):
        actions.update_finding(world.coordinator, finding, {"version": 1, "summary": "旧版本上的修改"})


def test_unchanged_patch_changes_nothing(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    actions.update_finding(world.staff, finding, {"summary": finding.summary, "corrective_action": {"status": "open"}})
    assert finding.version == 1
    assert len(entries_for("finding", finding.id)) == 1


# --- scope -----------------------------------------------------------------------------------


def visible_ids(user):
    return set(db.session.scalars(sa.select(Finding.id).where(access.finding_clause(user))))


def test_findings_follow_the_drill_and_owners_see_their_own(world, make_drill, make_user):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    for user in (world.admin, world.coordinator, world.staff, world.colleague, world.viewer):
        assert finding.id in visible_ids(user), user
    for user in (world.other_coordinator, world.other_staff):
        assert finding.id not in visible_ids(user), user
        with pytest.raises(NotFound):
            access.get_visible_finding(user, finding.id)
    # an evaluator from another unit owns an action: they see it even without the drill's scope rule
    evaluator = make_user(role=Role.ORG_STAFF, org=world.org_c)
    actions.update_finding(world.staff, finding, {"corrective_action": {"owner": world.staff.id}})
    world.drill.evaluators = [evaluator]
    db.session.commit()
    actions.update_finding(world.staff, finding, {"corrective_action": {"owner": evaluator.id}})
    world.drill.evaluators = []
    db.session.commit()
    assert finding.id in visible_ids(evaluator)


def test_double_blind_drill_findings_hidden_until_start(world, make_drill):
    secret = make_drill(
        organizer=world.org_a,
        starts_at=at(days=-1),
        double_blind=True,
        status=DrillStatus.COMPLETED,
        participants=[world.org_b],
    )
    finding = actions.add_drill_finding(world.staff, secret, finding_data(world.colleague))
    assert finding.id in visible_ids(world.other_staff)  # started: participants see it
    later = at(days=-2)
    assert finding.id not in set(
        db.session.scalars(sa.select(Finding.id).where(access.finding_clause(world.other_staff, later)))
    )
    assert finding.id in set(db.session.scalars(sa.select(Finding.id).where(access.finding_clause(world.staff, later))))


def test_checklist_findings_follow_unit_and_region(world, make_user):
    template = ChecklistTemplate(name="学校常态准备清单")
    db.session.add(template)
    db.session.flush()
    run = ChecklistRun(template_id=template.id, org_id=world.org_b.id, region_code=WUSU)
    db.session.add(run)
    db.session.commit()
    owner = make_user(role=Role.ORG_STAFF, org=world.org_b)
    finding = actions.create_finding(
        world.other_staff, finding_data(owner), region_code=WUSU, org_id=world.org_b.id, checklist_run_id=run.id
    )
    assert finding.drill_id is None and finding.found_on == local_today()
    for user in (world.admin, world.coordinator, world.viewer, world.other_staff, owner):
        assert finding.id in visible_ids(user), user
    for user in (world.staff, world.other_coordinator):
        assert finding.id not in visible_ids(user), user
    assert access.can_manage_finding(world.other_staff, finding)
    assert not access.can_manage_finding(world.staff, finding)
    with pytest.raises(ValidationError):  # staff of another unit cannot own it
        actions.update_finding(world.other_staff, finding, {"corrective_action": {"owner": world.staff.id}})


# --- the list of open actions ----------------------------------------------------------------


def _make(world, owner, due_days, status_steps=(), **data):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(owner, max(due_days, 0), **data))
    if due_days < 0:
        let_time_pass(finding, due_days)
    for status in status_steps:
        step(owner, finding, status)
    return finding


def test_open_actions_overdue_first_then_by_due_date(world):
    later = _make(world, world.colleague, 30)
    soon = _make(world, world.colleague, 5)
    overdue_old = _make(world, world.colleague, -2, found_on=local_day(-10).isoformat())
    overdue_recent = _make(world, world.colleague, -1, found_on=local_day(-10).isoformat())
    verified = _make(world, world.colleague, 3, ("in_progress", "done"))
    step(world.staff, verified, "verified")
    done_late = _make(world, world.colleague, -3, ("in_progress", "done"), found_on=local_day(-10).isoformat())
    today = local_today()
    items = queries.open_actions_page(world.coordinator, today).items
    order = [a.finding_id for a in items]
    assert order == [overdue_old.id, overdue_recent.id, done_late.id, soon.id, later.id]
    assert FindingSchema().dump(items[0].finding)["corrective_action"]["overdue"] is True
    assert FindingSchema().dump(items[2].finding)["corrective_action"]["overdue"] is False  # done, awaiting check


def test_open_actions_filters_and_scope(world):
    mine = _make(world, world.staff, 10, severity="critical")
    theirs = _make(world, world.colleague, 10, category="training")
    today = local_today()

    def ids(user, **args):
        filters = queries.read_action_filters(args)
        return [a.finding_id for a in queries.open_actions_page(user, today, filters).items]

    assert ids(world.staff, mine="1") == [mine.id]
    assert ids(world.coordinator, severity="critical") == [mine.id]
    assert ids(world.coordinator, category="training") == [theirs.id]
    assert ids(world.coordinator, region=SHAWAN) == []
    assert set(ids(world.admin, region=WUSU)) == {mine.id, theirs.id}
    assert ids(world.other_coordinator) == [] and ids(world.other_staff) == []
    with pytest.raises(ValidationError) as caught:
        queries.read_action_filters({"status": "verified", "severity": "huge", "mine": "maybe"})
    assert set(caught.value.errors) == {"status", "severity", "mine"}


def test_open_actions_list_needs_a_fixed_number_of_queries(world, make_user, app):
    owners = [make_user(role=Role.ORG_STAFF, org=world.org_a) for _ in range(3)]
    for number in range(12):
        _make(world, owners[number % 3], number)
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    db.session.refresh(world.coordinator)
    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        today = local_today()
        page = queries.open_actions_page(world.coordinator, today)
        rendered = [
            FindingSchema().dump(a.finding)
            | {"owner": a.owner.username, "org": a.finding.org.name, "region": a.finding.region.name}
            for a in page.items
        ]
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(rendered) == 12
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 3, "\n\n".join(selects)
