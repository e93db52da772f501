"""The shared store: a feed rendered by one worker is served by every other one without rendering, a change
is seen by all of them at once; compliance results are kept for every worker and equal a fresh evaluation
after any sequence of changes."""

import random
import re
from contextlib import contextmanager
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from config import TestConfig
from drillmgr import create_app
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.cache.models import CacheEntry, CountyChange
from drillmgr.calendars import feeds, ical, serving
from drillmgr.calendars.filters import EVERYTHING
from drillmgr.compliance import county_rules, dashboard, kept
from drillmgr.compliance import evaluation as compliance
from drillmgr.compliance.rules import get_rule
from drillmgr.compliance.subjects import subject_counties, subtree_list
from drillmgr.db import utcnow
from drillmgr.enums import DrillForm, DrillScope, DrillStatus, FilingStatus, FindingCategory, OrgKind, Role, Severity
from drillmgr.extensions import db
from drillmgr.localtime import local_midnight, local_today
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.scheduler.compliance_jobs import keep_compliance
from drillmgr.unit_of_work import unit
from tests.calendars_support import _empty_feed_caches, events, signed_feed, touch  # noqa: F401
from tests.conftest import PREFECTURE, SHAWAN, WUSU

BJ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def second_app(app):
    """Another worker: the same configuration and database, nothing in its memory."""

    class Second(TestConfig):
        SQLALCHEMY_DATABASE_URI = app.config["SQLALCHEMY_DATABASE_URI"]
        CALENDAR_DIR = app.config["CALENDAR_DIR"]
        UPLOAD_DIR = app.config["UPLOAD_DIR"]
        CACHE_REDIS_URL = app.config["CACHE_REDIS_URL"]
        CACHE_PREFIX = app.config["CACHE_PREFIX"]

    return create_app(Second)


@contextmanager
def request_of(application):
    """A request served by that worker: a session of its own, committed at its end (its unit of work)."""
    with application.app_context(), unit():
        yield


@pytest.fixture
def no_rendering(monkeypatch):
    """A context in which rendering any event or feed fails the test."""

    @contextmanager
    def forbid():
        def refuse(*args, **kwargs):
            raise AssertionError("rendered although another worker had rendered this version")

        with monkeypatch.context() as patched:
            patched.setattr(ical, "drill_event", refuse)
            patched.setattr(ical, "calendar_head", refuse)
            yield

    return forbid


@pytest.fixture(params=["database", "redis"])
def store_kind(request, app):
    """Both stores; Redis (the real one at 127.0.0.1:6379) under a prefix of this test's own."""
    if request.param == "database":
        yield "database"
        return
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    before = (app.config["CACHE_REDIS_URL"], app.config["CACHE_PREFIX"])
    app.config["CACHE_REDIS_URL"] = url
    app.config["CACHE_PREFIX"] = f"drillmgr-test-{uuid.uuid4().hex}"
    app.extensions.pop("drillmgr_cache", None)
    try:
        yield "redis"
    finally:
        shared.store().clear()
        app.config["CACHE_REDIS_URL"], app.config["CACHE_PREFIX"] = before
        app.extensions.pop("drillmgr_cache", None)


def region_feed(owner):
    """The owner's region feed of every drill in 乌苏市 (not only the key drills)."""
    return signed_feed(owner, feeds.REGION, WUSU, EVERYTHING)


def test_second_worker_serves_the_feed_without_rendering_and_a_change_reaches_both(
    app, store_kind, second_app, make_user, make_org, make_drill, no_rendering
):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    school = make_org(name="乌苏市共享学校")
    drills = [make_drill(organizer=school, title=f"共享演练{i}") for i in range(5)]
    first = serving.answer(region_feed(coordinator))
    db.session.commit()  # the end of the first worker's request: what it stored is there for every worker
    assert first.status == 200 and len([u for u in events(first.body) if u.startswith("drill-")]) == 5
    assert shared.store().name == store_kind

    with request_of(second_app), no_rendering():
        again = serving.answer(region_feed(coordinator))
        assert shared.store().name == store_kind
    assert (again.status, again.body, again.etag, again.last_modified) == (
        200,
        first.body,
        first.etag,
        first.last_modified,
    )

    touch(drills[2], title="改过的标题")
    with request_of(second_app):
        changed = serving.answer(region_feed(coordinator))  # renders one event, takes four from the store
    assert changed.status == 200 and changed.etag != first.etag
    assert str(events(changed.body)[f"drill-{drills[2].id}@drillmgr.test"]["SUMMARY"]) == "改过的标题"
    with no_rendering():
        mine = serving.answer(region_feed(coordinator))  # the first worker had the old body in its memory
    assert (mine.body, mine.etag) == (changed.body, changed.etag)
    assert mine.last_modified == changed.last_modified >= first.last_modified


def test_a_drill_leaving_the_feed_leaves_it_for_every_worker(app, second_app, make_user, make_drill):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    drill = make_drill(title="将移出的演练")
    assert f"drill-{drill.id}@drillmgr.test" in events(serving.answer(region_feed(coordinator)).body)
    with request_of(second_app):
        serving.answer(region_feed(coordinator))
    touch(drill, region_code=SHAWAN, organizer_region_code=SHAWAN)
    for application in (second_app, app):
        with request_of(application):
            assert f"drill-{drill.id}@drillmgr.test" not in events(serving.answer(region_feed(coordinator)).body)


