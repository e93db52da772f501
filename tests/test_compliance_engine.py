"""The compliance engine: every rule and status, at the period boundaries, in Beijing time."""

import gc
import importlib
import pickle
import weakref
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.interfaces import CacheStats

from drillmgr.access.services import SYSTEM
from drillmgr.compliance import drill_rules
from drillmgr.compliance.county_rules import LIST_LIMIT
from drillmgr.compliance.evaluation import evaluate, no_garbage_collection
from drillmgr.compliance.snapshots import snapshot_changes
from drillmgr.compliance.subjects import county_map
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.periods import periods, reporting_half, reporting_half_of
from drillmgr.compliance.results import SUBJECT_ID, pack_results, unpack_results
from drillmgr.compliance.rules import RULE_KEYS, ensure_rules, get_rule, update_rule
from drillmgr.enums import (
    ActionStatus,
    ComplianceStatus,
    DrillForm,
    DrillScope,
    DrillStatus,
    FilingStatus,
    FindingCategory,
    ObservanceDay,
    OrgKind,
    OutreachKind,
    RegionLevel,
    Role,
    Severity,
    SixIntoSetting,
)
from drillmgr.errors import Forbidden, ValidationError
from drillmgr.exercises.enums import SessionStatus
from drillmgr.exercises.models import ExerciseSession
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.outreach.models import OutreachActivity
from tests.conftest import PREFECTURE, SHAWAN, TACHENG_CITY, WUSU, statements_sent

BJ = ZoneInfo("Asia/Shanghai")
YEAR = 2031  # a year no other test writes drills into
KEY_LINKS = ("command_post", "command_comms", "force_organization")
S = ComplianceStatus


@pytest.fixture(autouse=True)
def _request(app, _transaction):
    """Messages are translated for a request's locale; these tests read them in English."""
    with app.test_request_context("/api/v1/", headers={"Accept-Language": "en"}):
        yield


def bj(month, day, hour=10, minute=0, year=YEAR) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BJ).astimezone(timezone.utc)


def result(rule_key, subject, now, region=None, user=SYSTEM, year=YEAR):
    for rule_result in evaluate(year, region, actor=user, now=now, rule_keys=[rule_key]):
        for r in rule_result.results:
            if r.subject_id == str(subject):
                return r
    return None


@pytest.fixture
def live(make_drill):
    def make(starts_at, region=WUSU, status=DrillStatus.COMPLETED, focus=KEY_LINKS, **fields):
        return make_drill(
            organizer=region,
            starts_at=starts_at,
            form=DrillForm.LIVE,
            scope=DrillScope.COMPREHENSIVE,
            focus=focus,
            status=status,
            **fields,
        )

    return make


# --- periods -------------------------------------------------------------------------------------


def test_reporting_halves_end_on_the_deadlines(app):
    h1, h2 = reporting_half(YEAR, 1), reporting_half(YEAR, 2)
    assert (h1.first_day, h1.last_day) == (date(YEAR - 1, 11, 9), date(YEAR, 6, 7))
    assert (h2.first_day, h2.last_day) == (date(YEAR, 6, 8), date(YEAR, 11, 8))
    assert h1.end == h2.start == bj(6, 8, 0)
    assert reporting_half_of(date(YEAR, 11, 9)) == (YEAR + 1, 1)
    assert reporting_half_of(date(YEAR, 6, 7)) == (YEAR, 1)
    assert reporting_half_of(date(YEAR, 6, 8)) == (YEAR, 2)


def test_year_ends_at_beijing_midnight(app):
    (year,) = periods("year", YEAR)
    assert year.end == datetime(YEAR, 12, 31, 16, 0, tzinfo=timezone.utc)
    assert [p.label for p in periods("month", YEAR, [9, 3])] == [f"{YEAR}-03", f"{YEAR}-09"]


# --- the rule set as data ------------------------------------------------------------------------


def test_rules_are_materialised_once_and_edits_carry_over(make_user):
    rules = ensure_rules(YEAR)
    assert [r.key for r in rules] == list(RULE_KEYS)
    assert len(ensure_rules(YEAR)) == len(RULE_KEYS)
    admin = make_user(role=Role.ADMIN)
    school = get_rule(YEAR, "school-evacuation")
    update_rule(
        admin,
        school,
        {
            "warning_days": "30",
            "count": "2",
            "period": "month",
            "months": ["3", "4"],
            "org_kinds": ["school"],
            "enabled": "on",
            "credit_real_response": "on",
        },
    )
    assert school.params["months"] == [3, 4] and school.params["count"] == 2 and school.version == 2
    carried = get_rule(YEAR + 1, "school-evacuation")
    assert carried.params["months"] == [3, 4] and carried.params["warning_days"] == 30
    from drillmgr.audit.services import entries_for

    (entry,) = entries_for("compliance_rule", school.id)
    assert entry.before["params"]["count"] == 1 and entry.after["params"]["count"] == 2


