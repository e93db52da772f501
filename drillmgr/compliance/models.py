from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import ComplianceStatus, LabelledEnum
from drillmgr.extensions import Model

if TYPE_CHECKING:  # for the annotations; SQLAlchemy resolves the names through its registry
    from drillmgr.accounts.models import User
    from drillmgr.regions.models import Region


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

    __table_args__ = (sa.UniqueConstraint("rule_key", "year", "subject_type", "subject_id", name="rule_subject"),)


class SubmissionStatus(LabelledEnum):
    SUBMITTED = "submitted", _l("Submitted")
    ACCEPTED = "accepted", _l("Accepted")
    RETURNED = "returned", _l("Returned")


class ReportSubmission(Model):
    """One submission of a county's half-year report: the figures frozen as they were (the report's JSON
    and its workbook), and the prefecture's decision. A returned report is submitted again as the next
    version; earlier versions stay as the history."""

    __tablename__ = "report_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    year: Mapped[int]
    half: Mapped[int]
    version: Mapped[int]
    status: Mapped[SubmissionStatus] = mapped_column(str_enum(SubmissionStatus), default=SubmissionStatus.SUBMITTED)
    document: Mapped[dict] = mapped_column(sa.JSON)
    xlsx: Mapped[bytes] = mapped_column(sa.LargeBinary)
    locale: Mapped[str] = mapped_column(sa.String(16))
    late: Mapped[bool] = mapped_column(default=False)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    region: Mapped["Region"] = relationship()
    submitted_by: Mapped["User | None"] = relationship(foreign_keys=[submitted_by_id])
    decided_by: Mapped["User | None"] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (sa.UniqueConstraint("region_code", "year", "half", "version", name="submission_version"),)