def test_events_are_shared_between_feeds_and_never_served_after_a_change(make_user, make_drill):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    drill = make_drill(public=True, title="公开演练")
    serving.answer(feeds.public_feed())
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(CacheEntry).where(CacheEntry.key.like(f"event:{drill.id}:%"))
        )
        == 1
    )
    touch(drill, title="公开演练（改）")
    body = serving.answer(region_feed(coordinator)).body
    assert "公开演练（改）" in str(events(body)[f"drill-{drill.id}@drillmgr.test"]["SUMMARY"])
    # One slot per drill and style, overwritten: the change did not add a second.
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(CacheEntry).where(CacheEntry.key.like(f"event:{drill.id}:%"))
        )
        == 1
    )


def test_a_feed_request_stores_its_feed_and_events_with_its_unit_of_work(client, store_kind, make_drill):
    drill = make_drill(public=True, title="公开演练")
    assert client.get("/calendars/public.ics").status_code == 200
    stored = shared.store().get_many(["feed:public::"])
    assert list(stored) == ["feed:public::"]
    assert f"drill-{drill.id}@drillmgr.test" in events(stored["feed:public::"][1][64:])
    assert shared.store().get_many([f"event:{drill.id}:x"]) == {}  # (a slot of another style: none)
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(CacheEntry).where(CacheEntry.key.like(f"event:{drill.id}:%"))
    ) == (1 if store_kind == "database" else 0)


def test_a_unit_rolled_back_stores_nothing(app, store_kind, make_drill):
    """A value made from data that is never committed is never stored, in either store."""
    drill = make_drill(public=True, title="公开演练")
    with pytest.raises(RuntimeError), unit():
        drill.title = "从未保存的标题"
        drill.version += 1
        db.session.flush()
        assert "从未保存的标题" in serving.answer(feeds.public_feed()).body.decode()
        shared.put("probe", "v1", b"never")
        raise RuntimeError("the unit fails")
    serving.clear_local_caches()
    assert shared.store().get_many(["feed:public::", "probe"]) == {}
    assert "从未保存的标题" not in serving.answer(feeds.public_feed()).body.decode()


def test_a_unit_of_work_reads_what_it_stored_before_it_commits(app, store_kind):
    with unit():
        shared.put("probe", "v1", b"mine")
        assert shared.store().get_many(["probe", "other"]) == {"probe": ("v1", b"mine")}
    assert shared.store().get_many(["probe"]) == {"probe": ("v1", b"mine")}


def test_a_stored_value_of_another_version_is_never_taken(app):
    shared.put("probe", "v1", b"old")
    assert shared.get("probe", "v1") == b"old"
    assert shared.get("probe", "v2") is None
    shared.put("probe", "v2", b"new")
    assert shared.get("probe", "v1") is None and shared.get("probe", "v2") == b"new"
    shared.put("feed:region:654202:1", "v", b"\x00\n" * 10)  # any bytes as a value, newlines and NUL too
    assert shared.get("feed:region:654202:1", "v") == b"\x00\n" * 10


def test_prune_keeps_the_store_within_its_bytes(app):
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    for i in range(10):
        shared.store().put_many({f"slot-{i}": ("t", b"x" * 1000)}, moment + timedelta(seconds=i))
    app.config["CACHE_MAX_BYTES"], before = 3500, app.config["CACHE_MAX_BYTES"]
    try:
        assert shared.prune() == 7
    finally:
        app.config["CACHE_MAX_BYTES"] = before
    assert set(db.session.scalars(sa.select(CacheEntry.key).where(CacheEntry.key.like("slot-%")))) == {
        "slot-7",
        "slot-8",
        "slot-9",
    }  # the latest stored stay


# --- compliance ---------------------------------------------------------------------------------

YEAR = 2034


def bj(month, day, hour=10) -> datetime:
    return datetime(YEAR, month, day, hour, tzinfo=BJ).astimezone(timezone.utc)


def statuses(results) -> list[tuple]:
    return sorted(
        (rr.key, r.subject_type, r.subject_id, r.status.value, r.required, r.achieved, tuple(r.missing))
        for rr in results
        for r in rr.results
    )


def generation_numbers() -> dict[str, int]:
    names = [generations.COMPLIANCE, generations.county(WUSU), generations.county(SHAWAN)]
    return dict(zip(["whole", "wusu", "shawan"], generations.values(names), strict=True))


def risen(before: dict[str, int]) -> set[str]:
    return {name for name, value in generation_numbers().items() if value > before[name]}


