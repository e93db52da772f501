"""The scheduler's bookkeeping: the lease, schedules and their moments, and the record of each run.

Exactly one scheduler process runs jobs: the one holding the lease row. It is taken and renewed
with one conditional UPDATE (`holder = me OR expires_at < now`), or an INSERT the first time; the
database serialises competing writers on SQLite and PostgreSQL alike, and "now" is the database's
clock, never a machine's own. A job moment is claimed by inserting its JobRun row, unique per (job,
moment), before any work, and only while the claimer still holds the lease: a moment never runs twice,
and at most one run of a job is `running` at a time. A run abandoned by a holder that died is
claimed again by the next one.
"""

import re
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from drillmgr.i18n import gettext as _
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from drillmgr.db import rows_changed, utcnow
from drillmgr.enums import LabelledEnum
from drillmgr.extensions import db
from drillmgr.scheduler.models import JobRun, SchedulerLease

LEASE_NAME = "scheduler"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Outcome(LabelledEnum):
    RUNNING = "running", _l("Running")
    OK = "ok", _l("OK")
    FAILED = "failed", _l("Failed")
    ABANDONED = "abandoned", _l("Abandoned")


class ScheduleError(ValueError):
    """A schedule setting that cannot be understood; raised when the scheduler starts."""


# --- schedules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Every:
    """Every `seconds`, on a grid counted from the Unix epoch, so all processes agree on moments."""

    seconds: int

    def latest_moment(self, now: datetime, zone: ZoneInfo) -> datetime:
        elapsed = int((now - EPOCH).total_seconds())
        return EPOCH + timedelta(seconds=elapsed - elapsed % self.seconds)

    def __str__(self) -> str:
        return f"every {self.seconds}s"

    @property
    def label(self) -> str:
        return _("every %(n)d s", n=self.seconds)


@dataclass(frozen=True)
class Daily:
    """Once a day at a local (Beijing) time."""

    at: time

    def latest_moment(self, now: datetime, zone: ZoneInfo) -> datetime:
        local = now.astimezone(zone)
        moment = datetime.combine(local.date(), self.at, tzinfo=zone)
        if moment > local:
            moment = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=zone)
        return moment.astimezone(timezone.utc)

    def __str__(self) -> str:
        return f"daily {self.at:%H:%M}"

    @property
    def label(self) -> str:
        return _("daily at %(time)s", time=f"{self.at:%H:%M}")


_EVERY = re.compile(r"every\s+(\d+)\s*s")
_DAILY = re.compile(r"daily\s+(\d{1,2}):(\d{2})")


def parse_schedule(text: str) -> Every | Daily | None:
    """`every 60s`, `daily 02:00` (local time) or `off` (None)."""
    text = text.strip().lower()
    if text == "off":
        return None
    if match := _EVERY.fullmatch(text):
        seconds = int(match.group(1))
        if seconds < 1:
            raise ScheduleError(f"an interval must be at least 1 second, not {text!r}")
        return Every(seconds)
    if match := _DAILY.fullmatch(text):
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            raise ScheduleError(f"no such time of day: {text!r}")
        return Daily(time(hour, minute))
    raise ScheduleError(f"cannot read schedule {text!r}: use 'every <N>s', 'daily HH:MM' or 'off'")


def resolve_schedules(defaults: dict[str, str], overrides: str) -> dict[str, Every | Daily]:
    """The defaults with the overrides applied (`job=spec;job=spec`), without the jobs turned off."""
    specs = dict(defaults)
    for item in filter(None, (part.strip() for part in overrides.split(";"))):
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or name not in defaults:
            raise ScheduleError(
                f"cannot read {item!r} in SCHEDULER_SCHEDULE: expected <job>=<schedule> with a job "
                f"among {', '.join(sorted(defaults))}"
            )
        specs[name] = spec
    schedules = {name: parse_schedule(spec) for name, spec in specs.items()}
    return {name: schedule for name, schedule in schedules.items() if schedule is not None}


# --- the lease -------------------------------------------------------------------------------


