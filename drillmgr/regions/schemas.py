"""The region resource as the API answers it."""
from drillmgr.api.schema import Boolean, EnumValue, List, Nested, Schema, Text
from drillmgr.enums import RegionLevel


class RegionSchema(Schema):
    code = Text(metadata={"description": "national division code"})
    name = Text()
    level = EnumValue(RegionLevel)
    parent_code = Text(allow_none=True)
    key_county = Boolean()


class RegionListSchema(Schema):
    items = List(Nested(RegionSchema))