def test_a_change_raises_the_generations_of_the_counties_it_touches_alone(make_drill, make_org, make_user):
    start = generation_numbers()
    drill = make_drill(region_code=WUSU)
    assert risen(start) == {"wusu"}
    user = make_user(role=Role.COORDINATOR)
    before = generation_numbers()
    serving.answer(region_feed(user))  # feed versions and stored events: not compliance data
    db.session.commit()
    assert risen(before) == set()
    before = generation_numbers()
    drill.status = DrillStatus.COMPLETED
    db.session.commit()
    assert risen(before) == {"wusu"}
    # A Shawan school taking part in a Wusu drill: both counties' units and counties may change.
    shawan_school = make_org(name="沙湾市参加学校", region_code=SHAWAN)
    before = generation_numbers()
    drill.participants = [shawan_school]
    db.session.commit()
    assert risen(before) == {"wusu", "shawan"}
    before = generation_numbers()
    drill.participants = []
    db.session.commit()
    assert risen(before) == {"wusu", "shawan"}
    # Moved from one county to the other: both.
    before = generation_numbers()
    drill.region_code = SHAWAN
    db.session.commit()
    assert risen(before) == {"wusu", "shawan"}
    # Deleted: the county it was held in.
    before = generation_numbers()
    db.session.delete(drill)
    db.session.commit()
    assert risen(before) == {"shawan"}
    # A review of a drill: its drill's county.
    wusu_drill = make_drill(region_code=WUSU, status=DrillStatus.COMPLETED)
    before = generation_numbers()
    db.session.add(Review(drill_id=wusu_drill.id, filing_status=FilingStatus.DRAFT))
    db.session.commit()
    assert risen(before) == {"wusu"}
    # A unit renamed: its county.
    org = make_org(name="乌苏市改名单位", region_code=WUSU)
    before = generation_numbers()
    org.name = "改名单位"
    db.session.commit()
    assert risen(before) == {"wusu"}
    # Held for the whole prefecture, or changed in bulk: every county's.
    before = generation_numbers()
    make_drill(region_code=PREFECTURE)
    assert "whole" in risen(before)
    before = generation_numbers()
    db.session.execute(sa.update(type(drill)).where(type(drill).id == wusu_drill.id).values(title="批量改"))
    db.session.commit()
    assert risen(before) == {"whole"}


def test_a_unit_sees_its_own_change_in_the_generations_before_it_commits(make_drill):
    """A value made in the unit that changed the data is tagged with the generations its commit raises."""
    start = generation_numbers()
    drill = make_drill(region_code=WUSU)
    drill.title = "未提交的修改"
    db.session.flush()
    assert generation_numbers()["wusu"] == start["wusu"] + 2
    db.session.commit()
    assert generation_numbers()["wusu"] == start["wusu"] + 2


def test_a_value_kept_before_a_further_change_of_the_same_unit_is_never_served(make_drill):
    """A unit that changes a drill, keeps a value made from it, then changes the drill again: its commit
    raises the generation past the value's tag."""
    start = generation_numbers()
    drill = make_drill(region_code=WUSU)
    drill.title = "第一次修改"
    db.session.flush()
    tag_of_kept_value = generation_numbers()["wusu"]
    drill.title = "读后的第二次修改"
    db.session.flush()
    drill.title = "未再读的第三次修改"  # nothing was kept since the second: no further step
    db.session.flush()
    db.session.commit()
    assert generation_numbers()["wusu"] == tag_of_kept_value + 1 == start["wusu"] + 3


def test_a_unit_rolled_back_raises_no_generation(make_drill):
    drill = make_drill(region_code=WUSU)
    before = generation_numbers()
    drill.title = "回滚的修改"
    db.session.flush()
    db.session.rollback()
    db.session.commit()
    assert generation_numbers() == before


def test_kept_results_are_read_not_recomputed_until_something_changes(make_user, make_org, make_drill, monkeypatch):
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市保留学校")
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    now = bj(4, 1)
    results, as_of = kept.kept_evaluate(YEAR, WUSU, now=now, actor=admin, evidence=False)
    assert as_of == now

    def refuse(*args, **kwargs):
        raise AssertionError("evaluated although nothing changed")

    monkeypatch.setattr(kept, "evaluate", refuse)
    for seconds in (30, 899):
        again, again_as_of = kept.kept_evaluate(
            YEAR, WUSU, now=now + timedelta(seconds=seconds), actor=admin, evidence=False
        )
        assert again_as_of == now and statuses(again) == statuses(results)
    monkeypatch.undo()
    # A write that goes around the app raises nothing: after COMPLIANCE_KEPT_SECONDS it is evaluated again even so.
    later, later_as_of = kept.kept_evaluate(YEAR, WUSU, now=now + timedelta(seconds=900), actor=admin, evidence=False)
    assert later_as_of == now + timedelta(seconds=900)
    # A new drill is seen at once: its unit's statuses and the county's are evaluated again, the rest is kept.
    make_drill(organizer=school, starts_at=bj(5, 10), status=DrillStatus.COMPLETED)
    fresh, fresh_as_of = kept.kept_evaluate(YEAR, WUSU, now=now + timedelta(seconds=901), actor=admin, evidence=False)
    assert fresh_as_of == now + timedelta(seconds=900)
    assert statuses(fresh) == statuses(
        compliance.evaluate(YEAR, WUSU, now=now + timedelta(seconds=901), actor=admin, evidence=False)
    )


