"""The region resource as the API answers it."""

from drillmgr.api.fields import Boolean, EnumValue, List, Nested, Text
from drillmgr.api.schema import Schema
from drillmgr.enums import RegionLevel


class RegionSchema(Schema):
    code = Text(metadata={"description": "national division code"})
    name = Text()
    level = EnumValue(RegionLevel)
    parent_code = Text(allow_none=True)
    key_county = Boolean()


class RegionListSchema(Schema):
    items = List(Nested(RegionSchema))
