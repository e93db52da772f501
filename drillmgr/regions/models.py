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

    @property
    def ancestor_codes(self) -> list[str]:
        """This region's code and those above it, the prefecture first."""
        return [code for code in self.path.strip("/").split("/") if code]

    @property
    def depth(self) -> int:
        """0 for the prefecture, 1 for a county, 2 for a township."""
        return len(self.ancestor_codes) - 1

    @property
    def indented_name(self) -> str:
        """The name indented by depth (full-width spaces), as lists of regions show it."""
        return "\u3000" * self.depth + self.name

    def __repr__(self) -> str:
        return f"<Region {self.code} {self.name}>"
