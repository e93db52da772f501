"""The region tree (行政区划) and the prefecture it ships with."""

import sqlalchemy as sa

from drillmgr.access.scopes import subtree_codes
from drillmgr.enums import RegionLevel
from drillmgr.extensions import db
from drillmgr.regions.models import Region

PREFECTURE = ("654200", "塔城地区")
COUNTIES = (
    ("654201", "塔城市", False),
    ("654202", "乌苏市", True),
    ("654203", "沙湾市", True),
    ("654221", "额敏县", False),
    ("654224", "托里县", False),
    ("654225", "裕民县", False),
    ("654226", "和布克赛尔蒙古自治县", False),
)


def child_path(parent: Region | None, code: str) -> str:
    return f"{parent.path if parent else '/'}{code}/"


def add_region(
    code: str, name: str, level: RegionLevel, parent: Region | None = None, key_county: bool = False
) -> Region:
    region = Region(
        code=code,
        name=name,
        level=level,
        parent_code=parent.code if parent else None,
        key_county=key_county,
        path=child_path(parent, code),
    )
    db.session.add(region)
    return region


def ensure_tacheng() -> Region:
    """Creates the prefecture and its seven county-level units if they are missing."""
    prefecture = db.session.get(Region, PREFECTURE[0])
    if prefecture is None:
        prefecture = add_region(*PREFECTURE, RegionLevel.PREFECTURE)
    for code, name, key in COUNTIES:
        if db.session.get(Region, code) is None:
            add_region(code, name, RegionLevel.COUNTY, prefecture, key_county=key)
    db.session.flush()
    return prefecture


def all_regions(where: sa.ColumnElement[bool] | None = None) -> list[Region]:
    """The region tree in path order, optionally only the regions matching `where` (a scope clause)."""
    query = sa.select(Region).order_by(Region.path)
    if where is not None:
        query = query.where(where)
    return list(db.session.scalars(query))


def counties(within: str | None = None) -> list[Region]:
    query = sa.select(Region).where(Region.level == RegionLevel.COUNTY).order_by(Region.code)
    if within:
        query = query.where(Region.code.in_(subtree_codes(within)))
    return list(db.session.scalars(query))


def key_counties() -> list[Region]:
    return list(db.session.scalars(sa.select(Region).where(Region.key_county.is_(True)).order_by(Region.code)))


def county_of(region: Region) -> Region | None:
    """The county-level region at or above `region`."""
    codes = region.ancestor_codes
    if len(codes) < 2:
        return None
    return db.session.get(Region, codes[1])
