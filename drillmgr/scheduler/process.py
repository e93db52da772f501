"""The `drillmgr scheduler` process: APScheduler 3 (BlockingScheduler, Beijing time) plus the lease.

Any number of these may run, on one machine or several; a renewal thread keeps trying to take or
renew the lease, and only while it holds the lease does a fired job do anything. A job's moment is
computed from its schedule (the latest moment not after now), so every process agrees on it, a
late or coalesced firing works for the latest missed moment only, and the JobRun claim stops a
moment from running twice. A job runs once at a time in a process, whether its schedule or the
catch-up after taking the lease fired it. Web workers never build one of these.
"""

import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import datetime, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from flask_babel import force_locale

from drillmgr.extensions import db
from drillmgr.localtime import local_zone
from drillmgr.notifications.sender import SmtpSettings
from drillmgr.scheduler import runner
from drillmgr.scheduler.jobs import DEFAULT_SCHEDULE, JOBS
from drillmgr.scheduler.runner import EPOCH, Daily, Every

log = logging.getLogger("drillmgr.scheduler")


class SchedulerProcess:
    def __init__(self, app: Flask):
        self.app = app
        with app.app_context():
            self.zone = local_zone()
            smtp = SmtpSettings.from_config(app.config)  # raises SmtpSettingsError on a bad setting
        self.lease_seconds = float(app.config["SCHEDULER_LEASE_SECONDS"])
        if self.lease_seconds <= 0:
            raise runner.ScheduleError("SCHEDULER_LEASE_SECONDS must be positive")
        self.schedules = runner.resolve_schedules(DEFAULT_SCHEDULE, app.config.get("SCHEDULER_SCHEDULE", ""))
        if smtp is None:
            self.schedules.pop("send_mail", None)
            log.warning("SMTP_HOST is not set: notifications are in-app only; mail waits in the outbox")
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._held_until = 0.0  # time.monotonic() until which this process may run jobs
        self._holding = False  # whether it held the lease when last looked at, to say when that ends
        self._state_lock = threading.Lock()
        self._job_locks = {name: threading.Lock() for name in self.schedules}
        self._stopping = threading.Event()
        self._stopper: threading.Thread | None = None
        self.scheduler = BlockingScheduler(
            timezone=self.zone,
            executors={"default": ThreadPoolExecutor(4)},
            # Missed moments run once (coalesced), however late; one instance of a job at a time.
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        for name, schedule in self.schedules.items():
            self.scheduler.add_job(self.fire, self._trigger(schedule), args=[name], id=name, name=name)

    def _trigger(self, schedule):
        if isinstance(schedule, Every):
            return IntervalTrigger(seconds=schedule.seconds, start_date=EPOCH, timezone=self.zone)
        if isinstance(schedule, Daily):
            return CronTrigger(hour=schedule.at.hour, minute=schedule.at.minute, timezone=self.zone)
        raise TypeError(schedule)

    def holds_lease(self) -> bool:
        with self._state_lock:
            if time.monotonic() < self._held_until:
                return True
            lost, self._holding = self._holding, False
        if lost:
            log.warning("lost the lease: not renewed within %ss; claiming no more work", self.lease_seconds)
        return False

    def fire(self, name: str) -> None:
        """What APScheduler calls: runs job `name` for its latest moment, if this process holds the lease.
        A firing that finds the same job running (its catch-up, say) waits for it, then finds its moment done."""
        with self._job_locks[name]:
            if not self.holds_lease():
                return
            # No request here to choose a language: services' messages are in the default one.
            with self.app.app_context(), force_locale(self.app.config["BABEL_DEFAULT_LOCALE"]):
                try:
                    # By the database's clock, as the lease: a machine whose clock is off claims the same moments.
                    moment = self.schedules[name].latest_moment(runner.database_now(), self.zone)
                    run_id = runner.run_job(
                        name, JOBS[name], moment, self.holder, lease=runner.LEASE_NAME, still_holding=self.holds_lease
                    )
                finally:
                    db.session.remove()
        if run_id is not None:
            log.info("ran %s for %s (run %s)", name, moment.isoformat(), run_id)

    def renew_lease(self) -> None:
        started = time.monotonic()
        was_holding = self.holds_lease()
        with self.app.app_context():
            try:
                held = runner.acquire_lease(self.holder, self.lease_seconds)
                if held and not was_holding:
                    abandoned = runner.abandon_runs_of_others(self.holder)
                    log.info("holding the lease as %s (%d abandoned runs closed)", self.holder, abandoned)
            except Exception:  # noqa: BLE001 — a database hiccup: keep the lease until it runs out, try again
                log.exception("could not renew the lease")
                db.session.rollback()
                return
            finally:
                db.session.remove()
        with self._state_lock:
            # Counted from before the renewal was sent, so this process stops before the lease expires.
            self._held_until = started + self.lease_seconds * 0.9 if held else 0.0
            self._holding = held
        if held and not was_holding and not self._stopping.is_set():
            self._run_missed_now()
        elif was_holding and not held:
            log.warning("lost the lease to another scheduler; claiming no more work")

    def _run_missed_now(self) -> None:
        """A new holder runs every job once at once, for its latest moment: a moment missed while no
        process held the lease is made good, one already run is skipped by its JobRun claim."""
        now = datetime.now(self.zone)
        for name in self.schedules:
            self.scheduler.add_job(
                self.fire,
                "date",
                run_date=now,
                args=[name],
                id=f"{name}:catch-up",
                name=f"{name} (catch-up)",
                replace_existing=True,
            )

    def _lease_loop(self) -> None:
        while not self._stopping.wait(self.lease_seconds / 3):
            self.renew_lease()
            # Waking the scheduler as well makes it notice a jump of the wall clock.
            if self.scheduler.running:
                self.scheduler.wakeup()

    def stop(self, *_args) -> None:
        """SIGTERM or SIGINT: let running jobs finish, then release the lease (see run).

        The waiting happens in a thread of its own: a signal handler interrupts the main thread
        wherever it is, and blocking there on the job threads can hang the process."""
        self._stopping.set()
        if self.scheduler.running and self._stopper is None:
            self._stopper = threading.Thread(
                target=self.scheduler.shutdown, kwargs={"wait": True}, name="scheduler-stop"
            )
            self._stopper.start()

    def run(self) -> None:
        log.info(
            "scheduler %s: lease %ss, jobs %s",
            self.holder,
            self.lease_seconds,
            ", ".join(f"{name} ({schedule})" for name, schedule in self.schedules.items()),
        )
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.renew_lease()
        renewer = threading.Thread(target=self._lease_loop, name="scheduler-lease", daemon=True)
        renewer.start()
        try:
            if not self._stopping.is_set():
                self.scheduler.start()
        except JobLookupError:
            # Shutdown (from the stop thread) marks the scheduler stopped while its loop may still be removing
            # a one-off job that just ran (a catch-up); APScheduler then no longer finds it. When stopping,
            # that is the loop's end, not a failure.
            if not self._stopping.is_set():
                raise
        finally:
            self._stopping.set()
            if self._stopper is not None:
                self._stopper.join()
            renewer.join(timeout=self.lease_seconds)
            with self.app.app_context():
                runner.release_lease(self.holder)
                db.session.remove()
            log.info("scheduler %s stopped at %s", self.holder, datetime.now(timezone.utc).isoformat())