def test_what_the_clock_alone_changes_is_evaluated_again_when_it_changes_and_not_before(
    app, make_user, make_org, make_drill, monkeypatch
):
    """Kept statuses are read, with no change, until the clock changes them: local midnight (periods and
    warning windows turn by the day), an after-action review's deadline (at the time of day its drill ended), a
    double-blind drill's start (for those it was kept from). Every read equals a fresh evaluation."""
    # The clock's turns alone, not the age limit.
    monkeypatch.setitem(app.config, "COMPLIANCE_KEPT_SECONDS", 40 * 24 * 3600)
    admin = make_user(role=Role.ADMIN)
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    school = make_org(name="乌苏市时钟学校")
    drill = make_drill(organizer=school, starts_at=bj(3, 30, 15), status=DrillStatus.COMPLETED)
    deadline = drill.ends_at + timedelta(days=14)  # no review filed
    blind_start = bj(4, 3, 14)
    for starts_at in (blind_start, bj(5, 20)):  # the later one keeps the viewer's reader their own after the first
        make_drill(organizer=school, starts_at=starts_at, form=DrillForm.TABLETOP, double_blind=True)
    evaluated = []
    real_evaluate = kept.evaluate

    def evaluate(year, region_code=None, **how):
        evaluated.append(how["now"])
        return real_evaluate(year, region_code, **how)

    monkeypatch.setattr(kept, "evaluate", evaluate)
    start = bj(4, 1, 9)
    moments = sorted(
        {start + timedelta(minutes=193 * step) for step in range(150)}  # 20 days, at each time of day
        | {turn + timedelta(seconds=delta) for turn in (deadline, blind_start) for delta in (-1, 0, 1)}
    )
    reads = 0
    for moment in moments:
        for user in (admin, viewer):
            read, _as_of = kept.kept_evaluate(YEAR, WUSU, now=moment, actor=user, evidence=False)
            fresh = real_evaluate(YEAR, WUSU, now=moment, actor=user, evidence=False)
            assert statuses(read) == statuses(fresh), (moment, user.role)
            reads += 1
    review_rule = [rr for rr in read if rr.key == "after-action-filed"]
    assert [r.status.value for r in review_rule[0].results if r.subject_id == WUSU] == ["missed"]
    # Evaluated again only on a turn of the clock: each local midnight, the deadline, the start.
    days = {local_today(moment) for moment in moments}
    assert len(evaluated) <= 2 * (len(days) + 2) < reads / 4
    assert deadline in evaluated and blind_start in evaluated
    assert deadline - timedelta(seconds=1) not in evaluated and blind_start - timedelta(seconds=1) not in evaluated


def test_after_a_change_only_the_counties_it_touched_are_evaluated_again(make_user, make_org, make_drill, monkeypatch):
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市增量学校", region_code=WUSU)
    shawan_school = make_org(name="沙湾市增量学校", region_code=SHAWAN)
    now = bj(4, 1)
    kept.kept_evaluate(YEAR, PREFECTURE, now=now, actor=admin, evidence=False)
    evaluated = []
    real_evaluate = kept.evaluate

    def evaluate(year, region_code=None, **how):
        """Notes what is evaluated: a region whole, its county rules alone, or some units' unit rules."""
        if how.get("org_ids") is not None:
            evaluated.append((region_code, tuple(how["org_ids"])))
        else:
            evaluated.append((region_code, "county rules" if how.get("rule_keys") is not None else "whole"))
        return real_evaluate(year, region_code, **how)

    def read(seconds):
        moment = now + timedelta(seconds=seconds)
        results, as_of = kept.kept_evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False)
        assert statuses(results) == statuses(
            compliance.evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False)
        )
        return as_of

    monkeypatch.setattr(kept, "evaluate", evaluate)
    assert read(1) == now and evaluated == []
    # A drill: its county's own rules and its organiser's unit rules; the rest of the county's result is kept.
    drill = make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    assert read(2) == now and evaluated == [(WUSU, "county rules"), (WUSU, (school.id,))]
    evaluated.clear()
    # Who takes part: both counties, each for the units named before and after.
    drill.participants = [shawan_school]
    db.session.commit()
    read(3)
    units = tuple(sorted([school.id, shawan_school.id]))
    assert set(evaluated) == {(SHAWAN, units), (SHAWAN, "county rules"), (WUSU, units), (WUSU, "county rules")}
    assert len(evaluated) == 4
    evaluated.clear()
    # A unit renamed can reach every unit rule of its county (which units there are): the county whole.
    school.name = "乌苏市增量学校（新）"
    db.session.commit()
    read(4)
    assert evaluated == [(WUSU, "whole")]
    evaluated.clear()
    # A unit's change and a drill's together: every county they touched, whole.
    drill.title = "两次变更"
    shawan_school.name = "沙湾市增量学校（新）"
    db.session.commit()
    read(5)
    assert sorted(evaluated) == [(WUSU, "whole"), (SHAWAN, "whole")]
    evaluated.clear()
    rule = get_rule(YEAR, "six-into")
    rule.enabled = False
    db.session.commit()
    assert read(6) == now + timedelta(seconds=6) and evaluated == [(PREFECTURE, "whole")]  # every county at once


def rows_entry(user, county, now) -> tuple[str, bytes] | None:
    """The county's units' results as kept for `user` (without evidence): the stored tag and bytes."""
    slot = f"{kept.slot_of(YEAR, county, kept._reader(user, now), False)}:rows"
    return shared.store().get_many([slot]).get(slot)


def head_of(user, county, now) -> kept.CountyHead:
    slot = kept.slot_of(YEAR, county, kept._reader(user, now), False)
    _tag, packed = shared.store().get_many([slot])[slot]
    return kept._unpack(packed)[2]


