"""The exercise's resources, each declared once: what the API and the services read, what the API answers and
what the OpenAPI document says of them; the pages' forms take their limits and choices from here."""
from typing import Any

from drillmgr.api.schema import (Boolean, Decimal, DateTime, EnumList, EnumValue, Integer, List, Nested, Schema,
                                 Text, Version)
from drillmgr.enums import Focus
from drillmgr.exercises.enums import Rating

MAX_TEXT = 5000
MAX_OBJECTIVE_TEXT = 500
MAX_PLAN = 300
MAX_POSITION = 10_000
MAX_OFFSET_MINUTES = 7 * 24 * 60  # a week: no tabletop or live drill runs longer
MAX_PARTY = 200  # an inject's sender, recipient
MAX_LINKS = 200
MAX_FEEDBACK_TEXT = 2000
SCORE = {"minimum": 1, "maximum": 5}


def _display_name(user: Any) -> str:
    return str(user.display_name or user.username) if user is not None else ""


class ObjectiveTemplateSchema(Schema):
    class Meta:
        description = "Admins only. PATCH takes any subset with the version read."

    id = Integer(dump_only=True)
    focus = EnumValue(Focus, required=True)
    text = Text(required=True, max_length=MAX_OBJECTIVE_TEXT, plain=True)
    position = Integer(minimum=0, maximum=MAX_POSITION)
    active = Boolean()
    version = Version()


class ObjectiveTemplateListSchema(Schema):
    items = List(Nested(ObjectiveTemplateSchema))


class ObjectiveSchema(Schema):
    class Meta:
        description = ("`template_id` fills the text and focus link from an objective template when they are left "
                       "out. Only the drill's organisers; at most 50 objectives.")

    id = Integer(dump_only=True)
    drill_id = Integer(dump_only=True)
    position = Integer(dump_only=True)
    text = Text(max_length=MAX_OBJECTIVE_TEXT, plain=True)
    measure = Text(max_length=MAX_TEXT, plain=True)
    focus = EnumList(Focus)
    plan = Text(max_length=MAX_PLAN, plain=True, metadata={"description": "the plan (预案) the objective tests"})
    template_id = Integer(minimum=1, load_only=True)
    version = Version()


class ObjectiveListSchema(Schema):
    items = List(Nested(ObjectiveSchema))
