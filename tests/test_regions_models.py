"""A region knows its ancestors, depth and indented name (they were parsed from its path by hand in nine places)."""

from tests.conftest import PREFECTURE, WUSU, login

from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.regions.models import Region
from drillmgr.regions.services import county_of


def test_ancestors_depth_and_indented_name(make_region):
    town = make_region(name="古尔图镇")
    prefecture, county = db.session.get(Region, PREFECTURE), db.session.get(Region, WUSU)
    assert town.ancestor_codes == [PREFECTURE, WUSU, town.code]
    assert [r.depth for r in (prefecture, county, town)] == [0, 1, 2]
    assert [r.indented_name for r in (prefecture, county, town)] == ["塔城地区", "\u3000乌苏市", "\u3000\u3000古尔图镇"]
    assert county_of(town) == county and county_of(prefecture) is None


def test_region_filters_show_the_indented_names(client, make_user, make_region):
    make_region(name="古尔图镇")
    login(client, make_user(Role.ADMIN))
    page = client.get("/orgs/").get_data(as_text=True)
    assert ">\u3000乌苏市</option>" in page and ">\u3000\u3000古尔图镇</option>" in page