def test_rule_edit_rejects_bad_input_and_non_admins(make_user):
    rule = get_rule(YEAR, "school-evacuation")
    with pytest.raises(ValidationError) as caught:
        update_rule(
            make_user(role=Role.ADMIN),
            rule,
            {"warning_days": "-1", "count": "x", "period": "week", "org_kinds": ["castle"]},
        )
    assert set(caught.value.errors) == {"warning_days", "count", "period", "org_kinds"}
    db.session.refresh(rule)
    assert rule.params["count"] == 1 and rule.version == 1
    with pytest.raises(Forbidden):
        update_rule(make_user(role=Role.COORDINATOR), rule, {"warning_days": "10"})


def test_disabled_rule_is_not_evaluated(make_user):
    rule = get_rule(YEAR, "six-into")
    rule.enabled = False
    db.session.commit()
    assert "six-into" not in [r.key for r in evaluate(YEAR, actor=SYSTEM, now=bj(3, 1))]


# --- 1. key-county comprehensive live drill ------------------------------------------------------


def test_only_key_counties_are_subjects_of_the_key_county_rules():
    (rule,) = evaluate(YEAR, actor=SYSTEM, now=bj(3, 1), rule_keys=["key-county-comprehensive-live"])
    assert {r.subject_id for r in rule.results} == {WUSU, SHAWAN}


def test_live_drill_statuses_through_the_year(live, make_region):
    assert result("key-county-comprehensive-live", WUSU, bj(3, 1)).status == S.NOT_DUE
    assert result("key-county-comprehensive-live", WUSU, bj(11, 15)).status == S.AT_RISK
    township = make_region(parent_code=WUSU)
    planned = live(bj(12, 20), region=township.code, status=DrillStatus.PLANNED)
    on_track = result("key-county-comprehensive-live", WUSU, bj(11, 15))
    assert on_track.status == S.ON_TRACK and on_track.evidence[0]["id"] == planned.id
    assert result("key-county-comprehensive-live", WUSU, bj(1, 1, 0, year=YEAR + 1)).status == S.MISSED
    planned.status = DrillStatus.COMPLETED
    db.session.commit()
    met = result("key-county-comprehensive-live", WUSU, bj(1, 2, year=YEAR + 1))
    assert met.status == S.MET and met.achieved == met.required == 1
    assert met.evidence == [
        {
            "type": "drill",
            "id": planned.id,
            "title": planned.title,
            "starts_at": f"{YEAR}-12-20T10:00:00+08:00",
            "status": "completed",
        }
    ]


def test_drill_missing_a_key_link_does_not_count_and_says_which(live):
    live(bj(5, 12), focus=("command_post", "force_organization", "medical"))
    r = result("key-county-comprehensive-live", WUSU, bj(5, 20))
    assert r.status == S.NOT_DUE and r.achieved == 0 and r.missing == ["command_comms"] and r.evidence == []
    assert result("key-county-comprehensive-live", WUSU, bj(1, 3, year=YEAR + 1)).missing == ["command_comms"]


def test_no_live_drill_at_all_misses_the_year(app):
    r = result("key-county-comprehensive-live", SHAWAN, bj(1, 1, 0, year=YEAR + 1))
    assert r.status == S.MISSED and r.missing == [str(YEAR)]


def test_live_drill_at_31_december_23_59_beijing_counts_for_that_year(live):
    live(bj(12, 31, 23, 59), minutes=1)
    assert result("key-county-comprehensive-live", WUSU, bj(1, 5, year=YEAR + 1)).status == S.MET
    live(bj(1, 1, 0, 0, year=YEAR + 1), region=SHAWAN)
    assert result("key-county-comprehensive-live", SHAWAN, bj(1, 5, year=YEAR + 1)).status == S.MISSED


def test_cancelled_and_other_county_drills_never_count(live):
    live(bj(12, 1), status=DrillStatus.CANCELLED)
    live(bj(6, 1), region=TACHENG_CITY)
    single = live(bj(6, 2))
    single.scope = DrillScope.SINGLE
    db.session.commit()
    assert result("key-county-comprehensive-live", WUSU, bj(11, 15)).status == S.AT_RISK


# --- 2. key-county double-blind tabletop per reporting period -------------------------------------


def run_through_console(drill):
    """From 2027 a double-blind tabletop counts only if the exercise console revealed it at its start."""
    db.session.add(
        ExerciseSession(
            drill_id=drill.id, status=SessionStatus.ENDED, started_at=drill.starts_at, revealed_by_console=True
        )
    )
    db.session.commit()


@pytest.fixture
def blind(make_drill):
    def make(starts_at, region=WUSU, status=DrillStatus.COMPLETED, double_blind=True):
        drill = make_drill(
            organizer=region, starts_at=starts_at, form=DrillForm.TABLETOP, double_blind=double_blind, status=status
        )
        if status == DrillStatus.COMPLETED:
            run_through_console(drill)
        return drill

    return make


def test_double_blind_tabletop_at_the_7_june_and_8_november_boundaries(blind):
    blind(bj(6, 7, 23, 30))
    r = result("key-county-double-blind-tabletop", WUSU, bj(6, 10))
    assert [s.status for s in r.slots] == [S.MET, S.NOT_DUE]
    blind(bj(11, 8, 23, 0))
    r = result("key-county-double-blind-tabletop", WUSU, bj(11, 9, 0, 30))
    assert [s.status for s in r.slots] == [S.MET, S.MET] and r.status == S.MET
    blind(bj(11, 9, 0, 30), region=SHAWAN)
    r = result("key-county-double-blind-tabletop", SHAWAN, bj(11, 10))
    assert r.status == S.MISSED and r.missing == [f"{YEAR}-H1", f"{YEAR}-H2"]
    nxt = result("key-county-double-blind-tabletop", SHAWAN, bj(11, 10), year=YEAR + 1)
    assert nxt.slots[0].status == S.MET


