"""Recurring drills: RRULE series, idempotent materialisation, one occurrence, "this and following"."""

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.access.services import SYSTEM
from drillmgr.drills.lifecycle import cancel_drill, complete_drill, reschedule_drill
from drillmgr.drills.series import create_series, materialize_all, materialize_series
from drillmgr.drills.series_changes import update_following
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from tests.conftest import WUSU
from tests.test_scheduler_processes import PROJECT_DIR, database_url  # noqa: F401 — a fixture

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 1, 0, 0, tzinfo=timezone.utc)


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU)


@pytest.fixture
def staff(make_user, school):
    return make_user(role=Role.ORG_STAFF, org=school)


def monthly(school, **fields) -> dict:
    start = datetime(2026, 3, 15, 10, 0, tzinfo=BEIJING)
    return {
        "title": "每月避险疏散演练",
        "form": "evacuation",
        "organizer_org_id": school.id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(minutes=45)).isoformat(),
        "rrule": "FREQ=MONTHLY;BYMONTHDAY=15",
        "location": "教学楼",
    } | fields


def occurrences(series_id) -> list[Drill]:
    return list(db.session.scalars(sa.select(Drill).where(Drill.series_id == series_id).order_by(Drill.starts_at)))


def test_create_series_materialises_real_drills_up_to_the_horizon(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 8, 31, tzinfo=BEIJING))
    drills = occurrences(series.id)
    assert [d.starts_at.astimezone(BEIJING).strftime("%m-%d %H:%M") for d in drills] == [
        "03-15 10:00",
        "04-15 10:00",
        "05-15 10:00",
        "06-15 10:00",
        "07-15 10:00",
        "08-15 10:00",
    ]
    assert all(d.ends_at - d.starts_at == timedelta(minutes=45) for d in drills)
    assert all(d.organizer_org_id == school.id and d.location == "教学楼" for d in drills)
    assert all(d.occurrence_start == d.starts_at and d.status == DrillStatus.PLANNED for d in drills)


def test_materialise_is_idempotent_and_extends(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 5, 31, tzinfo=BEIJING))
    assert len(occurrences(series.id)) == 3
    assert materialize_series(SYSTEM, series.id, datetime(2026, 5, 31, tzinfo=BEIJING)) == []
    created = materialize_series(SYSTEM, series.id, datetime(2026, 7, 31, tzinfo=BEIJING))
    assert len(created) == 2
    assert materialize_series(SYSTEM, series.id, datetime(2026, 7, 31, tzinfo=BEIJING)) == []
    assert len(occurrences(series.id)) == 5
    assert materialize_all(SYSTEM, datetime(2026, 7, 31, tzinfo=BEIJING)) == 0


def test_changed_or_cancelled_occurrence_is_not_made_again(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 5, 31, tzinfo=BEIJING))
    april = occurrences(series.id)[1]
    moved = datetime(2026, 4, 17, 15, 0, tzinfo=BEIJING)
    reschedule_drill(staff, april, moved, moved + timedelta(minutes=45), version=1)
    may = occurrences(series.id)[2]
    cancel_drill(staff, may, {"reason": "考试周"})
    materialize_series(SYSTEM, series.id, datetime(2026, 6, 30, tzinfo=BEIJING))
    drills = occurrences(series.id)
    assert len(drills) == 4
    assert db.session.get(Drill, april.id).starts_at == moved and april.sequence == 1
    assert db.session.get(Drill, may.id).status == DrillStatus.CANCELLED


def test_occurrences_complete_one_by_one(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 5, 31, tzinfo=BEIJING))
    march = occurrences(series.id)[0]
    complete_drill(
        staff, march, {"participation": {"counts": {"students": 500}}}, now=datetime(2026, 3, 16, tzinfo=timezone.utc)
    )
    statuses = [d.status for d in occurrences(series.id)]
    assert statuses == [DrillStatus.COMPLETED, DrillStatus.PLANNED, DrillStatus.PLANNED]


