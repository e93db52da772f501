"""Drill services: planning, key-link defaults, after-the-fact entry, reschedule, cancel, completion, locking."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from drillmgr.audit.services import entries_for
from drillmgr.drills.lifecycle import cancel_drill, complete_drill, create_drill, reschedule_drill, update_drill
from drillmgr.drills.queries import drill_query, evacuation_trend, read_filters
from drillmgr.drills.schemas import DrillSchema
from drillmgr.drills.models import Drill
from drillmgr.enums import KEY_LINKS, DrillForm, DrillStatus, Focus, OrgKind, Role
from drillmgr.errors import Conflict, Forbidden, ValidationError
from drillmgr.extensions import db
from tests.conftest import TACHENG_CITY, WUSU, at


def plan(**fields) -> dict:
    start = fields.pop("start", at(days=10))
    data = {
        "title": "地震应急疏散演练",
        "form": "evacuation",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=1)).isoformat(),
    }
    return data | fields


def count_drills() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Drill))


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU, headcount=2371)


@pytest.fixture
def staff(make_user, school):
    return make_user(role=Role.ORG_STAFF, org=school)


@pytest.fixture
def coordinator(make_user):
    return make_user(role=Role.COORDINATOR, region_code=WUSU)


def test_plan_with_every_field(coordinator, school, make_org, make_user):
    other = make_org(region_code=WUSU)
    evaluator = make_user(role=Role.ORG_STAFF, org=make_org(region_code=WUSU))
    drill = create_drill(
        coordinator,
        plan(
            form="live",
            scope="comprehensive",
            double_blind=True,
            joint_with="corps",
            focus=["medical", "lifelines"],
            scenario={"magnitude": 6.5, "conditions": ["severe_cold", "night"]},
            organizer_region_code=WUSU,
            participant_org_ids=[school.id, other.id],
            evaluator_ids=[evaluator.id],
            location="乌苏市人民广场",
            public=False,
            description="M6.5 夜间严寒",
        ),
    )
    data = DrillSchema().dump(drill)
    assert data["form"] == "live" and data["scope"] == "comprehensive" and data["double_blind"] is True
    assert data["joint_with"] == "corps"
    assert data["focus"] == ["medical", "lifelines"]
    assert data["scenario"] == {"magnitude": 6.5, "conditions": ["severe_cold", "night"]}
    assert data["organizer_region_code"] == WUSU and data["organizer_org_id"] is None
    assert data["region_code"] == WUSU
    assert data["participant_org_ids"] == sorted([school.id, other.id])
    assert data["evaluator_ids"] == [evaluator.id]
    assert data["starts_at"].endswith("+08:00")
    assert data["status"] == "planned" and data["version"] == 1 and data["sequence"] == 0
    assert [e.action for e in entries_for("drill", drill.id)] == ["drill.create"]


def test_comprehensive_live_in_key_county_defaults_to_key_links(coordinator):
    drill = create_drill(coordinator, plan(form="live", scope="comprehensive", organizer_region_code=WUSU))
    assert drill.focus == list(KEY_LINKS)


def test_key_link_default_only_when_focus_not_given(coordinator, make_user):
    explicit = create_drill(
        coordinator, plan(form="live", scope="comprehensive", organizer_region_code=WUSU, focus=["medical"])
    )
    assert explicit.focus == [Focus.MEDICAL]
    admin = make_user(role=Role.ADMIN)
    elsewhere = create_drill(admin, plan(form="live", scope="comprehensive", organizer_region_code=TACHENG_CITY))
    assert elsewhere.focus == []


def test_key_link_default_for_township_of_key_county(coordinator, make_region):
    township = make_region(parent_code=WUSU)
    drill = create_drill(
        coordinator, plan(form="live", scope="comprehensive", organizer_region_code=WUSU, region_code=township.code)
    )
    assert drill.focus == list(KEY_LINKS)


def test_region_defaults_to_organiser_org_region(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    assert drill.region_code == school.region_code


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"form": "parade"}, "form"),
        ({"scope": "huge"}, "scope"),
        ({"joint_with": "navy"}, "joint_with"),
        ({"focus": ["command_post", "dancing"]}, "focus"),
        ({"scenario": {"conditions": ["rain"]}}, "scenario.conditions"),
        ({"scenario": {"magnitude": 12}}, "scenario.magnitude"),
        ({"title": ""}, "title"),
        ({"starts_at": "2026-05-12 10:00"}, "starts_at"),
        ({"participant_org_ids": [999999]}, "participant_org_ids"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(coordinator, fields, field):
    before = count_drills()
    with pytest.raises(ValidationError) as error:
        create_drill(coordinator, plan(organizer_region_code=WUSU, **fields))
    assert field in error.value.errors
    assert count_drills() == before


def test_end_before_start_refused(coordinator):
    start = at(days=3)
    with pytest.raises(ValidationError) as error:
        create_drill(
            coordinator, plan(organizer_region_code=WUSU, start=start, ends_at=(start - timedelta(hours=1)).isoformat())
        )
    assert error.value.errors["ends_at"] == ["The end must be after the start."]


def test_exactly_one_organiser(coordinator, school):
    with pytest.raises(ValidationError) as error:
        create_drill(coordinator, plan())
    assert "organizer_org_id" in error.value.errors
    with pytest.raises(ValidationError):
        create_drill(coordinator, plan(organizer_org_id=school.id, organizer_region_code=WUSU))


def test_staff_cannot_plan_for_another_unit_or_a_region(staff, make_org):
    other = make_org(region_code=WUSU)
    with pytest.raises(Forbidden):
        create_drill(staff, plan(organizer_org_id=other.id))
    with pytest.raises(Forbidden):
        create_drill(staff, plan(organizer_region_code=WUSU))


def test_viewer_cannot_plan(make_user):
    viewer = make_user(role=Role.VIEWER)
    with pytest.raises(Forbidden):
        create_drill(viewer, plan(organizer_region_code=WUSU))


def test_coordinator_cannot_plan_in_another_county(coordinator):
    with pytest.raises(Forbidden):
        create_drill(coordinator, plan(organizer_region_code=TACHENG_CITY))


def test_enter_after_the_fact_and_complete_at_once(staff, school):
    start = at(days=-40)
    drill = create_drill(
        staff,
        plan(
            organizer_org_id=school.id,
            start=start,
            participation={"counts": {"students": 820, "staff": 64}, "evacuation_seconds": 105},
        ),
    )
    assert drill.status == DrillStatus.COMPLETED
    assert drill.participation.total == 884
    assert DrillSchema().dump(drill)["participation"]["evacuation_target_seconds"] == 120
    assert [e.action for e in entries_for("drill", drill.id)] == ["drill.create", "drill.complete"]


def test_after_the_fact_without_participation_changes_nothing(staff, school):
    before = count_drills()
    with pytest.raises(ValidationError) as error:
        create_drill(
            staff, plan(organizer_org_id=school.id, start=at(days=-3), participation={"counts": {"students": 0}})
        )
    assert "participation.counts" in error.value.errors
    assert count_drills() == before


def test_cannot_complete_a_future_drill_at_creation(staff, school):
    with pytest.raises(ValidationError) as error:
        create_drill(
            staff, plan(organizer_org_id=school.id, start=at(days=3), participation={"counts": {"students": 10}})
        )
    assert "starts_at" in error.value.errors


def test_reschedule_keeps_identity_raises_sequence_and_version(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    first_update = drill.updated_at
    new_start = at(days=20)
    reschedule_drill(
        staff, drill, new_start, new_start + timedelta(hours=2), version=1, now=first_update + timedelta(minutes=5)
    )
    same = db.session.get(Drill, drill.id)
    assert same.starts_at == new_start and same.sequence == 1 and same.version == 2
    assert same.updated_at == first_update + timedelta(minutes=5)
    entry = entries_for("drill", drill.id)[-1]
    assert entry.action == "drill.update" and entry.before["sequence"] == 0 and entry.after["sequence"] == 1


def test_edit_without_moving_keeps_sequence(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    update_drill(staff, drill, {"location": "操场", "version": 1})
    assert drill.sequence == 0 and drill.version == 2 and drill.location == "操场"


def test_stale_version_is_a_conflict_and_changes_nothing(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    update_drill(staff, drill, {"location": "A", "version": 1})
    db.session.commit()
    with pytest.raises(Conflict):
        update_drill(staff, drill, {"location": "B", "version": 1})
    db.session.rollback()
    assert db.session.get(Drill, drill.id).location == "A"


def test_update_requires_version(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    with pytest.raises(ValidationError) as error:
        update_drill(staff, drill, {"location": "A"})
    assert "version" in error.value.errors


def test_update_end_before_start_refused(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    with pytest.raises(ValidationError) as error:
        update_drill(staff, drill, {"ends_at": (drill.starts_at - timedelta(minutes=1)).isoformat(), "version": 1})
    assert "ends_at" in error.value.errors
    assert drill.version == 1


def test_other_unit_cannot_edit(staff, school, make_org, make_user):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    outsider = make_user(role=Role.ORG_STAFF, org=make_org(region_code=WUSU))
    with pytest.raises(Forbidden):
        update_drill(outsider, drill, {"location": "X", "version": 1})


def test_cancel_with_reason(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    cancel_drill(staff, drill, {"reason": "暴雪停课", "version": 1})
    assert drill.status == DrillStatus.CANCELLED and drill.cancel_reason == "暴雪停课"
    assert drill.cancelled_at is not None and drill.version == 2
    assert entries_for("drill", drill.id)[-1].action == "drill.cancel"
    with pytest.raises(Conflict):
        update_drill(staff, drill, {"location": "X", "version": 2})
    with pytest.raises(Conflict):
        complete_drill(staff, drill, {"participation": {"counts": {"students": 1}}})


def test_cancel_needs_reason(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id))
    with pytest.raises(ValidationError) as error:
        cancel_drill(staff, drill, {"reason": "  "})
    assert "reason" in error.value.errors and drill.status == DrillStatus.PLANNED


def test_complete_with_participation(staff, school, make_org):
    helper = make_org(region_code=WUSU)
    drill = create_drill(staff, plan(organizer_org_id=school.id, start=at(hours=-2)))
    complete_drill(
        staff,
        drill,
        {
            "participation": {"counts": {"students": 900, "staff": 70, "others": 3}, "evacuation_seconds": 140},
            "participant_org_ids": [school.id, helper.id],
            "version": 1,
        },
    )
    assert drill.status == DrillStatus.COMPLETED and drill.version == 2
    assert drill.participation.evacuation_seconds == 140 and drill.participation.total == 973
    assert {o.id for o in drill.participants} == {school.id, helper.id}


@pytest.mark.parametrize(
    "participation, field",
    [
        ({"counts": {}}, "participation.counts"),
        ({"counts": {"students": 0, "staff": 0}}, "participation.counts"),
        ({"counts": {"students": -5, "staff": 10}}, "participation.counts.students"),
        ({"counts": {"pets": 3}}, "participation.counts.pets"),
        ({"counts": {"students": 5}, "evacuation_seconds": 0}, "participation.evacuation_seconds"),
        (None, "participation"),
    ],
)
def test_bad_completion_refused_and_nothing_changed(staff, school, participation, field):
    drill = create_drill(staff, plan(organizer_org_id=school.id, start=at(hours=-2)))
    db.session.commit()
    with pytest.raises(ValidationError) as error:
        complete_drill(staff, drill, {"participation": participation})
    assert field in error.value.errors
    db.session.rollback()
    fresh = db.session.get(Drill, drill.id)
    assert fresh.status == DrillStatus.PLANNED and fresh.participation is None and fresh.version == 1


def test_completing_again_corrects_participation_and_bumps_version(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id, start=at(hours=-2)))
    complete_drill(staff, drill, {"participation": {"counts": {"students": 10}}})
    complete_drill(staff, drill, {"participation": {"counts": {"students": 12}}, "version": 2})
    assert drill.participation.students == 12 and drill.version == 3
    assert entries_for("drill", drill.id)[-1].action == "drill.participation"


def test_future_drill_cannot_be_completed(staff, school):
    drill = create_drill(staff, plan(organizer_org_id=school.id, start=at(days=2)))
    with pytest.raises(ValidationError):
        complete_drill(staff, drill, {"participation": {"counts": {"students": 10}}})


def test_filters(coordinator, school, make_org, make_user):
    other = make_org(region_code=TACHENG_CITY)
    admin = make_user(role=Role.ADMIN)
    a = create_drill(admin, plan(organizer_org_id=school.id, start=at(days=5)))
    b = create_drill(admin, plan(organizer_org_id=other.id, form="tabletop", start=at(days=40)))

    def ids(**args):
        return {d.id for d in db.session.scalars(drill_query(admin, read_filters(args)))}

    assert ids(region=WUSU) >= {a.id} and b.id not in ids(region=WUSU)
    assert ids(org=str(other.id)) == {b.id}
    assert b.id in ids(form="tabletop") and a.id not in ids(form="tabletop")
    assert a.id in ids(status="planned")
    day = (at(days=40) + timedelta(hours=8)).date()
    assert b.id in ids(**{"from": day.isoformat()}) and a.id not in ids(**{"from": day.isoformat()})
    with pytest.raises(ValidationError) as error:
        read_filters({"form": "parade"})
    assert "form" in error.value.errors


def test_evacuation_trend(staff, school):
    for days, seconds in ((-90, 150), (-60, 130), (-30, 110)):
        create_drill(
            staff,
            plan(
                organizer_org_id=school.id,
                start=at(days=days),
                participation={"counts": {"students": 100}, "evacuation_seconds": seconds},
            ),
        )
    trend = evacuation_trend(staff, school.id)
    assert [d.participation.evacuation_seconds for d in trend] == [150, 130, 110]
    assert all(d.form == DrillForm.EVACUATION for d in trend)


def test_editor_keeps_participants_outside_own_choice(staff, school, make_org, make_user):
    admin = make_user(role=Role.ADMIN)
    far = make_org(region_code=TACHENG_CITY)
    drill = create_drill(admin, plan(organizer_org_id=school.id, participant_org_ids=[far.id]))
    update_drill(staff, drill, {"location": "礼堂", "participant_org_ids": [far.id, school.id], "version": 1})
    assert {o.id for o in drill.participants} == {far.id, school.id}
    other_far = make_org(region_code=TACHENG_CITY)
    with pytest.raises(ValidationError) as error:
        update_drill(staff, drill, {"participant_org_ids": [other_far.id], "version": 2})
    assert "participant_org_ids" in error.value.errors