def test_plain_tabletop_is_not_double_blind(blind):
    blind(bj(3, 1), double_blind=False)
    assert result("key-county-double-blind-tabletop", WUSU, bj(5, 1)).status == S.AT_RISK


def test_future_double_blind_drill_is_hidden_from_viewers_not_coordinators(blind, make_user):
    secret = blind(bj(5, 20), status=DrillStatus.PLANNED)
    coordinator, viewer = make_user(role=Role.COORDINATOR, region_code=WUSU), make_user(role=Role.VIEWER)
    seen = result("key-county-double-blind-tabletop", WUSU, bj(5, 1), region=WUSU, user=coordinator)
    assert seen.status == S.ON_TRACK and seen.evidence[0]["id"] == secret.id
    hidden = result("key-county-double-blind-tabletop", WUSU, bj(5, 1), region=WUSU, user=viewer)
    assert hidden.status == S.AT_RISK and hidden.evidence == []
    # Once it has started, everybody may know of it.
    secret.status = DrillStatus.COMPLETED
    run_through_console(secret)
    assert result("key-county-double-blind-tabletop", WUSU, bj(5, 21), region=WUSU, user=viewer).status != S.AT_RISK


# --- 3. evacuation drills of schools, kindergartens, hospitals ------------------------------------


@pytest.fixture
def evac(make_drill):
    def make(org, starts_at, status=DrillStatus.COMPLETED, **fields):
        return make_drill(organizer=org, starts_at=starts_at, form=DrillForm.EVACUATION, status=status, **fields)

    return make


def test_school_months_and_their_boundaries(make_org, evac):
    school = make_org(kind=OrgKind.SCHOOL)
    evac(school, bj(1, 15))  # January is not a school month: does not count anywhere
    evac(school, bj(3, 31, 23, 59))  # still March in Beijing
    evac(school, bj(2, 28, 23, 0) + timedelta(hours=1))  # 1 March 00:00 Beijing
    r = result("school-evacuation", school.id, bj(4, 15))
    assert [(s.label, s.achieved) for s in r.slots[:2]] == [(f"{YEAR}-03", 2), (f"{YEAR}-04", 0)]
    assert r.slots[1].status == S.AT_RISK and r.slots[2].status == S.NOT_DUE and r.status == S.AT_RISK
    assert r.required == 8 and r.achieved == 1
    evac(school, bj(4, 1, 0, 0))
    r = result("school-evacuation", school.id, bj(4, 15))
    assert r.status == S.NOT_DUE and r.achieved == 2  # met so far, the rest not yet due
    assert result("school-evacuation", school.id, bj(5, 1, 0, 0)).status == S.AT_RISK
    assert result("school-evacuation", school.id, bj(6, 1, 0, 0)).status == S.MISSED
    assert f"{YEAR}-05" in result("school-evacuation", school.id, bj(6, 1, 0, 0)).missing


def test_school_is_credited_for_drills_it_took_part_in(make_org, make_drill):
    school = make_org(kind=OrgKind.SCHOOL)
    county_drill = make_drill(
        organizer=WUSU,
        starts_at=bj(3, 10),
        form=DrillForm.EVACUATION,
        status=DrillStatus.COMPLETED,
        participants=[school],
    )
    r = result("school-evacuation", school.id, bj(3, 20))
    assert r.slots[0].status == S.MET and r.evidence[0]["id"] == county_drill.id


def test_drill_a_school_organised_and_took_part_in_counts_once(make_org, evac):
    school = make_org(kind=OrgKind.SCHOOL)
    evac(school, bj(3, 10), participants=[school])
    r = result("school-evacuation", school.id, bj(3, 20))
    assert r.slots[0].achieved == 1


def test_dashboard_evaluation_without_evidence_details_agrees(make_org, evac, live):
    school = make_org(kind=OrgKind.SCHOOL)
    drill = evac(school, bj(3, 10))
    live(bj(5, 12), focus=("command_post", "force_organization"))
    full = evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(3, 20))
    bare = evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(3, 20), evidence=False)
    assert [[(r.subject_id, r.status, r.achieved) for r in rr.results] for rr in full] == [
        [(r.subject_id, r.status, r.achieved) for r in rr.results] for rr in bare
    ]
    school_result = next(
        r for rr in bare if rr.key == "school-evacuation" for r in rr.results if r.subject_id == str(school.id)
    )
    assert school_result.evidence == [{"type": "drill", "id": drill.id, "status": "completed"}]
    live_result = next(r for rr in bare if rr.key == "key-county-comprehensive-live" for r in rr.results)
    assert live_result.missing == ["command_comms"]


