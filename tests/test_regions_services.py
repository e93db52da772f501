"""Regions: Tacheng's divisions, subtrees and the county above a region."""

import pytest

from drillmgr.access import services as access
from drillmgr.enums import RegionLevel
from drillmgr.extensions import db
from drillmgr.regions import services as regions
from drillmgr.regions.models import Region
from drillmgr.regions.schemas import RegionSchema
from tests.conftest import PREFECTURE, SHAWAN, WUSU

pytestmark = pytest.mark.usefixtures("english")


def test_tacheng_is_there_once():
    regions.ensure_tacheng()
    regions.ensure_tacheng()
    assert [c.name for c in regions.counties()] == [
        "塔城市",
        "乌苏市",
        "沙湾市",
        "额敏县",
        "托里县",
        "裕民县",
        "和布克赛尔蒙古自治县",
    ]
    assert [c.code for c in regions.key_counties()] == [WUSU, SHAWAN]
    assert db.session.get(Region, PREFECTURE).level == RegionLevel.PREFECTURE


def test_subtree_and_county_of(make_region):
    township = make_region(code="654202901", parent_code=WUSU)
    village = make_region(code="654202901001", parent_code=township.code, level=RegionLevel.VILLAGE)
    subtree = set(db.session.scalars(access.subtree_codes(WUSU)))
    assert subtree == {WUSU, township.code, village.code}
    assert regions.county_of(village).code == WUSU
    assert regions.county_of(db.session.get(Region, PREFECTURE)) is None
    assert [c.code for c in regions.counties(within=WUSU)] == [WUSU]
    assert access.region_in_subtree(village.code, PREFECTURE) and not access.region_in_subtree(village.code, SHAWAN)
    assert RegionSchema().dump(village) == {
        "code": village.code,
        "name": village.name,
        "level": "village",
        "parent_code": township.code,
        "key_county": False,
    }


def test_subtree_does_not_leak_to_similar_codes(make_region):
    """654202 must not take in a sibling whose code merely starts the same way."""
    lookalike = regions.add_region("6542020", "相似代码", RegionLevel.COUNTY, db.session.get(Region, PREFECTURE))
    db.session.flush()
    assert lookalike.code not in set(db.session.scalars(access.subtree_codes(WUSU)))
