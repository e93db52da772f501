from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import utcnow
from drillmgr.extensions import Model


class SchedulerLease(Model):
    """Held by the one scheduler process allowed to run jobs; taken over once it expires."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(200))
    expires_at: Mapped[datetime]
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobRun(Model):
    """One run of a job for one scheduled moment; unique so a moment never runs twice."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(sa.String(64))
    scheduled_for: Mapped[datetime]
    holder: Mapped[str] = mapped_column(sa.String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(sa.String(16), default="running")
    detail: Mapped[str] = mapped_column(sa.Text, default="")

    __table_args__ = (
        sa.UniqueConstraint("job", "scheduled_for", name="job_moment"),
        # One run of a job at a time, whichever firing or process started it.
        sa.Index(
            "one_running_run_per_job",
            "job",
            unique=True,
            sqlite_where=sa.text("outcome = 'running'"),
            postgresql_where=sa.text("outcome = 'running'"),
        ),
    )