def test_a_county_brought_up_to_date_keeps_the_units_reached_in_its_head_not_all_its_units_again(
    make_user, make_org, make_drill, store_kind
):
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市头部学校", region_code=WUSU)
    make_org(name="乌苏市其他学校", region_code=WUSU)
    now = bj(4, 1)
    kept.kept_evaluate(YEAR, WUSU, now=now, actor=admin, evidence=False)
    db.session.commit()
    rows_before = rows_entry(admin, WUSU, now)
    assert rows_before is not None and head_of(admin, WUSU, now).newer == {}
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    moment = now + timedelta(seconds=5)
    results, as_of = kept.kept_evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False)
    db.session.commit()
    assert as_of == now
    assert statuses(results) == statuses(compliance.evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False))
    assert rows_entry(admin, WUSU, now) == rows_before  # not written again
    head = head_of(admin, WUSU, now)
    assert {unit for units in head.newer.values() for unit in units} == {str(school.id)}
    assert head.rows_tag == rows_before[0]
    # The dashboard reads the county's statuses from its head alone.
    shown = dashboard.build_dashboard(admin, YEAR, WUSU, now=moment)
    assert panels(shown) == fresh_panels(admin, WUSU, moment)


def test_a_county_brought_up_to_date_counts_again_only_the_drills_of_the_townships_a_change_reached(
    make_user, make_org, make_drill, make_region, monkeypatch
):
    """Its after-action totals and its monthly chart are kept township by township: a drill added, moved or
    reviewed has the drills of its townships alone counted again, the others' totals taken as kept."""
    admin = make_user(role=Role.ADMIN)
    east, west, north = make_region().code, make_region().code, make_region().code
    east_school = make_org(name="乌苏市东乡学校", region_code=east)
    for region in (east, west, north):
        make_drill(organizer=None, region_code=region, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    now = bj(4, 1)
    dashboard.build_dashboard(admin, YEAR, WUSU, now=now)
    db.session.commit()
    counted: list[tuple[str, set[str] | None]] = []  # what each count of drills was limited to
    real_totals, real_months = county_rules._totals_by_region, dashboard.month_counts

    def totals(inner, aggregates, rule_id, counting, regions):
        counted.append(("reviews", regions))
        return real_totals(inner, aggregates, rule_id, counting, regions)

    def months(user, region_codes, year, at):
        counted.append(("months", set(region_codes)))
        return real_months(user, region_codes, year, at)

    monkeypatch.setattr(county_rules, "_totals_by_region", totals)
    monkeypatch.setattr(dashboard, "month_counts", months)
    drill = make_drill(organizer=east_school, starts_at=bj(3, 20), status=DrillStatus.COMPLETED)
    touch(drill, region_code=west)
    db.session.add(Review(drill_id=drill.id, filing_status=FilingStatus.SUBMITTED, submitted_at=bj(3, 21)))
    db.session.commit()
    moment = now + timedelta(seconds=5)
    shown = dashboard.build_dashboard(admin, YEAR, WUSU, now=moment)
    assert counted == [("reviews", {east, west}), ("months", {east, west})]
    assert panels(shown) == fresh_panels(admin, WUSU, moment)
    assert [m["completed"] for m in shown.months][2] == 4
    ((_rule_id, by_region),) = head_of(admin, WUSU, now).region_totals.items()
    assert {region: totals[:3] for region, totals in by_region.items()} == {
        east: (1, 0, 1),  # completed, filed in time, overdue (those of 10 March have no review)
        west: (2, 1, 1),
        north: (1, 0, 1),
    }
    results, _as_of = kept.kept_evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False)
    assert statuses(results) == statuses(compliance.evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False))


def test_a_head_holding_enough_units_evaluated_again_has_its_county_s_unit_results_written_anew(
    make_user, make_org, make_drill, monkeypatch
):
    monkeypatch.setattr(kept, "NEWER_LIMIT", 0)
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市重写学校", region_code=WUSU)
    now = bj(4, 1)
    kept.kept_evaluate(YEAR, WUSU, now=now, actor=admin, evidence=False)
    rows_before = rows_entry(admin, WUSU, now)
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    moment = now + timedelta(seconds=5)
    results, as_of = kept.kept_evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False)
    assert as_of == now
    assert statuses(results) == statuses(compliance.evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False))
    head = head_of(admin, WUSU, now)
    written = rows_entry(admin, WUSU, now)
    assert head.newer == {} and written is not None and written[0] == head.rows_tag != rows_before[0]
    again, _as_of = kept.kept_evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=False)
    assert statuses(again) == statuses(results)


def test_a_county_whose_unit_results_were_pruned_is_evaluated_again_and_kept(
    make_user, make_org, make_drill, monkeypatch
):
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市清理学校", region_code=WUSU)
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    now = bj(4, 1)
    kept.kept_evaluate(YEAR, PREFECTURE, now=now, actor=admin, evidence=False)
    shared.store().delete([f"{kept.slot_of(YEAR, WUSU, kept._reader(admin, now), False)}:rows"])
    db.session.commit()
    evaluated = []
    real_evaluate = kept.evaluate

    def evaluate(year, region_code=None, **how):
        evaluated.append(region_code)
        return real_evaluate(year, region_code, **how)

    monkeypatch.setattr(kept, "evaluate", evaluate)
    moment = now + timedelta(seconds=5)
    results, as_of = kept.kept_evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False)
    assert statuses(results) == statuses(compliance.evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False))
    assert evaluated == [WUSU] and as_of == now  # Wusu alone, as of now + 5 s; the others kept as of now
    db.session.commit()
    assert kept.kept_evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False)[0] is not None
    assert evaluated == [WUSU]  # kept again with its units' results


