from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import ObservanceDay, OutreachKind, SiteKind, SiteStatus, SixIntoSetting
from drillmgr.extensions import Model

# Activities and sites are recorded from this year on.
EARLIEST_YEAR = 2000


class OutreachActivity(Model):
    """A public earthquake-safety education activity (item 19)."""

    __tablename__ = "outreach_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OutreachKind] = mapped_column(str_enum(OutreachKind), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    observance_day: Mapped[ObservanceDay | None] = mapped_column(str_enum(ObservanceDay))
    setting: Mapped[SixIntoSetting | None] = mapped_column(str_enum(SixIntoSetting))
    held_on: Mapped[date] = mapped_column(index=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    organizer_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    channels: Mapped[list] = mapped_column(sa.JSON, default=list)
    audience: Mapped[int] = mapped_column(default=0)
    # Why an audience beyond the venue's or the unit's size is nevertheless right.
    exceptional_reason: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (sa.CheckConstraint("audience >= 0", name="audience_not_negative"),)


class DemonstrationSite(Model):
    __tablename__ = "demonstration_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[SiteKind] = mapped_column(str_enum(SiteKind))
    name: Mapped[str] = mapped_column(sa.String(200))
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    status: Mapped[SiteStatus] = mapped_column(str_enum(SiteStatus), default=SiteStatus.PLANNED)
    year: Mapped[int]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
