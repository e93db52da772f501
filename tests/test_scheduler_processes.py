"""Real `drillmgr scheduler` processes sharing one database: exactly one runs jobs; SIGKILL the holder
and the other takes over within the lease; no job moment ever runs twice.

Each test makes its own database, since the processes must see each other's committed rows: a SQLite file, or
in the PostgreSQL run of make test a PostgreSQL database it creates and drops (.ci/run runs both; each run checks
its own database rather than both twice).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from drillmgr.extensions import db
from drillmgr.scheduler.models import JobRun, SchedulerLease
from tests.conftest import ON_POSTGRESQL
from tests.live_support import ONLY_A_FAST_JOB, schedule_of

pytestmark = pytest.mark.slow

PROJECT_DIR = Path(__file__).resolve().parent.parent
DRILLMGR = Path(sys.executable).parent / "drillmgr"
LEASE_SECONDS = 2
RENEW_EVERY = LEASE_SECONDS / 3


def _postgres_admin_url() -> str:
    return make_url(os.environ["TEST_DATABASE_URL"]).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(params=["postgresql" if ON_POSTGRESQL else "sqlite"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scheduler.sqlite3'}"
        return
    admin = sa.create_engine(_postgres_admin_url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"test_scheduler_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(_postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url, poolclass=NullPool)
    db.metadata.create_all(engine)
    yield engine
    engine.dispose()


class Schedulers:
    def __init__(self, database_url, folder: Path):
        self.folder = folder
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SMTP_", "SCHEDULER_", "DRILLMGR_SMTP_", "DRILLMGR_SCHEDULER_"))
        }
        self.env.update(
            DRILLMGR_SQLALCHEMY_DATABASE_URI=database_url,
            DRILLMGR_SECRET_KEY="scheduler-process-test",
            DRILLMGR_ENV="development",
            DRILLMGR_INSTANCE=str(folder),
            DRILLMGR_CALENDAR_DIR=str(folder / "calendars"),
            DRILLMGR_SCHEDULER_LEASE_SECONDS=str(LEASE_SECONDS),
            DRILLMGR_SCHEDULER_SCHEDULE=ONLY_A_FAST_JOB,
        )
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = open(self.folder / f"scheduler-{len(self.processes)}.log", "wb")  # noqa: SIM115 — closed with the process
        process = subprocess.Popen(
            [str(DRILLMGR), "scheduler"], env=self.env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def log(self, process) -> str:
        return (self.folder / f"scheduler-{self.processes.index(process)}.log").read_text(errors="replace")

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def schedulers(database_url, engine, tmp_path):
    group = Schedulers(database_url, tmp_path)
    yield group
    group.stop_all()


def pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


def lease_holder(engine) -> str | None:
    with engine.connect() as connection:
        return connection.scalar(sa.select(SchedulerLease.holder))


def runs(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(JobRun.job, JobRun.scheduled_for, JobRun.holder, JobRun.started_at, JobRun.outcome).order_by(
                JobRun.started_at
            )
        ).all()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_one_of_two_schedulers_runs_jobs_and_the_other_takes_over_after_sigkill(engine, schedulers):
    first, second = schedulers.start(), schedulers.start()
    by_pid = {first.pid: first, second.pid: second}
    holder = wait_for(lambda: lease_holder(engine), 30, "a scheduler to take the lease")
    holder_process = by_pid[pid_of(holder)]
    standby = second if holder_process is first else first

    wait_for(lambda: len(runs(engine)) >= 4, 20, "the holder to run its job a few times")
    time.sleep(1)
    before_kill = runs(engine)
    assert {pid_of(r.holder) for r in before_kill} == {holder_process.pid}
    assert standby.poll() is None, schedulers.log(standby)

    holder_process.send_signal(signal.SIGKILL)
    killed_at = datetime.now(timezone.utc)
    killed_clock = time.monotonic()
    holder_process.wait(timeout=10)

    new_holder = wait_for(
        lambda: (h := lease_holder(engine)) and pid_of(h) == standby.pid and h, 15, "the standby to take the lease"
    )
    takeover_seconds = time.monotonic() - killed_clock
    # The lease runs out at most LEASE_SECONDS after the holder's last renewal; the standby tries every
    # RENEW_EVERY seconds. The slack is for a busy test machine.
    assert takeover_seconds < LEASE_SECONDS + RENEW_EVERY + 1.5, takeover_seconds
    wait_for(lambda: sum(pid_of(r.holder) == standby.pid for r in runs(engine)) >= 3, 20, "the new holder to run jobs")

    standby.send_signal(signal.SIGTERM)
    assert standby.wait(timeout=20) == 0, schedulers.log(standby)
    assert lease_holder(engine) is None  # released on a clean stop
    all_runs = runs(engine)

    moments = [(r.job, r.scheduled_for) for r in all_runs]
    assert len(moments) == len(set(moments)), "a job moment ran twice"
    for run in all_runs:
        if pid_of(run.holder) == standby.pid:
            assert run.started_at > killed_at, "the standby ran a job while the holder was alive"
            assert run.holder == new_holder
        else:
            assert run.started_at < killed_at
    assert {r.outcome for r in all_runs} <= {"ok", "abandoned"}
    assert "holding the lease" in schedulers.log(standby)
    print(f"takeover after SIGKILL: {takeover_seconds:.2f} s (lease {LEASE_SECONDS} s)")


def test_restart_runs_a_missed_moment_once_not_once_per_missed_run(engine, schedulers):
    schedulers.env["DRILLMGR_SCHEDULER_SCHEDULE"] = schedule_of(compliance="daily 02:00")
    for _ in range(2):  # started twice, as after two outages: the nightly job runs once for its latest moment
        process = schedulers.start()
        wait_for(lambda process=process: (h := lease_holder(engine)) and pid_of(h) == process.pid, 30, "the lease")
        wait_for(lambda process=process: "compliance (catch-up)" in schedulers.log(process), 30, "the catch-up firing")
        wait_for(
            lambda: any(r.job == "compliance" and r.outcome != "running" for r in runs(engine)),
            60,
            "the missed nightly run",
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, schedulers.log(process)
    nightly = [r for r in runs(engine) if r.job == "compliance"]
    assert len(nightly) == 1 and nightly[0].outcome == "ok", nightly


def test_two_schedulers_deliver_every_queued_mail_exactly_once_after_the_smtp_server_comes_back(engine, schedulers):
    from sqlalchemy.orm import Session

    from drillmgr.accounts.models import User
    from drillmgr.enums import MailStatus, Role
    from drillmgr.notifications.models import Notification, OutboxMail
    from tests.test_notifications_smtp import Inbox, free_port, start_server

    count = 12
    with Session(engine) as session:
        for i in range(count):
            user = User(username=f"mail{i}", role=Role.VIEWER, email=f"mail{i}@example.cn", password_hash="x")
            note = Notification(
                user=user, kind="test", subject=f"通知 {i}", body="正文", link="", dedupe_key=f"mail-{i}"
            )
            session.add(OutboxMail(notification=note, to_address=user.email, subject=note.subject, body="正文"))
        session.commit()

    def outbox():
        with engine.connect() as connection:
            return connection.execute(sa.select(OutboxMail.status, OutboxMail.attempts, OutboxMail.last_error)).all()

    port = free_port()
    schedulers.env.update(
        DRILLMGR_SMTP_HOST="127.0.0.1",
        DRILLMGR_SMTP_PORT=str(port),
        DRILLMGR_SMTP_TLS="none",
        DRILLMGR_SMTP_FROM="drillmgr@example.cn",
        DRILLMGR_SMTP_RETRY_SECONDS="1",
        DRILLMGR_SCHEDULER_SCHEDULE=schedule_of(drill_reminders="every 1s", send_mail="every 1s"),
    )
    schedulers.start(), schedulers.start()
    wait_for(
        lambda: all(attempts >= 1 and error for _, attempts, error in outbox()),
        40,
        "the sender to find the SMTP server down",
    )
    assert all(status == MailStatus.PENDING for status, *_ in outbox())

    inbox = Inbox()
    server = start_server(port, inbox)
    try:
        wait_for(lambda: all(status == MailStatus.SENT for status, *_ in outbox()), 60, "every mail to be sent")
        time.sleep(2)  # a few more sender runs: nothing goes out twice
    finally:
        server.stop()
    received = sorted(m["To"] for m in inbox.messages)
    assert received == sorted(f"mail{i}@example.cn" for i in range(count))


def test_a_paused_holder_that_resumes_says_it_lost_the_lease_and_claims_nothing(engine, schedulers):
    if engine.dialect.name == "sqlite":
        pytest.skip("a process paused inside a write keeps SQLite's one write lock: nobody can take over then")
    first, second = schedulers.start(), schedulers.start()
    by_pid = {first.pid: first, second.pid: second}
    holder = wait_for(lambda: lease_holder(engine), 30, "a scheduler to take the lease")
    paused = by_pid[pid_of(holder)]
    standby = second if paused is first else first
    wait_for(lambda: len(runs(engine)) >= 2, 20, "the holder to run its job")

    paused.send_signal(signal.SIGSTOP)
    wait_for(lambda: (h := lease_holder(engine)) and pid_of(h) == standby.pid, 20, "the standby to take over")
    resumed_at = datetime.now(timezone.utc)
    paused.send_signal(signal.SIGCONT)
    wait_for(lambda: "lost the lease" in schedulers.log(paused), 15, "the resumed holder to notice")
    time.sleep(3)
    assert pid_of(lease_holder(engine)) == standby.pid
    late = [r for r in runs(engine) if pid_of(r.holder) == paused.pid and r.started_at > resumed_at]
    assert late == [], "the resumed holder claimed work after losing the lease"
    moments = [(r.job, r.scheduled_for) for r in runs(engine)]
    assert len(moments) == len(set(moments))