def test_results_packed_to_be_kept_come_back_equal(make_org, evac, live):
    """What the shared store keeps (nested tuples, pickled) is every field of every result and slot."""
    school = make_org(kind=OrgKind.SCHOOL)
    evac(school, bj(3, 10))
    evac(school, bj(5, 10), status=DrillStatus.PLANNED)
    live(bj(5, 12), focus=("command_post", "force_organization"))
    for rr in evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(4, 20)):
        kept = pickle.loads(pickle.dumps(pack_results(rr.results)))
        assert unpack_results(kept) == rr.results, rr.key
        assert [r.subject_id for r in rr.results] == [row[SUBJECT_ID] for row in kept]
    assert any(
        slot.planned_evidence
        for rr in evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(4, 20))
        for r in rr.results
        for slot in r.slots
    )


def test_planned_back_entered_and_cancelled_evacuation_drills(make_org, evac):
    school = make_org(kind=OrgKind.SCHOOL)
    evac(school, bj(3, 25), status=DrillStatus.PLANNED)
    evac(school, bj(3, 26), status=DrillStatus.CANCELLED)
    r = result("school-evacuation", school.id, bj(3, 10))
    assert r.slots[0].status == S.ON_TRACK and r.status == S.ON_TRACK
    # The planned drill never got completed: March is missed once it is over.
    assert result("school-evacuation", school.id, bj(4, 1, 0, 1)).slots[0].status == S.MISSED
    # Held in March, entered in May and completed at once: March is met after the fact.
    evac(school, bj(3, 27), completed_at=bj(5, 3))
    assert result("school-evacuation", school.id, bj(5, 3, 12)).slots[0].status == S.MET


def test_real_earthquake_response_is_credited_with_its_reason(make_org, make_drill):
    school = make_org(kind=OrgKind.SCHOOL)
    make_drill(
        organizer=school,
        starts_at=bj(3, 4),
        form=DrillForm.LIVE,
        status=DrillStatus.COMPLETED,
        real_response=True,
        real_response_note="M5.2 earthquake, whole school evacuated",
    )
    r = result("school-evacuation", school.id, bj(3, 20))
    assert r.slots[0].status == S.MET
    assert r.evidence[0]["credited_as"] == "real_response"
    assert r.evidence[0]["reason"] == "M5.2 earthquake, whole school evacuated"


def test_kindergarten_quarters_and_hospital_half_years(make_org, evac):
    kindergarten, hospital = make_org(kind=OrgKind.KINDERGARTEN), make_org(kind=OrgKind.HOSPITAL)
    evac(kindergarten, bj(3, 31, 23, 59))
    evac(hospital, bj(7, 1, 0, 0))
    k = result("kindergarten-evacuation", kindergarten.id, bj(5, 15))
    assert [s.status for s in k.slots] == [S.MET, S.AT_RISK, S.NOT_DUE, S.NOT_DUE]
    h = result("hospital-evacuation", hospital.id, bj(7, 2))
    assert [s.status for s in h.slots] == [S.MISSED, S.MET] and h.status == S.MISSED
    assert result("school-evacuation", kindergarten.id, bj(5, 15)) is None


def test_a_quarter_adds_its_months_up_and_shows_the_first_drill_entered(make_org, evac):
    kindergarten = make_org(kind=OrgKind.KINDERGARTEN)
    february = evac(kindergarten, bj(2, 10))
    evac(kindergarten, bj(1, 10))  # held earlier, entered later
    march = evac(kindergarten, bj(3, 10), status=DrillStatus.PLANNED)
    evac(kindergarten, bj(2, 25), status=DrillStatus.PLANNED)
    evac(kindergarten, bj(4, 10))  # the next quarter
    (first, second, *_) = result("kindergarten-evacuation", kindergarten.id, bj(2, 20)).slots
    assert (first.achieved, first.planned, second.achieved) == (2, 2, 1)
    assert [e["id"] for e in first.evidence] == [february.id]
    assert [e["id"] for e in first.planned_evidence] == [march.id]


def test_unit_rules_come_out_the_same_whether_their_cells_come_one_by_one_or_at_once(make_org, evac, monkeypatch):
    """The unit rules' cells come ordered by unit, chunk by chunk, and each unit's results are made as they come:
    a unit whose months straddle two chunks is made from all of them."""
    units = [make_org(kind=kind) for kind in (OrgKind.SCHOOL, OrgKind.KINDERGARTEN, OrgKind.HOSPITAL) * 2]
    for n, unit in enumerate(units):
        for month in (3, 4, 5, 9, 10)[: n + 2]:
            evac(unit, bj(month, 10))
        evac(unit, bj(11, 10), status=DrillStatus.PLANNED)
    streamed = importlib.import_module("drillmgr.db")  # the package names its SQLAlchemy extension `db`
    chunks = []
    counted = streamed.streamed_rows

    def counting(connection, query):
        for chunk in counted(connection, query):
            chunks.append(len(chunk))
            yield chunk

    monkeypatch.setattr(drill_rules, "streamed_rows", counting)
    keys = ["school-evacuation", "kindergarten-evacuation", "hospital-evacuation"]
    at_once = [pack_results(r.results) for r in evaluate(YEAR, actor=SYSTEM, now=bj(6, 15), rule_keys=keys)]
    assert sum(len(results) for results in at_once) == len(units)
    for size in (1, 2, 5):
        monkeypatch.setattr(streamed, "STREAM_CHUNK_ROWS", size)
        chunks.clear()
        one_by_one = [pack_results(r.results) for r in evaluate(YEAR, actor=SYSTEM, now=bj(6, 15), rule_keys=keys)]
        assert one_by_one == at_once
        if db.engine.dialect.name == "postgresql":
            assert len(chunks) > 1 and max(chunks) == size


