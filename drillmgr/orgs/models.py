from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import OrgKind
from drillmgr.extensions import Model
from drillmgr.regions.models import Region

# 教基一厅〔2014〕2号: two minutes for school buildings under four floors with sound exits.
DEFAULT_EVACUATION_TARGET_SECONDS = {OrgKind.SCHOOL: 120, OrgKind.KINDERGARTEN: 120}
# Which participation count a unit's groups (班级, 病区, ...) add up to.
GROUP_COUNT_FIELD = {
    OrgKind.SCHOOL: "students",
    OrgKind.KINDERGARTEN: "students",
    OrgKind.HOSPITAL: "patients",
    OrgKind.TOWNSHIP: "residents",
    OrgKind.VILLAGE: "residents",
    OrgKind.RESCUE_TEAM: "rescuers",
}


class Organisation(Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[OrgKind] = mapped_column(str_enum(OrgKind), index=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    headcount: Mapped[int] = mapped_column(default=0)
    evacuation_target_seconds: Mapped[int | None]
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    contact: Mapped[str] = mapped_column(sa.String(100), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    region: Mapped[Region] = relationship()
    groups: Mapped[list["OrgGroup"]] = relationship(
        back_populates="org", cascade="all, delete-orphan", order_by="OrgGroup.position, OrgGroup.id"
    )

    __table_args__ = (
        sa.UniqueConstraint("region_code", "name", name="region_name"),
        sa.CheckConstraint("headcount >= 0", name="headcount_not_negative"),
    )

    @property
    def evacuation_target(self) -> int | None:
        return self.evacuation_target_seconds or DEFAULT_EVACUATION_TARGET_SECONDS.get(self.kind)

    @property
    def group_count_field(self) -> str:
        return GROUP_COUNT_FIELD.get(self.kind, "others")

    def __repr__(self) -> str:
        return f"<Organisation {self.id} {self.name}>"


class OrgGroup(Model):
    """A group of a unit (班级/年级/病区/楼层) with its expected headcount, counted at a roll call."""

    __tablename__ = "org_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    expected: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)

    org: Mapped[Organisation] = relationship(back_populates="groups")

    __table_args__ = (
        sa.UniqueConstraint("org_id", "name", name="org_group_name"),
        sa.CheckConstraint("expected >= 0", name="group_expected_not_negative"),
    )
