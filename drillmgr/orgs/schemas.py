"""The organisation resource and a unit's groups: what the API and the services read, and what the API answers."""

from typing import Any

from drillmgr.api.fields import Boolean, EnumValue, Integer, List, Nested, Text, Version
from drillmgr.api.schema import Schema
from drillmgr.enums import OrgKind

MAX_HEADCOUNT = 1_000_000
MAX_GROUPS = 500


class OrganisationSchema(Schema):
    id = Integer(dump_only=True)
    name = Text(required=True, max_length=200)
    kind = EnumValue(OrgKind, required=True)
    region_code = Text(required=True, max_length=12)
    headcount = Integer(minimum=0, maximum=MAX_HEADCOUNT)
    evacuation_target_seconds = Integer(minimum=10, maximum=3600, allow_none=True)
    address = Text(max_length=300)
    contact = Text(max_length=100)
    is_demo = Boolean(dump_only=True)
    version = Version()

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "evacuation_target_seconds":  # answered: the unit's own target, or its kind's default
            return obj.evacuation_target
        return super().get_attribute(obj, attr, default)


class OrgFiltersSchema(Schema):
    """GET /orgs's query arguments."""

    region = Text(max_length=12, metadata={"description": "region code (its subtree)"})
    kind = EnumValue(OrgKind)


class GroupSchema(Schema):
    id = Integer(dump_only=True)
    name = Text(required=True, max_length=100, plain=True, metadata={"description": "unique within the unit"})
    expected = Integer(
        required=True, minimum=0, maximum=MAX_HEADCOUNT, metadata={"description": "the expected headcount"}
    )


class OrgGroupsSchema(Schema):
    """A unit's groups (an answer: `items`, the unit's `version`; a request: `groups`, the `version` read)."""

    class Meta:
        description = (
            "Replaces all the unit's groups, or none when any is invalid (errors name the group from "
            "1). A group keeps its id while its name stays."
        )

    items = List(Nested(GroupSchema), dump_only=True, attribute="groups")
    groups = List(Nested(GroupSchema), required=True, load_only=True, max_items=MAX_GROUPS)
    version = Integer(
        minimum=1,
        metadata={"description": "the unit's version; send the one read with a change (a stale one answers 409)"},
    )
