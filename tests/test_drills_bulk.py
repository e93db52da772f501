"""Planning for many units at once (issue 14 point 5): one joint drill or one drill / series per unit, the
scope matrix, the caps, all-or-nothing, double submits, and the weekend / holiday flags of real dates."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.audit.models import AuditEntry
from drillmgr.drills import bulk, lifecycle, workdays
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.drills.series_schemas import BulkPlanSchema, DayFlagSchema
from drillmgr.enums import DrillStatus, Focus, OrgKind, Role
from drillmgr.errors import Forbidden, NotFound, ValidationError
from drillmgr.extensions import db
from drillmgr.unit_of_work import unit
from drillmgr.orgs.models import Organisation
from tests.conftest import SHAWAN, WUSU

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 8, 1, 0, 0, tzinfo=timezone.utc)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def wusu_units(make_region, make_org):
    town_a = make_region(name="测试甲镇")
    town_b = make_region(name="测试乙镇")
    schools = [make_org(name=f"甲镇第{n}小学", region_code=town_a.code) for n in range(1, 4)]
    schools += [make_org(name=f"乙镇第{n}小学", region_code=town_b.code) for n in range(1, 3)]
    kindergarten = make_org(name="甲镇幼儿园", kind=OrgKind.KINDERGARTEN, region_code=town_a.code)
    hospital = make_org(name="甲镇卫生院", kind=OrgKind.HOSPITAL, region_code=town_a.code)
    shawan_school = make_org(name="沙湾第一小学", region_code=SHAWAN)
    return {
        "town_a": town_a,
        "town_b": town_b,
        "schools": schools,
        "kindergarten": kindergarten,
        "hospital": hospital,
        "shawan_school": shawan_school,
    }


@pytest.fixture
def coordinator(make_user):
    return make_user(role=Role.COORDINATOR, region_code=WUSU)


def plan(**fields) -> dict:
    start = datetime(2026, 9, 15, 10, 0, tzinfo=BEIJING)
    return {
        "mode": "per_unit",
        "region_code": WUSU,
        "kinds": ["school"],
        "title": "秋季避险疏散演练",
        "form": "evacuation",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=40)).isoformat(),
        "location": "操场",
    } | fields


def test_one_drill_per_unit_is_organised_by_each_school(coordinator, wusu_units):
    key, made = bulk.make_plan(coordinator, plan(), now=NOW)
    drills = db.session.scalars(
        sa.select(Drill).where(Drill.title == "秋季避险疏散演练").order_by(Drill.organizer_org_id)
    ).all()
    assert sorted(d.organizer_org_id for d in drills) == sorted(o.id for o in wusu_units["schools"])
    assert {d.region_code for d in drills} == {wusu_units["town_a"].code, wusu_units["town_b"].code}
    assert all(d.starts_at == datetime(2026, 9, 15, 2, 0, tzinfo=timezone.utc) for d in drills)
    assert all(d.ends_at - d.starts_at == timedelta(minutes=40) and d.location == "操场" for d in drills)
    assert all(d.status == DrillStatus.PLANNED and d.created_by_id == coordinator.id for d in drills)
    assert made.drill_count == 5 and made.series_count == 0
    summary = bulk.batch_summary(coordinator, key)
    assert sorted(d.id for d in summary.drills) == sorted(d.id for d in drills)
    assert [u.name for u in summary.units] == [
        "甲镇第1小学",
        "甲镇第2小学",
        "甲镇第3小学",
        "乙镇第1小学",
        "乙镇第2小学",
    ]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.entity_type == "drill_batch"))
    assert entry.entity_id == key and entry.user_id == coordinator.id
    assert sorted(entry.after["drill_ids"]) == sorted(d.id for d in drills)


def test_one_joint_drill_names_every_unit_of_the_kinds_as_participant(coordinator, wusu_units):
    key, made = bulk.make_plan(
        coordinator,
        plan(mode="joint", kinds=["school", "kindergarten"], region_code=wusu_units["town_a"].code),
        now=NOW,
    )
    drill = db.session.scalar(sa.select(Drill).where(Drill.title == "秋季避险疏散演练"))
    assert drill.organizer_region_code == wusu_units["town_a"].code and drill.organizer_org_id is None
    assert sorted(o.name for o in drill.participants) == sorted(
        ["甲镇第1小学", "甲镇第2小学", "甲镇第3小学", "甲镇幼儿园"]
    )
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Drill).where(Drill.title == "秋季避险疏散演练")) == 1
    )
    assert made.drill_count == 1


def test_a_series_per_unit_with_an_end_makes_each_units_terms_drills(coordinator, wusu_units):
    key, made = bulk.make_plan(
        coordinator, plan(rrule="FREQ=MONTHLY;BYMONTH=9,10,11,12;UNTIL=20261231", kinds=["kindergarten"]), now=NOW
    )
    series = db.session.scalars(sa.select(DrillSeries)).all()
    assert len(series) == 1 and series[0].template["organizer_org_id"] == wusu_units["kindergarten"].id
    drills = db.session.scalars(sa.select(Drill).where(Drill.series_id == series[0].id).order_by(Drill.starts_at))
    assert [d.starts_at.astimezone(BEIJING).date() for d in drills] == [
        date(2026, 9, 15),
        date(2026, 10, 15),
        date(2026, 11, 15),
        date(2026, 12, 15),
    ]
    assert made.total_per_series == 4 and made.series_count == 1 and made.drill_count == 4


def test_chosen_units_only_and_others_refused(coordinator, wusu_units):
    first, second = wusu_units["schools"][:2]
    key, made = bulk.make_plan(coordinator, plan(org_ids=[first.id, second.id]), now=NOW)
    assert [u.id for u in made.units] == [first.id, second.id]
    with pytest.raises(ValidationError) as error:
        bulk.read_plan(
            coordinator, plan(org_ids=[first.id, wusu_units["hospital"].id, wusu_units["shawan_school"].id]), now=NOW
        )
    assert error.value.errors["org_ids"] == [
        f"Unit {wusu_units['hospital'].id} is not one of the chosen kinds in this region.",
        f"Unit {wusu_units['shawan_school'].id} is not one of the chosen kinds in this region.",
    ]


def test_preview_makes_nothing_and_shows_flags(coordinator, wusu_units):
    start = datetime(2026, 9, 26, 9, 0, tzinfo=BEIJING)  # Saturday; then weekly: 10-03 holiday, 10-10 workday
    made = bulk.read_plan(
        coordinator,
        plan(
            starts_at=start.isoformat(), ends_at=(start + timedelta(hours=1)).isoformat(), rrule="FREQ=WEEKLY;COUNT=4"
        ),
        now=NOW,
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == 0
    flags = [[f["kind"] for f in o["flags"]] for o in BulkPlanSchema().dump(made)["occurrences"]]
    assert flags == [["weekend"], ["holiday"], ["adjusted_workday"], ["weekend"]]
    assert made.drill_count == 20 and made.series_count == 5


@pytest.mark.parametrize("who", ["staff", "viewer", "other_coordinator"])
def test_scope_unit_staff_viewers_and_other_counties_cannot_plan_for_many(who, make_user, wusu_units):
    school = wusu_units["schools"][0]
    actor = {
        "staff": lambda: make_user(role=Role.ORG_STAFF, org=school),
        "viewer": lambda: make_user(role=Role.VIEWER, region_code=WUSU),
        "other_coordinator": lambda: make_user(role=Role.COORDINATOR, region_code=SHAWAN),
    }[who]()
    with pytest.raises(Forbidden):
        bulk.make_plan(actor, plan(), now=NOW)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == 0


def test_scope_admin_plans_anywhere_and_coordinator_in_own_township(make_user, wusu_units):
    admin = make_user(role=Role.ADMIN)
    key, made = bulk.make_plan(admin, plan(region_code=SHAWAN), now=NOW)
    assert [u.name for u in made.units] == ["沙湾第一小学"]
    township_coordinator = make_user(role=Role.COORDINATOR, region_code=wusu_units["town_b"].code)
    key, made = bulk.make_plan(township_coordinator, plan(region_code=wusu_units["town_b"].code), now=NOW)
    assert [u.name for u in made.units] == ["乙镇第1小学", "乙镇第2小学"]
    with pytest.raises(Forbidden):
        bulk.read_plan(township_coordinator, plan(region_code=WUSU), now=NOW)
    # Another coordinator cannot read the summary of someone else's batch outside their region.
    shawan = make_user(role=Role.COORDINATOR, region_code=SHAWAN)
    with pytest.raises(NotFound):
        bulk.batch_summary(shawan, key)


def test_all_two_thousand_units_are_refused_whole(coordinator, make_region):
    town = make_region(name="测试大镇")
    db.session.add_all(
        [
            Organisation(name=f"大镇第{n}小学", kind=OrgKind.SCHOOL, region_code=town.code, headcount=100)
            for n in range(2000)
        ]
    )
    db.session.commit()
    with pytest.raises(ValidationError) as error:
        bulk.make_plan(coordinator, plan(), now=NOW)
    assert error.value.errors["kinds"] == [
        "2000 units match; at most 300 can be planned for at once. Choose a smaller region or fewer kinds."
    ]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == 0


def test_a_never_ending_rule_is_bounded_and_too_many_drills_refused(coordinator, make_region):
    town = make_region(name="测试中镇")
    db.session.add_all(
        [
            Organisation(name=f"中镇第{n}小学", kind=OrgKind.SCHOOL, region_code=town.code, headcount=100)
            for n in range(120)
        ]
    )
    db.session.commit()
    with pytest.raises(ValidationError) as error:
        bulk.read_plan(coordinator, plan(rrule="FREQ=WEEKLY"), now=NOW)
    assert error.value.errors["rrule"] == [
        "This plan would make 6360 drills at once; at most 1500. Plan for fewer units or a shorter series."
    ]
    # A year of the first drill (15 September 2026 to 2027), every two months: 7 each, the rest made nightly.
    made = bulk.read_plan(coordinator, plan(rrule="FREQ=MONTHLY;INTERVAL=2", region_code=town.code), now=NOW)
    assert made.total_per_series is None and len(made.occurrences) == 7 and made.drill_count == 840
    with pytest.raises(ValidationError) as error:
        bulk.read_plan(coordinator, plan(rrule="FREQ=DAILY"), now=NOW)
    assert "more than 60 drills a year" in error.value.errors["rrule"][0]


def test_all_or_nothing_when_one_unit_fails(coordinator, wusu_units, monkeypatch):
    calls = []
    original = lifecycle.new_drill

    def failing(values, actor, now):
        calls.append(values["organizer_org_id"])
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return original(values, actor, now)

    monkeypatch.setattr(lifecycle, "new_drill", failing)
    with pytest.raises(RuntimeError), unit():  # the request's unit of work: it is rolled back whole
        bulk.make_plan(coordinator, plan(), now=NOW)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == 0
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.entity_type == "drill_batch")
        )
        == 0
    )


def test_hostile_fields(coordinator, wusu_units):
    with pytest.raises(ValidationError) as error:
        bulk.read_plan(
            coordinator,
            plan(mode="all", kinds=["spaceship"], region_code="9" * 40, org_ids=[2**80], title="\x00"),
            now=NOW,
        )
    assert set(error.value.errors) == {"mode", "kinds", "region_code", "org_ids"}
    with pytest.raises(ValidationError) as error:
        bulk.read_plan(coordinator, plan(region_code="659999"), now=NOW)
    assert error.value.errors == {"region_code": ["No such region: 659999."]}
    with pytest.raises(ValidationError) as error:
        bulk.read_plan(coordinator, plan(kinds=[]), now=NOW)
    assert error.value.errors == {"kinds": ["Choose at least one kind of unit."]}
    # The request cannot choose the organiser or smuggle in participants.
    key, made = bulk.make_plan(
        coordinator,
        plan(organizer_org_id=wusu_units["shawan_school"].id, participant_org_ids=[wusu_units["shawan_school"].id]),
        now=NOW,
    )
    drills = db.session.scalars(sa.select(Drill)).all()
    assert {d.organizer_org_id for d in drills} == {o.id for o in wusu_units["schools"]}
    assert all(d.participants == [] for d in drills)


def test_key_county_focus_defaults_per_unit(coordinator, wusu_units):
    bulk.make_plan(coordinator, plan(form="live", scope="comprehensive", kinds=["hospital"]), now=NOW)
    drill = db.session.scalar(sa.select(Drill).where(Drill.organizer_org_id == wusu_units["hospital"].id))
    assert set(drill.focus) == {Focus.COMMAND_POST, Focus.COMMAND_COMMS, Focus.FORCE_ORGANIZATION}


# --- weekend and holiday flags of real dates -----------------------------------------------------


@pytest.mark.parametrize(
    "day, kinds",
    [
        (date(2026, 10, 1), ["holiday"]),  # National Day, a Thursday
        (date(2026, 10, 3), ["holiday"]),  # National Day on a Saturday: a holiday, not "just" a weekend
        (date(2026, 10, 10), ["adjusted_workday"]),  # Saturday worked in lieu of 7 October
        (date(2026, 9, 20), ["adjusted_workday"]),  # Sunday worked in lieu of 6 October
        (date(2026, 2, 14), ["adjusted_workday"]),  # Saturday worked for the Spring Festival
        (date(2026, 10, 11), ["weekend"]),
        (date(2026, 10, 12), []),
        (date(2027, 10, 1), ["holiday"]),
        (date(2027, 2, 6), ["holiday"]),  # Spring Festival 2027
        (date(2027, 3, 6), ["weekend"]),
        (date(2027, 3, 8), []),
    ],
)
def test_real_2026_2027_days_are_flagged(day, kinds):
    assert [flag.kind for flag in workdays.flags(day)] == kinds


def test_flag_texts_and_a_moment_in_beijing_time():
    # 2026-09-30T17:00Z is 1 October, 01:00 in Beijing: the holiday.
    assert DayFlagSchema(many=True).dump(workdays.flags(datetime(2026, 9, 30, 17, 0, tzinfo=timezone.utc))) == [
        {"kind": "holiday", "text": "Public holiday: National Day"}
    ]
    assert workdays.arrangement_known(2026)
