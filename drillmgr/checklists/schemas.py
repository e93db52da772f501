"""What the checklist template editing reads (a template and its items), and what its forms take their limits
and choices from."""
from drillmgr.api.schema import Boolean, EnumValue, Schema, Text, Version
from drillmgr.enums import DrillForm, DrillScope, OrgKind


class ChecklistTemplateSchema(Schema):
    name = Text(required=True, max_length=200)
    drill_form = EnumValue(DrillForm)
    drill_scope = EnumValue(DrillScope)
    org_kind = EnumValue(OrgKind)
    active = Boolean()
    version = Version()


class ChecklistItemSchema(Schema):
    text = Text(required=True, max_length=500)
    active = Boolean()
