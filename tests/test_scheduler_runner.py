"""The scheduler's bookkeeping: schedules and their moments, the lease, claiming and recording runs."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from drillmgr.extensions import db
from drillmgr.scheduler import runner
from drillmgr.scheduler.models import JobRun, SchedulerLease
from drillmgr.scheduler.runner import Daily, Every, Outcome, ScheduleError

BEIJING = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_every_moments_lie_on_a_grid_shared_by_all_processes():
    every = Every(60)
    assert every.latest_moment(datetime(2026, 5, 1, 10, 0, 59, 999, tzinfo=UTC), BEIJING) == datetime(
        2026, 5, 1, 10, 0, tzinfo=UTC
    )
    assert every.latest_moment(datetime(2026, 5, 1, 10, 1, tzinfo=UTC), BEIJING) == datetime(
        2026, 5, 1, 10, 1, tzinfo=UTC
    )


def test_daily_moment_is_the_latest_local_time_not_after_now():
    nightly = Daily(time(2, 0))
    # 01:00 Beijing on 2 May is 17:00 UTC on 1 May: the latest 02:00 Beijing is that of 1 May.
    assert nightly.latest_moment(datetime(2026, 5, 1, 17, 0, tzinfo=UTC), BEIJING) == datetime(
        2026, 4, 30, 18, 0, tzinfo=UTC
    )
    assert nightly.latest_moment(datetime(2026, 5, 1, 18, 0, tzinfo=UTC), BEIJING) == datetime(
        2026, 5, 1, 18, 0, tzinfo=UTC
    )
    # Down for three days: one moment, the latest (coalesced), not three.
    assert nightly.latest_moment(datetime(2026, 5, 4, 20, 0, tzinfo=UTC), BEIJING) == datetime(
        2026, 5, 4, 18, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("every 60s", Every(60)),
        ("every 2 s", Every(2)),
        ("daily 02:00", Daily(time(2, 0))),
        ("Daily 8:30", Daily(time(8, 30))),
        ("off", None),
    ],
)
def test_parse_schedule(text, expected):
    assert runner.parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["every 0s", "daily 25:00", "hourly", "every minute", ""])
def test_parse_schedule_refuses_what_it_cannot_read(text):
    with pytest.raises(ScheduleError):
        runner.parse_schedule(text)


def test_resolve_schedules_applies_overrides_and_drops_jobs_turned_off():
    defaults = {"a": "every 60s", "b": "daily 02:00", "c": "every 5s"}
    resolved = runner.resolve_schedules(defaults, " a=every 2s ; c=off ")
    assert resolved == {"a": Every(2), "b": Daily(time(2, 0))}
    with pytest.raises(ScheduleError, match="nosuchjob"):
        runner.resolve_schedules(defaults, "nosuchjob=every 1s")
    with pytest.raises(ScheduleError):
        runner.resolve_schedules(defaults, "a")


def lease():
    return db.session.get(SchedulerLease, runner.LEASE_NAME, populate_existing=True)


def test_lease_first_taken_then_renewed_and_refused_to_others_until_it_expires():
    assert runner.acquire_lease("A", 30, now=T0)
    assert lease().holder == "A" and lease().expires_at == T0 + timedelta(seconds=30)
    assert not runner.acquire_lease("B", 30, now=T0 + timedelta(seconds=10))
    assert runner.acquire_lease("A", 30, now=T0 + timedelta(seconds=20))
    assert lease().expires_at == T0 + timedelta(seconds=50)
    assert not runner.acquire_lease("B", 30, now=T0 + timedelta(seconds=49))
    # A stopped renewing: B takes over once the lease ran out, and A cannot renew any more.
    assert runner.acquire_lease("B", 30, now=T0 + timedelta(seconds=51))
    assert lease().holder == "B"
    assert not runner.acquire_lease("A", 30, now=T0 + timedelta(seconds=52))


def test_release_lets_another_take_over_at_once():
    assert runner.acquire_lease("A", 30, now=T0)
    runner.release_lease("B")  # not the holder: nothing happens
    assert lease().holder == "A"
    runner.release_lease("A")
    assert lease() is None
    assert runner.acquire_lease("B", 30, now=T0 + timedelta(seconds=1))


def test_a_moment_is_claimed_once_and_a_job_runs_once_at_a_time():
    first = runner.claim_run("job", T0, "A")
    assert first is not None
    assert runner.claim_run("job", T0, "B") is None
    assert runner.claim_run("job", T0 + timedelta(minutes=1), "B") is None  # "job" is still running
    assert runner.claim_run("other", T0, "B") is not None
    runner.finish_run(first, Outcome.OK, "")
    assert runner.claim_run("job", T0 + timedelta(minutes=1), "B") is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun).where(JobRun.job == "job")) == 2


def test_lease_times_are_the_databases_not_this_machines(monkeypatch):
    real_now = runner.database_now()
    # This machine's clock a minute fast, as a scheduler's was: the lease still runs by the database's.
    monkeypatch.setattr(runner, "utcnow", lambda: datetime.now(UTC) + timedelta(seconds=60))
    assert runner.acquire_lease("A", 30)
    assert abs(lease().expires_at - (real_now + timedelta(seconds=30))) < timedelta(seconds=5)
    assert not runner.acquire_lease("B", 30)
    assert runner.holds_lease("A") and not runner.holds_lease("B")


def test_a_holder_that_lost_the_lease_claims_no_more_runs():
    now = runner.database_now()
    assert runner.acquire_lease("A", 30, now=now - timedelta(seconds=40))  # ran out 10 s ago
    assert runner.claim_run("job", T0, "A", lease=runner.LEASE_NAME) is None
    assert runner.acquire_lease("B", 30)
    assert runner.claim_run("job", T0, "A", lease=runner.LEASE_NAME) is None
    assert runner.claim_run("job", T0, "B", lease=runner.LEASE_NAME) is not None
    assert db.session.scalar(sa.select(JobRun.holder).where(JobRun.job == "job")) == "B"


def test_run_job_records_success_and_skips_a_moment_already_run():
    calls = []

    def job(moment):
        calls.append(moment)
        return "did it"

    run_id = runner.run_job("job", job, T0, "A")
    assert runner.run_job("job", job, T0, "B") is None
    assert calls == [T0]
    run = db.session.get(JobRun, run_id, populate_existing=True)
    assert (run.outcome, run.detail, run.holder) == (Outcome.OK, "did it", "A")
    assert run.finished_at is not None and run.scheduled_for == T0


def test_run_job_records_a_failure_and_rolls_back_its_work(make_org):
    from drillmgr.orgs.models import Organisation

    def job(moment):
        db.session.add(Organisation(name="失败的任务写入的单位", kind="school", region_code="654202", headcount=1))
        db.session.flush()
        raise RuntimeError("SMTP exploded")

    run_id = runner.run_job("job", job, T0, "A")
    run = db.session.get(JobRun, run_id, populate_existing=True)
    assert run.outcome == Outcome.FAILED and "RuntimeError: SMTP exploded" in run.detail
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Organisation).where(Organisation.name == "失败的任务写入的单位")
        )
        == 0
    )


def test_a_run_abandoned_by_a_dead_holder_is_run_again_by_the_next():
    dead = runner.claim_run("job", T0, "A")
    assert runner.run_job("job", lambda moment: "did it", T0, "B") is None  # claimed, and A's run is "running"
    assert runner.abandon_runs_of_others("B") == 1
    assert db.session.get(JobRun, dead, populate_existing=True).outcome == Outcome.ABANDONED
    calls = []
    assert runner.run_job("job", lambda moment: calls.append(moment) or "did it", T0, "B") == dead
    assert calls == [T0]
    run = db.session.get(JobRun, dead, populate_existing=True)
    assert (run.holder, run.outcome, run.detail) == ("B", Outcome.OK, "did it")
    # A was only paused: when it comes back it cannot overwrite the record of B's run.
    runner.finish_run(dead, Outcome.FAILED, "late", holder="A")
    assert db.session.get(JobRun, dead, populate_existing=True).outcome == Outcome.OK
    assert runner.run_job("job", lambda moment: "again", T0, "C") is None  # done once: never again


def test_prune_forgets_old_successes_but_keeps_failures():
    runner.run_job("job", lambda m: "", T0 - timedelta(days=40), "A")
    runner.run_job("job", lambda m: 1 / 0, T0 - timedelta(days=41), "A")
    runner.run_job("job", lambda m: "", T0, "A")
    assert runner.prune_runs(T0 - timedelta(days=30)) == 1
    outcomes = sorted(db.session.scalars(sa.select(JobRun.outcome).where(JobRun.job == "job")))
    assert outcomes == [Outcome.FAILED, Outcome.OK]


def test_the_web_application_never_starts_a_scheduler(app, client):
    import threading

    from config import TestConfig
    from drillmgr import create_app

    create_app(TestConfig)
    client.get("/login")
    names = {thread.name for thread in threading.enumerate()}
    assert "scheduler-lease" not in names and not any("APScheduler" in name for name in names)
    assert runner.current_lease() is None


def test_a_run_left_running_by_a_failed_record_does_not_block_the_job_for_ever():
    assert runner.acquire_lease("A", 30)
    stuck = runner.claim_run("job", T0, "A", lease=runner.LEASE_NAME)  # its end was never recorded
    assert runner.claim_run("job", T0 + timedelta(minutes=1), "A") is None  # without the lease: refused
    later = runner.claim_run("job", T0 + timedelta(minutes=1), "A", lease=runner.LEASE_NAME)
    assert later is not None and later != stuck
    assert db.session.get(JobRun, stuck, populate_existing=True).outcome == Outcome.ABANDONED
