from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import ComplianceStatus
from drillmgr.extensions import Model


class ComplianceRule(Model):
    """One rule of one year's rule set; `params` holds its counts, periods and filters."""

    __tablename__ = "compliance_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    year: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (sa.UniqueConstraint("key", "year", name="key_year"),)


class ComplianceSnapshot(Model):
    """The last status seen for a rule and subject, so a worsening alerts exactly once."""

    __tablename__ = "compliance_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_key: Mapped[str] = mapped_column(sa.String(64))
    year: Mapped[int]
    subject_type: Mapped[str] = mapped_column(sa.String(16))
    subject_id: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[ComplianceStatus] = mapped_column(str_enum(ComplianceStatus))
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("rule_key", "year", "subject_type", "subject_id", name="rule_subject"),
    )
