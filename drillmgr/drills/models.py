from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import DrillForm, DrillScope, DrillStatus, Focus, JointWith
from drillmgr.extensions import Model, db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

if TYPE_CHECKING:  # for the annotations; SQLAlchemy resolves the names through its registry
    from drillmgr.accounts.models import User

drill_participants = sa.Table(
    "drill_participants",
    db.metadata,
    sa.Column("drill_id", sa.ForeignKey("drills.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("org_id", sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True),
)

drill_evaluators = sa.Table(
    "drill_evaluators",
    db.metadata,
    sa.Column("drill_id", sa.ForeignKey("drills.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class DrillFocus(Model):
    """One link a drill exercises; a table of its own so compliance can aggregate over it."""

    __tablename__ = "drill_focus"

    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), primary_key=True)
    focus: Mapped[Focus] = mapped_column(str_enum(Focus), primary_key=True)


class DrillSeries(Model):
    """A recurring drill (RFC 5545 RRULE); its occurrences are real Drill rows."""

    __tablename__ = "drill_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    rrule: Mapped[str] = mapped_column(sa.String(500))
    dtstart: Mapped[datetime]
    duration_minutes: Mapped[int]
    template: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    materialized_until: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Drill(Model):
    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    form: Mapped[DrillForm] = mapped_column(str_enum(DrillForm), index=True)
    scope: Mapped[DrillScope] = mapped_column(str_enum(DrillScope))
    double_blind: Mapped[bool] = mapped_column(default=False)
    joint_with: Mapped[JointWith] = mapped_column(str_enum(JointWith), default=JointWith.NONE)
    magnitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 1))
    conditions: Mapped[list] = mapped_column(sa.JSON, default=list)
    organizer_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    organizer_region_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    location: Mapped[str] = mapped_column(sa.String(300), default="")
    public: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DrillStatus] = mapped_column(str_enum(DrillStatus), default=DrillStatus.PLANNED, index=True)
    cancel_reason: Mapped[str] = mapped_column(sa.Text, default="")
    cancelled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # A real earthquake response recorded as such, credited in place of a drill.
    real_response: Mapped[bool] = mapped_column(default=False)
    real_response_note: Mapped[str] = mapped_column(sa.Text, default="")
    series_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drill_series.id", ondelete="SET NULL"), index=True)
    occurrence_start: Mapped[datetime | None]
    sequence: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    organizer_org: Mapped[Organisation | None] = relationship(foreign_keys=[organizer_org_id])
    organizer_region: Mapped[Region | None] = relationship(foreign_keys=[organizer_region_code])
    region: Mapped[Region] = relationship(foreign_keys=[region_code])
    focus_rows: Mapped[list[DrillFocus]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    participants: Mapped[list[Organisation]] = relationship(secondary=drill_participants, lazy="selectin")
    evaluators: Mapped[list["User"]] = relationship(secondary=drill_evaluators, lazy="selectin")  # noqa: F821
    series: Mapped[DrillSeries | None] = relationship()
    participation: Mapped["Participation | None"] = relationship(
        back_populates="drill", uselist=False, cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("(organizer_org_id IS NULL) <> (organizer_region_code IS NULL)", name="one_organizer"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # One drill per moment of a series, however many runs materialise it at once.
        sa.UniqueConstraint("series_id", "occurrence_start", name="series_occurrence"),
        # Drills still running at a moment (agenda lists, date filters): their earliest start, from the index.
        sa.Index("ix_drills_ends_at", "ends_at", "starts_at"),
        # A county's drills of a year, as the first view after a change counts them (its after-action reviews,
        # its monthly chart): read from the index alone on PostgreSQL, not by a scan of every county's drills.
        sa.Index(
            "ix_drills_region_code_starts_at",
            "region_code",
            "starts_at",
            postgresql_include=["status", "ends_at", "completed_at", "double_blind", "id"],
        ),
        # Whether a double-blind drill is still secret (access.secret_clause, written as this condition is): the
        # few double-blind drills by their start, where a scan of every drill found none (0.5 s at 5 million).
        sa.Index(
            "ix_drills_double_blind_starts_at",
            "starts_at",
            postgresql_where=sa.text("double_blind IS true"),
            sqlite_where=sa.text("double_blind IS 1"),
        ),
    )

    @property
    def focus(self) -> list[Focus]:
        return sorted((row.focus for row in self.focus_rows), key=list(Focus).index)

    @focus.setter
    def focus(self, values) -> None:
        wanted = {Focus(v) for v in values}
        self.focus_rows = [row for row in self.focus_rows if row.focus in wanted] + [
            DrillFocus(focus=f) for f in wanted - {row.focus for row in self.focus_rows}
        ]

    @property
    def organizer_name(self) -> str:
        if self.organizer_org is not None:
            return self.organizer_org.name
        return self.organizer_region.name if self.organizer_region else ""

    def __repr__(self) -> str:
        return f"<Drill {self.id} {self.title}>"


class Participation(Model):
    __tablename__ = "participations"

    drill_id: Mapped[int] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), primary_key=True)
    students: Mapped[int] = mapped_column(default=0)
    staff: Mapped[int] = mapped_column(default=0)
    patients: Mapped[int] = mapped_column(default=0)
    residents: Mapped[int] = mapped_column(default=0)
    rescuers: Mapped[int] = mapped_column(default=0)
    others: Mapped[int] = mapped_column(default=0)
    evacuation_seconds: Mapped[int | None]
    # Why numbers beyond the plausible (the units' headcounts, the evacuation target) are nevertheless right.
    exceptional_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    drill: Mapped[Drill] = relationship(back_populates="participation")
    groups: Mapped[list["ParticipationGroup"]] = relationship(
        cascade="all, delete-orphan", order_by="ParticipationGroup.position", lazy="selectin"
    )

    COUNT_FIELDS = ("students", "staff", "patients", "residents", "rescuers", "others")

    __table_args__ = tuple(sa.CheckConstraint(f"{name} >= 0", name=f"{name}_not_negative") for name in COUNT_FIELDS) + (
        sa.CheckConstraint("evacuation_seconds IS NULL OR evacuation_seconds > 0", name="evacuation_positive"),
    )

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in self.COUNT_FIELDS)


class ParticipationGroup(Model):
    """The roll call of one group at a drill; the name is kept so the record outlives a renamed group."""

    __tablename__ = "participation_groups"

    drill_id: Mapped[int] = mapped_column(
        sa.ForeignKey("participations.drill_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("org_groups.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    expected: Mapped[int] = mapped_column(default=0)
    present: Mapped[int] = mapped_column(default=0)
    missing: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        sa.CheckConstraint("present >= 0", name="group_present_not_negative"),
        sa.CheckConstraint("missing >= 0", name="group_missing_not_negative"),
    )