def database_now() -> datetime:
    """The database's clock: every scheduler compares lease times with the same one."""
    if db.session.get_bind().dialect.name == "sqlite":
        text = db.session.scalar(sa.text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    if db.session.get_bind().dialect.name == "postgresql":
        moment: datetime = db.session.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
        return moment.astimezone(timezone.utc)
    return utcnow()


def acquire_lease(holder: str, seconds: float, now: datetime | None = None, name: str = LEASE_NAME) -> bool:
    """Takes or renews the lease for `seconds`; False while someone else holds it."""
    now = now or database_now()
    expires_at = now + timedelta(seconds=seconds)
    result = db.session.execute(
        sa.update(SchedulerLease)
        .where(SchedulerLease.name == name, sa.or_(SchedulerLease.holder == holder, SchedulerLease.expires_at < now))
        .values(holder=holder, expires_at=expires_at, renewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if rows_changed(result) == 1:
        db.session.commit()
        return True
    try:
        with db.session.begin_nested():
            db.session.execute(
                sa.insert(SchedulerLease).values(name=name, holder=holder, expires_at=expires_at, renewed_at=now)
            )
    except IntegrityError:
        db.session.commit()
        return False
    db.session.commit()
    return True


def holds_lease(holder: str, now: datetime | None = None, name: str = LEASE_NAME) -> bool:
    """Whether `holder` holds the lease now by the database's clock. On PostgreSQL the lease row is
    share-locked until the transaction ends, so it cannot change hands before a claim is committed."""
    now = now or database_now()
    return (
        db.session.scalar(
            sa.select(SchedulerLease.name)
            .where(SchedulerLease.name == name, SchedulerLease.holder == holder, SchedulerLease.expires_at > now)
            .with_for_update(read=True)
        )
        is not None
    )


def release_lease(holder: str, name: str = LEASE_NAME) -> None:
    """Lets another process take over at once instead of waiting for the lease to expire."""
    db.session.execute(sa.delete(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.holder == holder))
    db.session.commit()


def current_lease(name: str = LEASE_NAME) -> SchedulerLease | None:
    return db.session.get(SchedulerLease, name, populate_existing=True)


def abandon_runs_of_others(holder: str, now: datetime | None = None) -> int:
    """Closes the runs a dead holder left `running`; called by a process that has just taken over,
    whose catch-up then claims them again."""
    result = db.session.execute(
        sa.update(JobRun)
        .where(JobRun.outcome == Outcome.RUNNING, JobRun.holder != holder)
        .values(
            outcome=Outcome.ABANDONED,
            finished_at=now or utcnow(),
            detail="the scheduler running this job stopped before it finished",
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return rows_changed(result)


# --- runs ------------------------------------------------------------------------------------

_lease_check: ContextVar[Callable[[], bool]] = ContextVar("lease_check", default=lambda: True)


def still_holding() -> bool:
    """For a job's loop: False once the scheduler running it has lost the lease, so it claims no more work."""
    return _lease_check.get()()


def claim_run(
    job: str, moment: datetime, holder: str, now: datetime | None = None, lease: str | None = None
) -> int | None:
    """Records the start of `job` for `moment`; None when that moment was already run or is running,
    another run of the job is still going, or (given `lease`) `holder` no longer holds that lease.
    A moment whose run was abandoned is claimed again, on the same record."""
    now = now or database_now()
    if lease is not None:
        if not holds_lease(holder, now, lease):
            db.session.commit()
            return None
        _abandon_stale_runs(job, now)
    run = JobRun(job=job, scheduled_for=moment, holder=holder, started_at=now, outcome=Outcome.RUNNING, detail="")
    try:
        with db.session.begin_nested():
            db.session.add(run)
    except IntegrityError:
        run_id = _claim_abandoned(job, moment, holder, now)
        db.session.commit()
        return run_id
    run_id = run.id
    db.session.commit()
    return run_id


def _abandon_stale_runs(job: str, now: datetime) -> None:
    """Closes what is still `running` of `job` when the lease holder, which runs a job once at a time,
    is about to run it: left by a holder that lost the lease, or by this one when recording its end failed."""
    db.session.execute(
        sa.update(JobRun)
        .where(JobRun.job == job, JobRun.outcome == Outcome.RUNNING)
        .values(
            outcome=Outcome.ABANDONED,
            finished_at=now,
            detail="the scheduler running this job stopped or lost the lease before it finished",
        )
        .execution_options(synchronize_session=False)
    )


def _claim_abandoned(job: str, moment: datetime, holder: str, now: datetime) -> int | None:
    run_id = db.session.scalar(
        sa.select(JobRun.id).where(
            JobRun.job == job, JobRun.scheduled_for == moment, JobRun.outcome == Outcome.ABANDONED
        )
    )
    if run_id is None:
        return None
    try:
        with db.session.begin_nested():
            result = db.session.execute(
                sa.update(JobRun)
                .where(JobRun.id == run_id, JobRun.outcome == Outcome.ABANDONED)
                .values(holder=holder, started_at=now, finished_at=None, outcome=Outcome.RUNNING, detail="")
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:  # another run of the job is going
        return None
    return run_id if rows_changed(result) == 1 else None


def finish_run(run_id: int, outcome: str, detail: str, holder: str | None = None) -> None:
    """Records how the run went, unless (given `holder`) the run was meanwhile abandoned or taken over."""
    query = sa.update(JobRun).where(JobRun.id == run_id)
    if holder is not None:
        query = query.where(JobRun.holder == holder, JobRun.outcome == Outcome.RUNNING)
    db.session.execute(
        query.values(outcome=outcome, detail=detail[-8000:], finished_at=utcnow()).execution_options(
            synchronize_session=False
        )
    )
    db.session.commit()


def run_job(
    job: str,
    func: Callable[[datetime], str],
    moment: datetime,
    holder: str,
    lease: str | None = None,
    still_holding: Callable[[], bool] | None = None,
) -> int | None:
    """Claims the moment, runs the job and records how it went; None when the moment could not be
    claimed (see claim_run). `still_holding` is what the job's loops ask before claiming more work."""
    run_id = claim_run(job, moment, holder, lease=lease)
    if run_id is None:
        return None
    token = _lease_check.set(still_holding or (lambda: True))
    try:
        detail = func(moment)
        db.session.commit()
    except Exception:  # noqa: BLE001 — any failure is recorded on the run, then the scheduler goes on
        db.session.rollback()
        finish_run(run_id, Outcome.FAILED, traceback.format_exc(), holder)
    else:
        finish_run(run_id, Outcome.OK, detail or "", holder)
    finally:
        _lease_check.reset(token)
    return run_id


def last_detail(job: str, outcome: str = Outcome.OK) -> str | None:
    """The detail of the job's latest run with this outcome, for jobs that compare with last time."""
    return db.session.scalar(
        sa.select(JobRun.detail)
        .where(JobRun.job == job, JobRun.outcome == outcome)
        .order_by(JobRun.scheduled_for.desc())
        .limit(1)
    )


def prune_runs(before: datetime) -> int:
    """Forgets successful runs older than `before`; failures stay for the admins to read."""
    result = db.session.execute(
        sa.delete(JobRun)
        .where(JobRun.scheduled_for < before, JobRun.outcome == Outcome.OK)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result)


def recent_runs_query(job: str | None = None, failures_only: bool = False) -> sa.Select[tuple[JobRun]]:
    query = sa.select(JobRun)
    if job:
        query = query.where(JobRun.job == job)
    if failures_only:
        query = query.where(JobRun.outcome.in_((Outcome.FAILED, Outcome.ABANDONED)))
    return query.order_by(JobRun.started_at.desc(), JobRun.id.desc())


def job_summaries() -> list[sa.Row[tuple[str, datetime, int, int]]]:
    """Per job: the latest start, the number of failures in the last week, the runs recorded."""
    week_ago = utcnow() - timedelta(days=7)
    failed = sa.case((sa.and_(JobRun.outcome == Outcome.FAILED, JobRun.started_at >= week_ago), 1), else_=0)
    return list(
        db.session.execute(
            sa.select(
                JobRun.job,
                sa.func.max(JobRun.started_at).label("last_started"),
                sa.func.sum(failed).label("failures"),
                sa.func.count().label("runs"),
            )
            .group_by(JobRun.job)
            .order_by(JobRun.job)
        )
    )