def test_what_a_county_s_rises_reached_is_known_only_when_every_rise_is_noted(app):
    notes = [
        ("654202", 3, 4, [7], ["654202001"]),
        ("654202", 4, 6, [8, 9], ["654202002", "654202003"]),
        ("654202", 7, 8, [10], []),
        ("654203", 1, 2, [11], None),  # noted before regions were
    ]
    db.session.add_all(
        CountyChange(county_code=code, generation_from=low, generation_to=high, org_ids=units, region_codes=regions)
        for code, low, high, units, regions in notes
    )
    db.session.commit()
    reached = generations.Reached
    assert generations.changes_since({"654202": (3, 6)}) == {
        "654202": reached({7, 8, 9}, {"654202001", "654202002", "654202003"})
    }
    assert generations.changes_since({"654202": (4, 6), "654203": (1, 2)}) == {
        "654202": reached({8, 9}, {"654202002", "654202003"}),
        "654203": reached({11}, None),
    }
    assert generations.changes_since({"654202": (3, 8)}) == {}  # the rise from 6 to 7 reached every unit
    assert generations.changes_since({"654202": (3, 5)}) == {}  # 4 to 6 was one commit: no value was kept at 5
    assert generations.changes_since({"654203": (0, 2)}) == {}  # its notes of 0 to 1 are gone


def test_a_kept_result_older_than_its_notes_of_change_is_evaluated_whole(make_user, make_org, make_drill, monkeypatch):
    """The scheduler forgets the notes of changes once no result kept before them is served; a county whose
    notes are gone is evaluated whole, never patched from a partial record."""
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市遗忘学校", region_code=WUSU)
    now = bj(4, 1)
    kept.kept_evaluate(YEAR, WUSU, now=now, actor=admin, evidence=False)
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CountyChange)) == 1
    assert generations.prune_changes(utcnow() + timedelta(seconds=1)) == 1
    db.session.commit()
    evaluated = []
    real_evaluate = kept.evaluate

    def evaluate(year, region_code=None, **how):
        evaluated.append((region_code, how.get("rule_keys"), how.get("org_ids")))
        return real_evaluate(year, region_code, **how)

    monkeypatch.setattr(kept, "evaluate", evaluate)
    results, as_of = kept.kept_evaluate(YEAR, WUSU, now=now + timedelta(seconds=5), actor=admin, evidence=False)
    assert as_of == now + timedelta(seconds=5) and evaluated == [(WUSU, None, None)]
    assert statuses(results) == statuses(
        compliance.evaluate(YEAR, WUSU, now=now + timedelta(seconds=5), actor=admin, evidence=False)
    )


def test_the_scheduler_keeps_the_statuses_current_so_that_views_evaluate_nothing(
    make_user, make_org, make_drill, monkeypatch
):
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市定时学校", region_code=WUSU)
    counties = len(subject_counties(None))
    now = bj(4, 1)
    assert keep_compliance(now) == f"已重新评估 {2 * counties} 个县（市）的达标状态。"  # with and without evidence
    assert kept.refresh(YEAR, now + timedelta(seconds=10)) == 0
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    assert kept.refresh(YEAR, now + timedelta(seconds=11)) == 2  # Wusu's, with and without evidence

    def refuse(*args, **kwargs):
        raise AssertionError("a view evaluated although the scheduler kept the statuses current")

    monkeypatch.setattr(kept, "evaluate", refuse)
    moment = now + timedelta(seconds=12)
    prefecture, as_of = kept.kept_evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False)
    wusu, _as_of = kept.kept_evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=True)
    monkeypatch.undo()
    assert as_of == now
    assert statuses(prefecture) == statuses(
        compliance.evaluate(YEAR, PREFECTURE, now=moment, actor=admin, evidence=False)
    )
    assert statuses(wusu) == statuses(compliance.evaluate(YEAR, WUSU, now=moment, actor=admin, evidence=True))
    # Half COMPLIANCE_KEPT_SECONDS on, the others are evaluated again, before any view finds them too old …
    assert kept.refresh(YEAR, now + timedelta(seconds=31)) == 0
    assert kept.refresh(YEAR, now + timedelta(seconds=450)) == 2 * (counties - 1)
    # … and every county once the clock has changed their statuses (at local midnight, periods turn).
    assert kept.refresh(YEAR, local_midnight(local_today(now) + timedelta(days=1))) == 2 * counties


def test_the_dashboard_panels_are_kept_and_follow_a_change_at_once(app, make_user, make_org, make_drill, monkeypatch):
    admin = make_user(role=Role.ADMIN)
    school = make_org(name="乌苏市面板学校")
    make_drill(organizer=school, starts_at=bj(3, 10), status=DrillStatus.COMPLETED)
    now = bj(4, 1)
    first = dashboard.build_dashboard(admin, YEAR, WUSU, now=now)
    assert [m["completed"] for m in first.months][2] == 1

    def refuse(*args, **kwargs):
        raise AssertionError("queried although nothing changed")

    monkeypatch.setattr(dashboard, "month_counts", refuse)
    monkeypatch.setattr(dashboard, "overdue_actions", refuse)
    for seconds in (30, 600):
        again = dashboard.build_dashboard(admin, YEAR, WUSU, now=now + timedelta(seconds=seconds))
        assert again.months == first.months and again.overdue_count == first.overdue_count
    monkeypatch.undo()
    # At local midnight "today" turns (an action due yesterday is overdue today): the panels are made again.
    monkeypatch.setitem(app.config, "COMPLIANCE_KEPT_SECONDS", 24 * 3600)
    made = []
    real_overdue = dashboard.overdue_actions
    monkeypatch.setattr(dashboard, "overdue_actions", lambda *args: made.append(args) or real_overdue(*args))
    midnight = local_midnight(local_today(now) + timedelta(days=1))
    dashboard.build_dashboard(admin, YEAR, WUSU, now=midnight - timedelta(seconds=1))
    assert made == []
    dashboard.build_dashboard(admin, YEAR, WUSU, now=midnight)
    assert [args[1] for args in made] == [local_today(midnight)]
    monkeypatch.undo()
    make_drill(organizer=school, starts_at=bj(5, 10), status=DrillStatus.PLANNED)
    changed = dashboard.build_dashboard(admin, YEAR, WUSU, now=now + timedelta(seconds=31))
    assert changed.months == dashboard.monthly_completion(admin, subtree_list(WUSU), YEAR, now + timedelta(seconds=31))
    assert [(m["completed"], m["planned"]) for m in changed.months][2:5] == [(1, 0), (0, 0), (0, 1)]


