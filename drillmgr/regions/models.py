import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from drillmgr.db import str_enum
from drillmgr.enums import RegionLevel
from drillmgr.extensions import Model


class Region(Model):
    """An administrative division, keyed by its national division code."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[RegionLevel] = mapped_column(str_enum(RegionLevel))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    key_county: Mapped[bool] = mapped_column(default=False)
    # "/654200/654202/…/": a subtree is every region whose path starts with this one's.
    path: Mapped[str] = mapped_column(sa.String(200), index=True)

    parent: Mapped["Region | None"] = relationship(remote_side=[code])

    def __repr__(self) -> str:
        return f"<Region {self.code} {self.name}>"