def test_this_and_following_splits_the_series(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 7, 31, tzinfo=BEIJING))
    march, april, may, june, july = occurrences(series.id)
    new_start = datetime(2026, 5, 15, 14, 30, tzinfo=BEIJING)
    new = update_following(
        staff,
        may,
        {
            "title": "每月避险疏散演练（下午）",
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + timedelta(minutes=30)).isoformat(),
            "version": 1,
        },
        now=NOW,
    )
    old = db.session.get(DrillSeries, series.id)
    assert "UNTIL=20260515T015959Z" in old.rrule
    assert [d.id for d in occurrences(series.id)] == [march.id, april.id]
    later = occurrences(new.id)
    assert [d.id for d in later] == [may.id, june.id, july.id]
    assert [d.starts_at.astimezone(BEIJING).strftime("%m-%d %H:%M") for d in later] == [
        "05-15 14:30",
        "06-15 14:30",
        "07-15 14:30",
    ]
    assert all(d.title == "每月避险疏散演练（下午）" and d.sequence == 1 for d in later)
    assert all(d.ends_at - d.starts_at == timedelta(minutes=30) for d in later)
    assert march.title == "每月避险疏散演练"
    assert materialize_series(SYSTEM, series.id, datetime(2026, 9, 30, tzinfo=BEIJING)) == []
    assert len(materialize_series(SYSTEM, new.id, datetime(2026, 9, 30, tzinfo=BEIJING))) == 2


def test_this_and_following_with_a_new_rule_cancels_dropped_slots(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 7, 31, tzinfo=BEIJING))
    march, april, may, june, july = occurrences(series.id)
    new = update_following(staff, april, {"rrule": "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=15", "version": 1}, now=NOW)
    assert [d.id for d in occurrences(new.id)] == [april.id, june.id]
    assert db.session.get(Drill, may.id).status == DrillStatus.CANCELLED
    assert db.session.get(Drill, july.id).status == DrillStatus.CANCELLED
    assert db.session.get(Drill, may.id).series_id == series.id


def test_this_and_following_keeps_remaining_count(staff, school):
    series = create_series(staff, monthly(school, rrule="FREQ=MONTHLY;BYMONTHDAY=15;COUNT=4"), now=NOW)
    assert len(occurrences(series.id)) == 4
    third = occurrences(series.id)[2]
    new = update_following(staff, third, {"location": "新操场", "version": 1}, now=NOW)
    assert "COUNT=2" in new.rrule and "COUNT" not in db.session.get(DrillSeries, series.id).rrule
    assert [d.location for d in occurrences(new.id)] == ["新操场", "新操场"]


@pytest.mark.parametrize(
    "rule", ["FREQ=HOURLY", "FREQ=MONTHLY;BYMONTHDAY=40", "nonsense", "", "FREQ=MONTHLY\nRRULE:FREQ=DAILY"]
)
def test_bad_rules_refused(staff, school, rule):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Drill))
    with pytest.raises(ValidationError) as error:
        create_series(staff, monthly(school, rrule=rule), now=NOW)
    assert "rrule" in error.value.errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == before


def test_rrule_prefix_accepted(staff, school):
    series = create_series(staff, monthly(school, rrule="RRULE:FREQ=WEEKLY;COUNT=3"), now=NOW)
    assert series.rrule == "FREQ=WEEKLY;COUNT=3" and len(occurrences(series.id)) == 3


def test_dtstart_is_the_first_occurrence(staff, school):
    start = datetime(2026, 3, 10, 10, 0, tzinfo=BEIJING)
    series = create_series(
        staff,
        monthly(school, starts_at=start.isoformat(), ends_at=(start + timedelta(hours=1)).isoformat()),
        now=NOW,
        horizon=datetime(2026, 4, 30, tzinfo=BEIJING),
    )
    assert [d.starts_at.astimezone(BEIJING).day for d in occurrences(series.id)] == [10, 15, 15]


def test_changing_the_whole_series_from_its_first_drill(staff, school):
    series = create_series(staff, monthly(school), now=NOW, horizon=datetime(2026, 5, 31, tzinfo=BEIJING))
    first = occurrences(series.id)[0]
    new = update_following(staff, first, {"location": "体育馆", "version": 1}, now=NOW)
    assert occurrences(series.id) == []
    assert materialize_series(SYSTEM, series.id, datetime(2026, 12, 31, tzinfo=BEIJING)) == []
    assert [d.location for d in occurrences(new.id)] == ["体育馆"] * 3


