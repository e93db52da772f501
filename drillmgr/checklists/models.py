from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import Answer, DrillForm, DrillScope, OrgKind
from drillmgr.extensions import Model


class ChecklistTemplate(Model):
    """Applies to drills of a form and scope (pre-drill) or to units of a kind (standing readiness)."""

    __tablename__ = "checklist_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    drill_form: Mapped[DrillForm | None] = mapped_column(str_enum(DrillForm))
    drill_scope: Mapped[DrillScope | None] = mapped_column(str_enum(DrillScope))
    org_kind: Mapped[OrgKind | None] = mapped_column(str_enum(OrgKind))
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list["ChecklistItem"]] = relationship(
        order_by="ChecklistItem.position", cascade="all, delete-orphan", lazy="selectin"
    )


class ChecklistItem(Model):
    __tablename__ = "checklist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_templates.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(sa.String(500))
    active: Mapped[bool] = mapped_column(default=True)


class ChecklistRun(Model):
    __tablename__ = "checklist_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_templates.id"), index=True)
    drill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    run_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    template: Mapped[ChecklistTemplate] = relationship()
    answers: Mapped[list["ChecklistAnswer"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class ChecklistAnswer(Model):
    __tablename__ = "checklist_answers"

    run_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_runs.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("checklist_items.id"), primary_key=True)
    answer: Mapped[Answer | None] = mapped_column(str_enum(Answer))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("attachments.id", ondelete="SET NULL"))
    finding_id: Mapped[int | None] = mapped_column(sa.ForeignKey("findings.id", ondelete="SET NULL"))