def test_unit_rules_without_a_unit_count_no_drill(make_org, evac):
    """Where the unit rules have no unit to evaluate, their drills are not aggregated at all."""
    evac(make_org(kind=OrgKind.SCHOOL), bj(3, 3))
    with statements_sent(containing="drill_participants") as seen:
        results = evaluate(YEAR, actor=SYSTEM, now=bj(6, 1), org_ids=[])
    assert [r.key for r in results] == ["school-evacuation", "kindergarten-evacuation", "hospital-evacuation"]
    assert all(r.results == [] for r in results)
    assert seen == []


def test_a_unit_rule_that_asks_for_links_says_which_a_drill_lacks(make_user, make_org, make_drill):
    """A unit rule over whole months finds its short drills' missing links before its cells come in."""
    update_rule(
        make_user(role=Role.ADMIN),
        get_rule(YEAR, "school-evacuation"),
        {
            "warning_days": "30",
            "count": "1",
            "period": "month",
            "months": ["3", "4"],
            "org_kinds": ["school"],
            "required_focus": ["command_post", "force_organization"],
            "enabled": "on",
        },
    )
    lacking, complete = make_org(kind=OrgKind.SCHOOL), make_org(kind=OrgKind.SCHOOL)
    march = {"starts_at": bj(3, 10), "form": DrillForm.EVACUATION, "status": DrillStatus.COMPLETED}
    make_drill(organizer=lacking, focus=("command_post",), **march)
    make_drill(organizer=complete, focus=("command_post", "force_organization"), **march)
    r = result("school-evacuation", lacking.id, bj(4, 15))
    assert r.slots[0].achieved == 0 and r.slots[0].missing == ("force_organization",)
    assert r.status == S.MISSED and r.missing == ["force_organization", f"{YEAR}-04"]
    r = result("school-evacuation", complete.id, bj(4, 15))
    assert r.slots[0].achieved == 1 and r.slots[0].missing == ()
    assert r.missing == [f"{YEAR}-04"]


def test_county_map_places_each_region_under_its_county(make_region):
    village = make_region(parent_code=make_region(parent_code=WUSU).code, level=RegionLevel.VILLAGE)
    cmap = county_map([WUSU, SHAWAN])
    placed = {region: (county, number) for region, county, number in db.session.execute(sa.select(cmap)).tuples()}
    assert placed[WUSU] == placed[village.code] == (WUSU, 0)
    assert placed[SHAWAN] == (SHAWAN, 1)
    assert PREFECTURE not in placed and TACHENG_CITY not in placed  # above the counties, or another county
    nothing = county_map([])
    assert db.session.execute(sa.select(nothing).where(nothing.c.region_code.isnot(None))).all() == []


def test_an_evaluation_compiles_no_statement_again(make_drill, make_org):
    """What every rule sends is found in SQLAlchemy's compiled cache from then on: PostgreSQL's table of
    counties went as literal VALUES, which were built and compiled again for each statement (15 ms each)."""
    make_drill(organizer=WUSU, starts_at=bj(3, 1), status=DrillStatus.COMPLETED)
    make_drill(organizer=make_org(kind=OrgKind.SCHOOL), starts_at=bj(3, 2))
    for _ in range(2):
        evaluate(YEAR, actor=SYSTEM, now=bj(3, 20))
    seen = []

    def note(connection, cursor, statement, parameters, context, executemany):
        seen.append(context.cache_hit)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        evaluate(YEAR, actor=SYSTEM, now=bj(3, 20))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert len(seen) > 10 and set(seen) == {CacheStats.CACHE_HIT}


def test_what_an_evaluation_made_is_left_to_the_oldest_generation(make_drill, make_org):
    """The collector is off while an evaluation runs, and what it made is moved to the oldest generation whole
    on the way out: else the first young collection after it walked every result (1.6 s at national scale)."""
    make_drill(organizer=make_org(kind=OrgKind.SCHOOL), starts_at=bj(3, 2), status=DrillStatus.COMPLETED)
    results = evaluate(YEAR, actor=SYSTEM, now=bj(3, 20))
    [[] for _ in range(1000)]  # what the caller goes on to allocate: a young collection, if it is due
    assert gc.isenabled()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    subjects = [r for rule in results for r in rule.results]
    made = subjects + [s for r in subjects for s in r.slots]
    assert len(made) > 10 and all(id(o) in oldest for o in made)