def test_a_secret_drill_is_kept_apart_from_those_who_may_not_know_it(make_user, make_org, make_drill):
    school = make_org(name="乌苏市保密学校")
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    admin = make_user(role=Role.ADMIN)
    now = bj(4, 1)
    make_drill(organizer=school, starts_at=bj(4, 20), form=DrillForm.TABLETOP, double_blind=True)
    for user in (admin, viewer, admin, viewer):  # each reads its own kept result
        mine, _as_of = kept.kept_evaluate(YEAR, WUSU, now=now, actor=user)
        assert statuses(mine) == statuses(compliance.evaluate(YEAR, WUSU, now=now, actor=user))
    assert kept._reader(viewer, now) != kept._reader(admin, now)


def panels(shown) -> tuple:
    return shown.cells, shown.totals, shown.key_panel, shown.overdue_count, shown.overdue, shown.months


def fresh_panels(user, region_code, now) -> tuple:
    """The dashboard's panels made at once for the whole region from a fresh evaluation, kept nowhere."""
    results = compliance.evaluate(YEAR, region_code, now=now, actor=user, evidence=False)
    made = dashboard.panels_of(
        user, YEAR, subject_counties(region_code), subtree_list(region_code), results, local_today(now), now
    )
    return made.cells, made.totals, made.key_panel, made.overdue_count, made.overdue, made.months


def test_kept_statuses_equal_a_full_evaluation_after_random_changes(
    make_user, make_org, make_drill, make_region, monkeypatch
):
    """Creates, reschedules, completions, cancellations, deletions, reviews, renames, moves to another township
    or county and changes of who takes part, in two counties, in a random order; after each, what the dashboards
    read (each county's kept results, joined for the prefecture) equals a fresh evaluation on the same data."""
    rng = random.Random(13)
    patched = []
    real_spliced = kept._spliced

    def spliced(part, fresh, totals):
        made = real_spliced(part, fresh, totals)
        patched.append(made is not None)
        return made

    monkeypatch.setattr(kept, "_spliced", spliced)
    recounted = []
    real_recounting = kept._recounting
    monkeypatch.setattr(
        kept,
        "_recounting",
        lambda head, code, regions: recounted.append(regions) or real_recounting(head, code, regions),
    )
    rewritten = []
    real_rewritten = kept._with_rows_rewritten
    monkeypatch.setattr(kept, "_with_rows_rewritten", lambda head: rewritten.append(head) or real_rewritten(head))
    monkeypatch.setattr(kept, "NEWER_LIMIT", 2)  # heads hold a few units evaluated again, then rows are rewritten
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    admin = make_user(role=Role.ADMIN)
    places = [WUSU, make_region().code, make_region().code, SHAWAN, make_region(parent_code=SHAWAN).code]
    kinds = [OrgKind.SCHOOL, OrgKind.SCHOOL, OrgKind.KINDERGARTEN, OrgKind.HOSPITAL, OrgKind.SCHOOL]
    units = [make_org(name=f"随机单位{i}", kind=kind, region_code=places[i]) for i, kind in enumerate(kinds)]
    drills = []
    now = bj(6, 1)

    def new_drill():
        form = rng.choice(list(DrillForm))
        organizer = rng.choice(units + [None])
        drills.append(
            make_drill(
                organizer=organizer,
                region_code=organizer.region_code if organizer else rng.choice(places),
                starts_at=bj(rng.randint(1, 11), rng.randint(1, 28)),
                form=form,
                scope=rng.choice(list(DrillScope)),
                double_blind=form == DrillForm.TABLETOP and rng.random() < 0.5,
                status=rng.choice([DrillStatus.PLANNED, DrillStatus.COMPLETED]),
                participants=rng.sample(units, rng.randint(0, 2)),
            )
        )

    def move():
        drill = rng.choice(drills)
        touch(drill, region_code=rng.choice([place for place in places if place != drill.region_code]))

    def take_part():
        drill = rng.choice(drills)
        drill.participants = rng.sample(units, rng.randint(0, 3))
        db.session.commit()

    def overdue_action():
        drill = rng.choice(drills)
        finding = Finding(
            drill_id=drill.id,
            region_code=drill.region_code,
            summary=f"随机问题{len(drills)}",
            severity=rng.choice(list(Severity)),
            category=rng.choice(list(FindingCategory)),
            found_on=local_today(now) - timedelta(days=40),
        )
        db.session.add(finding)
        db.session.flush()
        due = local_today(now) - timedelta(days=rng.randint(1, 30))
        db.session.add(CorrectiveAction(finding_id=finding.id, description="整改", owner_id=admin.id, due_on=due))
        db.session.commit()

    def reschedule():
        drill = rng.choice(drills)
        shift = timedelta(days=rng.randint(-60, 60))
        touch(drill, starts_at=drill.starts_at + shift, ends_at=drill.ends_at + shift)

    def complete():
        touch(rng.choice(drills), status=DrillStatus.COMPLETED)

    def cancel():
        touch(rng.choice(drills), status=DrillStatus.CANCELLED, cancelled_at=now)

    def delete():
        drill = drills.pop(rng.randrange(len(drills)))
        db.session.delete(drill)
        db.session.commit()

    def review():
        drill = rng.choice(drills)
        found = db.session.get(Review, drill.id)
        if found is None:
            db.session.add(Review(drill_id=drill.id, filing_status=FilingStatus.SUBMITTED, submitted_at=now))
        else:
            found.filing_status, found.decided_at = FilingStatus.ACCEPTED, now
        db.session.commit()

    def rename_unit():
        unit = rng.choice(units)
        unit.name = f"{unit.name}·"
        db.session.commit()

    for _ in range(6):
        new_drill()
    actions = [new_drill, reschedule, complete, cancel, delete, review, rename_unit, move, take_part, overdue_action]
    checked, done = 0, set()
    for step in range(20):
        action = rng.choice(actions) if drills else new_drill
        action()
        done.add(action.__name__)
        moment = now + timedelta(seconds=step)
        for user in (admin, coordinator, viewer):
            for region in (WUSU, SHAWAN, None):
                for evidence in (False, True):
                    read, _as_of = kept.kept_evaluate(YEAR, region, now=moment, actor=user, evidence=evidence)
                    fresh = compliance.evaluate(YEAR, region, now=moment, actor=user, evidence=evidence)
                    assert statuses(read) == statuses(fresh), (step, user.role, region, evidence)
                    checked += 1
            for region in (WUSU, PREFECTURE) if user is admin else (WUSU,):
                shown = dashboard.build_dashboard(user, YEAR, region, now=moment)
                assert panels(shown) == fresh_panels(user, region, moment), (step, user.role, region)
    assert checked == 20 * 18
    # After a drill's change, the reads patched what was kept rather than evaluating the county whole.
    assert len(patched) >= 40 and all(patched), patched
    assert 0 < len(rewritten) < len(patched)
    # … and counted again the drills of the regions the change reached, not the county's.
    assert any(regions and len(regions) < len(places) for regions in recounted), recounted
    assert {"move", "take_part", "overdue_action", "delete"} <= done, done