MATERIALISER = """
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from flask_migrate import upgrade
from drillmgr import create_app
from drillmgr.access.services import SYSTEM
from drillmgr.drills.series import create_series, materialize_all
from drillmgr.enums import OrgKind, Role
from drillmgr.extensions import db
from drillmgr.regions.services import ensure_tacheng

app = create_app()
now = datetime(2026, 2, 1, tzinfo=timezone.utc)
with app.app_context():
    if sys.argv[1] == "setup":
        upgrade()
        ensure_tacheng()
        from drillmgr.accounts.models import User
        from drillmgr.orgs.models import Organisation
        school = Organisation(name="并发学校", kind=OrgKind.SCHOOL, region_code="654202", headcount=500)
        user = User(username="planner", role=Role.ORG_STAFF, org=school, password_hash="x")
        db.session.add_all([school, user])
        db.session.commit()
        start = datetime(2026, 3, 2, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
        for i in range(12):
            create_series(user, {"title": f"系列{i}", "form": "evacuation", "organizer_org_id": school.id,
                                          "starts_at": (start + timedelta(hours=i)).isoformat(),
                                          "ends_at": (start + timedelta(hours=i, minutes=30)).isoformat(),
                                          "rrule": "FREQ=WEEKLY"}, now=now, horizon=start + timedelta(days=1))
        db.session.commit()
    else:
        created = materialize_all(SYSTEM, now + timedelta(days=366), now=now)
        db.session.commit()
        print(created)
"""


@pytest.mark.slow
def test_two_materialising_runs_at_once_make_every_occurrence_once(database_url, tmp_path):
    """Real concurrent runs in two processes, as a scheduler's catch-up and its regular firing."""
    import subprocess
    import sys

    from sqlalchemy.pool import NullPool

    env = {k: v for k, v in os.environ.items() if k not in ("SCHEDULER_SCHEDULE", "DRILLMGR_SCHEDULER_SCHEDULE")} | {
        "DRILLMGR_SQLALCHEMY_DATABASE_URI": database_url,
        "DRILLMGR_SECRET_KEY": "concurrency-test",
        "DRILLMGR_ENV": "development",
        "DRILLMGR_INSTANCE": str(tmp_path),
    }
    subprocess.run([sys.executable, "-c", MATERIALISER, "setup"], env=env, check=True, cwd=PROJECT_DIR)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", MATERIALISER, "run"],
            env=env,
            cwd=PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            total = connection.scalar(sa.select(sa.func.count()).select_from(Drill))
            pairs = sa.select(Drill.series_id, Drill.occurrence_start).distinct().subquery()
            distinct = connection.scalar(sa.select(sa.func.count()).select_from(pairs))
    finally:
        engine.dispose()
    created = sorted(int(out.strip().splitlines()[-1]) for out, _err in outputs)
    # 12 series, Mondays from 2 March 2026 to 1 February 2027: 49 each, the first made at setup.
    assert total == distinct == 12 * 49
    assert sum(created) == 12 * 48


def test_the_migration_keeps_duplicate_occurrences_as_drills_of_their_own(fresh_database_url):
    from flask_migrate import upgrade

    from config import TestConfig
    from drillmgr import create_app

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = fresh_database_url

    migrated = create_app(Config)
    with migrated.app_context():
        engine = db.engine
        upgrade(revision="b7c1e5a2d9f0")
        moment = datetime(2026, 3, 2, 2, 0)
        with engine.begin() as connection:
            metadata = sa.MetaData()
            series = sa.Table("drill_series", metadata, autoload_with=connection)
            drills = sa.Table("drills", metadata, autoload_with=connection)
            connection.execute(
                series.insert().values(
                    id=1,
                    rrule="FREQ=WEEKLY",
                    dtstart=moment,
                    duration_minutes=30,
                    template={},
                    created_at=moment,
                    updated_at=moment,
                )
            )
            row = dict(
                title="重复",
                description="",
                form="evacuation",
                scope="single",
                double_blind=False,
                joint_with="none",
                conditions=[],
                organizer_region_code=WUSU,
                region_code=WUSU,
                location="",
                public=False,
                status="planned",
                cancel_reason="",
                real_response=False,
                real_response_note="",
                series_id=1,
                sequence=0,
                version=1,
                is_demo=False,
                created_at=moment,
                updated_at=moment,
            )
            for drill_id, start in ((1, moment), (2, moment), (3, moment + timedelta(days=7)), (4, moment)):
                connection.execute(
                    drills.insert().values(
                        id=drill_id,
                        starts_at=start,
                        occurrence_start=start,
                        ends_at=start + timedelta(minutes=30),
                        **row,
                    )
                )
        upgrade()
        with engine.connect() as connection:
            kept = connection.execute(sa.text("SELECT id, series_id FROM drills ORDER BY id")).all()
        assert [tuple(r) for r in kept] == [(1, 1), (2, None), (3, 1), (4, None)]
        engine.dispose()