class Cyclic:
    """An object that refers to itself: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.itself = self


def test_garbage_made_while_the_collector_was_off_is_still_collected():
    with no_garbage_collection():
        garbage = weakref.ref(Cyclic())
    assert garbage() is not None
    gc.collect()
    assert garbage() is None


def test_objects_frozen_by_someone_else_stay_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with no_garbage_collection():
            [[] for _ in range(100)]
        assert gc.get_freeze_count() == frozen > 0
    finally:
        gc.unfreeze()


def test_org_subjects_are_limited_to_the_region(make_org, make_region):
    inside = make_org(kind=OrgKind.SCHOOL, region_code=make_region(parent_code=WUSU).code)
    outside = make_org(kind=OrgKind.SCHOOL, region_code=make_region(parent_code=SHAWAN).code)
    (rule,) = evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(3, 1), rule_keys=["school-evacuation"])
    ids = {r.subject_id for r in rule.results}
    assert str(inside.id) in ids and str(outside.id) not in ids
    assert all(r.county_code == WUSU for r in rule.results)


# --- 4. after-action reviews filed ---------------------------------------------------------------


def test_after_action_reviews_within_14_days(make_drill, make_region):
    region = make_region(parent_code=SHAWAN).code
    on_time = make_drill(organizer=region, starts_at=bj(3, 1), status=DrillStatus.COMPLETED)
    db.session.add(Review(drill_id=on_time.id, filing_status=FilingStatus.SUBMITTED, submitted_at=bj(3, 14)))
    db.session.commit()
    r = result("after-action-filed", SHAWAN, bj(3, 20))
    assert r.status == S.MET and (r.required, r.achieved) == (1, 1) and r.evidence[0]["id"] == on_time.id
    assert r.evidence[0]["review_due"] == (on_time.ends_at + timedelta(days=14)).isoformat()
    pending = make_drill(organizer=region, starts_at=bj(3, 18), status=DrillStatus.COMPLETED)
    r = result("after-action-filed", SHAWAN, bj(3, 20))
    assert r.status == S.AT_RISK and r.missing == [f"review:drill-{pending.id}"]
    assert result("after-action-filed", SHAWAN, bj(4, 2)).status == S.MISSED
    db.session.add(Review(drill_id=pending.id, submitted_at=bj(4, 5)))  # late: still missed
    db.session.commit()
    assert result("after-action-filed", SHAWAN, bj(4, 6)).status == S.MISSED


def test_missing_reviews_are_all_counted_and_the_earliest_listed_first(make_drill):
    early = make_drill(organizer=TACHENG_CITY, starts_at=bj(2, 1), status=DrillStatus.COMPLETED)
    tied = [make_drill(organizer=TACHENG_CITY, starts_at=bj(3, 1), status=DrillStatus.COMPLETED) for _ in range(21)]
    due = make_drill(organizer=TACHENG_CITY, starts_at=bj(5, 5), status=DrillStatus.COMPLETED)
    r = result("after-action-filed", TACHENG_CITY, bj(5, 10))
    assert (r.status, r.required, r.achieved) == (S.MISSED, 23, 0)
    listed = [early, *sorted(tied, key=lambda d: d.id)][:LIST_LIMIT]  # same deadline: by drill
    assert r.missing == [f"review:drill-{d.id}" for d in listed]
    assert r.slots[0].end == bj(5, 10)  # missed for good
    r = result("after-action-filed", TACHENG_CITY, bj(2, 5))  # the earliest review still to come closes the slot
    assert r.status != S.MISSED and r.slots[0].end == early.ends_at + timedelta(days=14)
    assert r.missing[-1] != f"review:drill-{due.id}"


def test_reviews_listed_are_the_earliest_due_of_the_year_by_when_they_fall_due_not_by_start_or_id(make_drill):
    completed = {"organizer": TACHENG_CITY, "status": DrillStatus.COMPLETED}
    # Created latest day first, so that their ids run against their dates; the 20th due is the first of three
    # on one day, and a fourth falls on the same UTC day (07:00 the next day in Beijing).
    unfiled = [make_drill(starts_at=bj(6, 24 - i), **completed) for i in range(24)]
    unfiled += [make_drill(starts_at=bj(6, 20, hour=h), **completed) for h in (15, 8)]
    unfiled.append(make_drill(starts_at=bj(6, 21, hour=7), **completed))
    back_entered = make_drill(starts_at=bj(1, 10), completed_at=bj(7, 1), **completed)  # due from 1 July
    unfiled.append(back_entered)
    filed = [make_drill(starts_at=bj(m, 1), **completed) for m in (11, 2, 8)]
    for drill in filed:
        db.session.add(Review(drill_id=drill.id, submitted_at=drill.ends_at + timedelta(days=3)))
    db.session.commit()

    r = result("after-action-filed", TACHENG_CITY, bj(12, 20))

    def due(drill):
        return (max(drill.ends_at, drill.completed_at or drill.ends_at), drill.id)

    assert (r.required, r.achieved) == (31, 3)
    assert r.missing == [f"review:drill-{d.id}" for d in sorted(unfiled, key=due)[:LIST_LIMIT]]
    # 1 to 19 June, then the first of 20 June's three: 08:00, not 10:00 (created before it) nor 15:00.
    assert r.missing[-2:] == [f"review:drill-{d.id}" for d in (unfiled[5], unfiled[25])]
    assert f"review:drill-{back_entered.id}" not in r.missing
    assert [e["id"] for e in r.evidence] == [d.id for d in sorted(filed, key=due)]


def _windowed_statements(run):
    """How many windowed listings `run()` sent, and what it returned."""
    sent = []

    def note(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        answer = run()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    return sum("row_number() OVER" in statement for statement in sent), answer


def test_reviews_listed_from_the_first_days_alone_when_they_hold_enough_are_the_earliest_due(make_drill):
    completed = {"organizer": TACHENG_CITY, "status": DrillStatus.COMPLETED}
    # Ids against dates again: the year's first two days hold the listing, later drills must not come into it.
    later = [make_drill(starts_at=bj(9, 28 - i), **completed) for i in range(25)]
    first_days = [make_drill(starts_at=bj(1, 2 - i % 2, hour=9 + i % 7), **completed) for i in range(45)]
    filed = [make_drill(starts_at=bj(1, 1, hour=8), **completed) for _ in range(3)]
    for drill in filed:
        db.session.add(Review(drill_id=drill.id, submitted_at=drill.ends_at + timedelta(days=1)))
    db.session.commit()

    def due(drill):
        return (drill.ends_at, drill.id)

    statements, r = _windowed_statements(lambda: result("after-action-filed", TACHENG_CITY, bj(12, 20)))

    assert statements == 1
    assert (r.required, r.achieved) == (73, 3)
    assert r.missing == [f"review:drill-{d.id}" for d in sorted(first_days + later, key=due)[:LIST_LIMIT]]
    assert [e["id"] for e in r.evidence] == [d.id for d in sorted(filed, key=due)]


def test_reviews_whose_first_days_hold_too_few_of_them_are_listed_again_from_all_their_drills(make_drill, monkeypatch):
    from drillmgr.compliance import county_rules

    monkeypatch.setattr(county_rules, "LIST_LIMIT", 2)
    completed = {"organizer": TACHENG_CITY, "status": DrillStatus.COMPLETED}
    # Most drills of the first days have their reviews: by its share, the listing of those still missing would
    # find two of them there, but only one is; the other four missing come in December.
    december = [make_drill(starts_at=bj(12, 5 - i), **completed) for i in range(4)]
    early_missing = make_drill(starts_at=bj(1, 2, hour=20), **completed)
    filed = [make_drill(starts_at=bj(1, 1, hour=9 + i % 12), **completed) for i in range(30)]
    for drill in filed:
        db.session.add(Review(drill_id=drill.id, submitted_at=drill.ends_at + timedelta(days=1)))
    db.session.commit()

    statements, r = _windowed_statements(lambda: result("after-action-filed", TACHENG_CITY, bj(12, 20)))

    assert statements == 2
    assert (r.required, r.achieved) == (35, 30)
    assert r.missing == [f"review:drill-{d.id}" for d in (early_missing, december[-1])]
    assert [e["id"] for e in r.evidence] == [d.id for d in sorted(filed, key=lambda d: (d.ends_at, d.id))[:2]]


def test_back_entered_drill_has_14_days_from_its_entry(make_drill):
    make_drill(organizer=TACHENG_CITY, starts_at=bj(1, 10), status=DrillStatus.COMPLETED, completed_at=bj(5, 1))
    assert result("after-action-filed", TACHENG_CITY, bj(5, 10)).status == S.AT_RISK
    assert result("after-action-filed", TACHENG_CITY, bj(5, 16)).status == S.MISSED


def test_planned_and_cancelled_drills_need_no_review(make_drill):
    make_drill(organizer=TACHENG_CITY, starts_at=bj(1, 10), status=DrillStatus.CANCELLED)
    make_drill(organizer=TACHENG_CITY, starts_at=bj(1, 11))
    r = result("after-action-filed", TACHENG_CITY, bj(5, 10))
    assert r.status == S.MET and r.required == 0


# --- 5. corrective actions -----------------------------------------------------------------------


@pytest.fixture
def action(make_drill, make_user):
    owner = make_user(role=Role.COORDINATOR)
    drill = make_drill(organizer=WUSU, starts_at=bj(2, 1), status=DrillStatus.COMPLETED)

    def make(due_on, status=ActionStatus.OPEN, region=WUSU):
        finding = Finding(
            drill_id=drill.id,
            region_code=region,
            summary="应急广播不响",
            severity=Severity.MAJOR,
            category=FindingCategory.EQUIPMENT,
            found_on=date(YEAR, 2, 1),
        )
        finding.corrective_action = CorrectiveAction(
            description="更换", owner_id=owner.id, due_on=due_on, status=status
        )
        db.session.add(finding)
        db.session.commit()
        return finding.corrective_action

    return make


def test_corrective_actions_statuses(action):
    assert result("corrective-actions", WUSU, bj(3, 1)).status == S.MET
    later = action(date(YEAR, 8, 1))
    assert result("corrective-actions", WUSU, bj(3, 1)).status == S.MET
    assert result("corrective-actions", WUSU, bj(7, 1)).status == S.AT_RISK
    r = result("corrective-actions", WUSU, bj(8, 2))
    assert r.status == S.MISSED and r.missing == [f"corrective_action:{later.id}"]
    later.status = ActionStatus.VERIFIED
    db.session.commit()
    r = result("corrective-actions", WUSU, bj(8, 2))
    assert r.status == S.MET and (r.required, r.achieved) == (1, 1) and r.evidence[0]["id"] == later.id


def test_done_but_unverified_action_past_due_is_missed(action):
    action(date(YEAR, 3, 1), status=ActionStatus.DONE)
    assert result("corrective-actions", WUSU, bj(3, 2)).status == S.MISSED
    assert result("corrective-actions", SHAWAN, bj(3, 2)).status == S.MET


# --- 6./7. outreach ------------------------------------------------------------------------------


@pytest.fixture
def activity():
    def make(kind, held_on, region=WUSU, **fields):
        row = OutreachActivity(kind=kind, title=f"宣传活动{held_on}", held_on=held_on, region_code=region, **fields)
        db.session.add(row)
        db.session.commit()
        return row

    return make


def test_observance_campaigns_in_the_week_around_each_day(activity):
    activity(OutreachKind.OBSERVANCE_CAMPAIGN, date(YEAR, 5, 9), observance_day=ObservanceDay.DISASTER_REDUCTION_DAY)
    activity(OutreachKind.OBSERVANCE_CAMPAIGN, date(YEAR, 7, 20), observance_day=ObservanceDay.TANGSHAN_MEMORIAL)
    activity(OutreachKind.OBSERVANCE_CAMPAIGN, date(YEAR, 7, 28))  # no day named: not a campaign for it
    r = result("observance-campaigns", WUSU, bj(6, 5))
    assert [s.status for s in r.slots] == [S.MET, S.NOT_DUE, S.NOT_DUE]  # the 28 July window has not begun
    r = result("observance-campaigns", WUSU, bj(7, 26))
    assert [s.status for s in r.slots] == [S.MET, S.AT_RISK, S.NOT_DUE]
    activity(OutreachKind.OBSERVANCE_CAMPAIGN, date(YEAR, 7, 31), observance_day=ObservanceDay.TANGSHAN_MEMORIAL)
    r = result("observance-campaigns", WUSU, bj(6, 5))
    assert r.slots[1].status == S.ON_TRACK and r.status == S.ON_TRACK
    r = result("observance-campaigns", WUSU, bj(10, 17))
    assert r.status == S.MISSED and r.missing == ["10-13"]


def test_six_into_covers_all_settings(activity):
    for setting in list(SixIntoSetting)[:5]:
        activity(OutreachKind.SIX_INTO, date(YEAR, 4, 1), setting=setting)
    r = result("six-into", WUSU, bj(12, 1))
    assert r.status == S.AT_RISK and r.missing == ["family"] and (r.required, r.achieved) == (6, 5)
    activity(OutreachKind.SIX_INTO, date(YEAR, 12, 20), setting=SixIntoSetting.FAMILY)
    assert result("six-into", WUSU, bj(12, 1)).status == S.ON_TRACK
    assert result("six-into", WUSU, bj(12, 21)).status == S.MET
    assert result("six-into", SHAWAN, bj(1, 1, 0, year=YEAR + 1)).status == S.MISSED


# --- snapshots -----------------------------------------------------------------------------------


def test_snapshot_changes_reports_each_worsening_once(live):
    first = evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(3, 1), rule_keys=["key-county-comprehensive-live"])
    assert snapshot_changes(first) == []
    worse = evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(11, 15), rule_keys=["key-county-comprehensive-live"])
    (change,) = snapshot_changes(worse)
    assert change == (
        {"type": "region", "code": WUSU, "name": "乌苏市"},
        "key-county-comprehensive-live",
        S.NOT_DUE,
        S.AT_RISK,
    )
    assert snapshot_changes(worse) == []
    live(bj(11, 20))
    assert (
        snapshot_changes(
            evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(11, 21), rule_keys=["key-county-comprehensive-live"])
        )
        == []
    )
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(ComplianceRule).where(ComplianceRule.year == YEAR)
    ) == len(RULE_KEYS)


def test_snapshot_changes_can_leave_the_commit_to_the_caller(live):
    snapshot_changes(evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(3, 1), rule_keys=["key-county-comprehensive-live"]))
    db.session.commit()  # the first night's unit of work
    worse = evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(11, 15), rule_keys=["key-county-comprehensive-live"])
    assert len(snapshot_changes(worse)) == 1
    db.session.rollback()  # the alerts failed: the worsening must be reported again next time
    assert len(snapshot_changes(worse)) == 1


def test_evaluation_issues_the_same_queries_for_one_unit_or_many(make_org, evac, make_region):
    """Set-based: the number of statements does not grow with units or drills."""

    def statements_for_evaluation():
        seen = []

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        engine = db.session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            evaluate(YEAR, WUSU, actor=SYSTEM, now=bj(6, 1))
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    ensure_rules(YEAR)
    evac(make_org(kind=OrgKind.SCHOOL), bj(3, 3))
    few = statements_for_evaluation()
    assert few > 5
    township = make_region(parent_code=WUSU).code
    for _ in range(6):
        school = make_org(kind=OrgKind.SCHOOL, region_code=township)
        for month in (3, 4, 5):
            evac(school, bj(month, 10))
        evac(make_org(kind=OrgKind.HOSPITAL, region_code=township), bj(2, 2))
    assert statements_for_evaluation() == few
