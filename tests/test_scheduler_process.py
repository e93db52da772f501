"""The scheduler process in this one: one run of a job at a time whatever fired it, and a holder that
lost the lease (paused, then resumed) says so and claims no more work."""

import logging
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from drillmgr.extensions import db
from drillmgr.scheduler import process as process_module
from drillmgr.scheduler import runner
from drillmgr.scheduler.models import JobRun, SchedulerLease
from drillmgr.scheduler.process import SchedulerProcess
from drillmgr.scheduler.runner import Every


@pytest.fixture
def scheduler(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_LEASE_SECONDS", 30)
    made = SchedulerProcess(app)
    made.schedules = {"drill_reminders": Every(1)}
    made._job_locks = {"drill_reminders": threading.Lock()}
    return made


def runs() -> list:
    return db.session.execute(
        sa.select(JobRun.job, JobRun.scheduled_for, JobRun.holder, JobRun.outcome).order_by(JobRun.scheduled_for)
    ).all()


def test_catch_up_and_regular_firing_never_run_a_job_at_the_same_time(scheduler, monkeypatch):
    scheduler.renew_lease()
    assert scheduler.holds_lease()
    running, overlaps = [], []

    def slow_job(moment):
        running.append(moment)
        if len(running) > 1:
            overlaps.append(list(running))
        time.sleep(1.5)  # longer than the 1 s between moments: the second firing is for a later moment
        running.remove(moment)
        return "done"

    monkeypatch.setitem(process_module.JOBS, "drill_reminders", slow_job)
    catch_up = threading.Thread(target=scheduler.fire, args=["drill_reminders"])
    catch_up.start()
    time.sleep(1.1)
    scheduler.fire("drill_reminders")  # the regular firing, while the catch-up still runs
    catch_up.join()
    assert overlaps == []
    moments = [r.scheduled_for for r in runs()]
    assert len(moments) == 2 and moments[0] < moments[1]
    assert {r.outcome for r in runs()} == {"ok"}


def test_a_resumed_holder_that_lost_the_lease_says_so_and_claims_nothing(scheduler, caplog, monkeypatch):
    monkeypatch.setattr(process_module.log, "disabled", False)  # Alembic's logging set-up turns it off in tests
    scheduler.renew_lease()
    assert scheduler.holds_lease()
    # Paused past its lease, the lease was taken over meanwhile:
    db.session.execute(
        sa.update(SchedulerLease).values(holder="other:1:x", expires_at=runner.database_now() + timedelta(seconds=60))
    )
    db.session.commit()
    scheduler._held_until = time.monotonic() - 1
    with caplog.at_level(logging.WARNING, logger="drillmgr.scheduler"):
        scheduler.fire("drill_reminders")
        scheduler.renew_lease()
    assert runs() == []
    lost = [r.getMessage() for r in caplog.records if "lost the lease" in r.getMessage()]
    assert len(lost) == 1, caplog.text


def test_a_holder_whose_lease_was_taken_before_it_noticed_claims_nothing(scheduler):
    scheduler.renew_lease()
    db.session.execute(
        sa.update(SchedulerLease).values(holder="other:1:x", expires_at=runner.database_now() + timedelta(seconds=60))
    )
    db.session.commit()
    assert scheduler.holds_lease()  # its own reckoning has not run out yet
    scheduler.fire("drill_reminders")
    assert runs() == []  # but the database refused the claim


def test_a_stop_while_the_loop_removes_a_finished_catch_up_ends_cleanly(scheduler, monkeypatch):
    """Seen in CI: SIGTERM right after a catch-up ran; shutdown, from the stop thread, marked APScheduler
    stopped while its loop was removing that one-off job, and the loop's JobLookupError made the process exit 1."""
    from apscheduler.jobstores.base import JobLookupError

    def stopped_mid_loop():
        scheduler.stop()
        raise JobLookupError("compliance:catch-up")

    monkeypatch.setattr(scheduler.scheduler, "start", stopped_mid_loop)
    monkeypatch.setattr(process_module.signal, "signal", lambda *args: None)  # pytest keeps its own handlers
    scheduler.run()  # returns, having released the lease
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(SchedulerLease).where(SchedulerLease.holder == scheduler.holder)
        )
        == 0
    )


def test_a_job_lookup_error_while_running_is_not_hidden(scheduler, monkeypatch):
    from apscheduler.jobstores.base import JobLookupError

    def lost_a_job():
        raise JobLookupError("drill_reminders")

    monkeypatch.setattr(scheduler.scheduler, "start", lost_a_job)
    monkeypatch.setattr(process_module.signal, "signal", lambda *args: None)
    with pytest.raises(JobLookupError):
        scheduler.run()
