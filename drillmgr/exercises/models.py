"""Exercise design and conduct (HSEEP's shape): objectives tied to focus links and plans, the master scenario
events list (MSEL) of injects, the live session that reveals and runs it, players' responses, evaluations per
objective (P/S/M/U), and participants' feedback."""

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import Focus
from drillmgr.exercises.enums import Rating, SessionStatus
from drillmgr.extensions import Model

if TYPE_CHECKING:  # for the annotations; SQLAlchemy resolves the names through its registry
    from drillmgr.accounts.models import User
    from drillmgr.attachments.models import Attachment


class ObjectiveTemplate(Model):
    """A typical objective for one focus link, offered when designing an exercise; admins edit them."""

    __tablename__ = "objective_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    focus: Mapped[Focus] = mapped_column(str_enum(Focus), index=True)
    text: Mapped[str] = mapped_column(sa.String(500))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Objective(Model):
    """One specific, measurable objective of a drill, tied to focus links and to the plan it tests."""

    __tablename__ = "exercise_objectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(sa.String(500))
    measure: Mapped[str] = mapped_column(sa.Text, default="")
    # Focus link values (drillmgr.enums.Focus), as strings.
    focus: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    plan: Mapped[str] = mapped_column(sa.String(300), default="")
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Inject(Model):
    """One line of the MSEL: when (minutes after the start), from whom to whom, the message and what the
    players are expected to do; released once by the controller during the live session."""

    __tablename__ = "exercise_injects"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(default=0)
    offset_minutes: Mapped[int] = mapped_column(default=0)
    sender: Mapped[str] = mapped_column(sa.String(200), default="")
    recipient: Mapped[str] = mapped_column(sa.String(200), default="")
    message: Mapped[str] = mapped_column(sa.Text)
    expected_action: Mapped[str] = mapped_column(sa.Text, default="")
    objective_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("exercise_objectives.id", ondelete="SET NULL"), index=True
    )
    # A map or photo sent with the message: served only as the inject is (get_inject), never as a drill file.
    attachment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("attachments.id", ondelete="SET NULL"))
    unplanned: Mapped[bool] = mapped_column(default=False)
    released_at: Mapped[datetime | None]
    released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    objective: Mapped[Objective | None] = relationship()
    attachment: Mapped["Attachment | None"] = relationship()

    __table_args__ = (sa.CheckConstraint("offset_minutes >= 0", name="offset_not_negative"),)


class ExerciseSession(Model):
    """The live conduct of a drill's exercise. Starting it reveals a double-blind exercise to its players."""

    __tablename__ = "exercise_sessions"

    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[SessionStatus] = mapped_column(str_enum(SessionStatus), default=SessionStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Whether the drill was still secret (double-blind, before its planned start) when the console revealed it.
    revealed_by_console: Mapped[bool] = mapped_column(default=False)
    paused_at: Mapped[datetime | None]
    paused_seconds: Mapped[int] = mapped_column(default=0)
    ended_at: Mapped[datetime | None]
    # Raised by every change players could see (a release, a pause): their screens poll it.
    tick: Mapped[int] = mapped_column(default=1)
    version: Mapped[int] = mapped_column(default=1)


class InjectResponse(Model):
    """A player's decision on a released inject, and how long after the release it came."""

    __tablename__ = "exercise_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    inject_id: Mapped[int] = mapped_column(sa.ForeignKey("exercise_injects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(sa.Text)
    responded_at: Mapped[datetime] = mapped_column(default=utcnow)
    seconds_taken: Mapped[int] = mapped_column(default=0)

    user: Mapped["User"] = relationship()

    __table_args__ = (sa.UniqueConstraint("inject_id", "user_id", name="one_per_player"),)


class Evaluation(Model):
    """An evaluator's exercise evaluation guide for one objective: observations and the HSEEP rating."""

    __tablename__ = "exercise_evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    objective_id: Mapped[int] = mapped_column(sa.ForeignKey("exercise_objectives.id", ondelete="CASCADE"), index=True)
    evaluator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    rating: Mapped[Rating] = mapped_column(str_enum(Rating, length=1))
    observations: Mapped[str] = mapped_column(sa.Text, default="")
    strengths: Mapped[str] = mapped_column(sa.Text, default="")
    improvements: Mapped[str] = mapped_column(sa.Text, default="")
    finding_id: Mapped[int | None] = mapped_column(sa.ForeignKey("findings.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    objective: Mapped[Objective] = relationship()
    evaluator: Mapped["User"] = relationship()

    __table_args__ = (sa.UniqueConstraint("objective_id", "evaluator_id", name="one_per_evaluator"),)


class Feedback(Model):
    """One participant's answer to the feedback form, through a signed expiring link (one answer per link)."""

    __tablename__ = "exercise_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    respondent: Mapped[str] = mapped_column(sa.String(64))
    overall: Mapped[int]
    realism: Mapped[int]
    strengths: Mapped[str] = mapped_column(sa.Text, default="")
    improvements: Mapped[str] = mapped_column(sa.Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("drill_id", "respondent", name="one_per_respondent"),
        sa.CheckConstraint("overall BETWEEN 1 AND 5", name="overall_scale"),
        sa.CheckConstraint("realism BETWEEN 1 AND 5", name="realism_scale"),
    )
