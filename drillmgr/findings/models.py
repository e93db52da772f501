from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import ActionStatus, FilingStatus, FindingCategory, Severity
from drillmgr.extensions import Model

if TYPE_CHECKING:  # for the annotations; SQLAlchemy resolves the names through its registry
    from drillmgr.accounts.models import User
    from drillmgr.drills.models import Drill
    from drillmgr.orgs.models import Organisation
    from drillmgr.regions.models import Region


class Review(Model):
    """The after-action review (总结评估) of one drill, and its filing (备案)."""

    __tablename__ = "reviews"

    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), primary_key=True)
    execution: Mapped[str] = mapped_column(sa.Text, default="")
    plan_soundness: Mapped[str] = mapped_column(sa.Text, default="")
    command_coordination: Mapped[str] = mapped_column(sa.Text, default="")
    staff_handling: Mapped[str] = mapped_column(sa.Text, default="")
    equipment_fitness: Mapped[str] = mapped_column(sa.Text, default="")
    recommendations: Mapped[str] = mapped_column(sa.Text, default="")
    went_well: Mapped[str] = mapped_column(sa.Text, default="")
    plan_revision_needed: Mapped[bool] = mapped_column(default=False)
    filing_status: Mapped[FilingStatus] = mapped_column(str_enum(FilingStatus), default=FilingStatus.DRAFT)
    submitted_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    return_reason: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    drill: Mapped["Drill"] = relationship()  # noqa: F821
    submitted_by: Mapped["User | None"] = relationship(foreign_keys=[submitted_by_id])  # noqa: F821


class Finding(Model):
    """A problem found by a drill or a readiness checklist run, with its corrective action."""

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    checklist_run_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("checklist_runs.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    summary: Mapped[str] = mapped_column(sa.String(500))
    severity: Mapped[Severity] = mapped_column(str_enum(Severity))
    category: Mapped[FindingCategory] = mapped_column(str_enum(FindingCategory))
    found_on: Mapped[date]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    corrective_action: Mapped["CorrectiveAction"] = relationship(
        back_populates="finding", uselist=False, cascade="all, delete-orphan", lazy="joined"
    )
    drill: Mapped["Drill | None"] = relationship()  # noqa: F821
    org: Mapped["Organisation | None"] = relationship()  # noqa: F821
    region: Mapped["Region"] = relationship()  # noqa: F821

    __table_args__ = (
        sa.CheckConstraint("(drill_id IS NOT NULL) OR (checklist_run_id IS NOT NULL)", name="has_source"),
    )


class CorrectiveAction(Model):
    """整改措施: followed until someone other than its owner verifies it (动态销号)."""

    __tablename__ = "corrective_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(sa.ForeignKey("findings.id", ondelete="CASCADE"), unique=True)
    description: Mapped[str] = mapped_column(sa.Text)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    due_on: Mapped[date] = mapped_column(index=True)
    status: Mapped[ActionStatus] = mapped_column(str_enum(ActionStatus), default=ActionStatus.OPEN, index=True)
    done_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    finding: Mapped[Finding] = relationship(back_populates="corrective_action")
    owner: Mapped["User"] = relationship(foreign_keys=[owner_id])  # noqa: F821
    verified_by: Mapped["User | None"] = relationship(foreign_keys=[verified_by_id])  # noqa: F821

    def is_overdue(self, today: date) -> bool:
        return self.status in (ActionStatus.OPEN, ActionStatus.IN_PROGRESS) and self.due_on < today