def test_dashboard_and_api_show_when_the_statuses_were_evaluated(client, make_user):
    from tests.conftest import login, token_for

    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    headers = token_for(client, coordinator)
    body = client.get("/api/v1/compliance", headers=headers).get_json()
    as_of = datetime.fromisoformat(body["as_of"])
    assert abs((as_of - datetime.now(timezone.utc)).total_seconds()) < 60
    # A second read within the minute is the kept one.
    assert client.get("/api/v1/compliance", headers=headers).get_json()["as_of"] == body["as_of"]
    login(client, coordinator)
    page = client.get("/compliance/").get_data(as_text=True)
    shown = re.search(r'id="as-of">统计时间：(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)<', page)
    assert shown is not None, page
    moment = datetime.strptime(shown.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BJ)
    assert abs((moment - datetime.now(timezone.utc)).total_seconds()) < 60


def test_the_api_answer_is_kept_per_language_and_follows_a_change(client, make_user, make_org, make_drill):
    from tests.conftest import token_for

    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    headers = token_for(client, coordinator)

    def read(language):
        answer = client.get("/api/v1/compliance", headers={**headers, "Accept-Language": language})
        assert answer.status_code == 200 and answer.mimetype == "application/json"
        return answer.get_json()

    chinese, english = read("zh-CN"), read("en")
    assert {r["title"] for r in chinese["rules"]} != {r["title"] for r in english["rules"]}
    assert english["matrix"]["sections"][0]["columns"][:2] == ["County / city", "Key county"]
    assert chinese["matrix"]["sections"][0]["columns"][:2] != english["matrix"]["sections"][0]["columns"][:2]
    assert read("zh-CN") == chinese and read("en") == english  # kept, each in its language
    school = make_org(name="乌苏市接口学校", kind=OrgKind.SCHOOL)
    db.session.commit()

    def units(body):
        return {r["subject"].get("id") for rule in body["rules"] for r in rule["results"]}

    after = read("en")
    assert school.id in units(after) and school.id not in units(english)


def test_a_region_renamed_is_renamed_in_every_worker_s_feed(app, second_app, make_user, make_drill):
    from drillmgr.regions.models import Region

    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    make_drill(title="更名前的演练")
    before = serving.answer(region_feed(coordinator))
    with request_of(second_app):
        serving.answer(region_feed(coordinator))
    start = generations.current(generations.REGIONS)
    db.session.get(Region, WUSU).name = "乌苏市（新名）"
    db.session.commit()
    assert generations.current(generations.REGIONS) > start
    for application in (second_app, app):
        with request_of(application):
            after = serving.answer(region_feed(coordinator))
            assert "乌苏市（新名）" in after.body.replace(b"\r\n ", b"").decode()
            assert after.etag != before.etag and after.last_modified >= before.last_modified
