"""The checklist resources: templates and their items (what editing reads, and the forms' limits and choices),
a run's start, its answers and the list's filters, and what the API answers (a run with its answers, readiness
by county)."""

from typing import Any

from drillmgr.api.fields import Boolean, Date, DateTime, Decimal, EnumValue, Integer, List, Nested, Text, Version
from drillmgr.api.schema import Schema
from drillmgr.enums import Answer, DrillForm, DrillScope, OrgKind

LINE_FIELDS = {
    "item_id": "item.id",
    "text": "item.text",
    "answer": "value",
    "note": "answer.note",
    "photo_id": "answer.photo_id",
    "finding_id": "answer.finding_id",
}
LINE_DEFAULTS = {"note": "", "photo_id": None, "finding_id": None}  # an item not answered yet
PROGRESS_FIELDS = ("answered", "total", "no")
MAX_NOTE = 2000


class ChecklistLineSchema(Schema):
    """An item of a run and its answer (a checklists.runs.RunLine)."""

    item_id = Integer()
    text = Text()
    answer = EnumValue(Answer, allow_none=True)
    note = Text()
    photo_id = Integer(allow_none=True)
    finding_id = Integer(allow_none=True)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if obj.answer is None and attr in LINE_DEFAULTS:
            return LINE_DEFAULTS[attr]
        return super().get_attribute(obj, LINE_FIELDS[attr], default)


class ChecklistRunSchema(Schema):
    id = Integer()
    template_id = Integer()
    template = Text(attribute="template.name")
    drill_id = Integer(allow_none=True)
    org_id = Integer(allow_none=True)
    region_code = Text()
    started_at = DateTime()
    completed_at = DateTime(allow_none=True)
    answered = Integer()
    total = Integer()
    no = Integer()
    answers = List(Nested(ChecklistLineSchema))

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        # Imported here: the services read their input with this module's schemas.
        from drillmgr.checklists.runs import progress, run_lines

        if attr in PROGRESS_FIELDS:
            return getattr(progress(obj), attr)
        if attr == "answers":
            return run_lines(obj)
        return super().get_attribute(obj, attr, default)


class ChecklistRunStartSchema(Schema):
    class Meta:
        description = (
            "exactly one of drill_id (pre-drill) and org_id (standing readiness); an unfinished run is "
            "returned as it is"
        )

    drill_id = Integer(minimum=1)
    org_id = Integer(minimum=1)


class ChecklistAnswerSchema(Schema):
    """One item's answer, in a body keyed by item id; an answer sent as null is taken back."""

    answer = EnumValue(Answer, allow_none=True)
    note = Text(max_length=MAX_NOTE)


class RunFilterSchema(Schema):
    org = Integer(minimum=1)
    drill = Integer(minimum=1)


class ReadinessRowSchema(Schema):
    code = Text()
    name = Text()
    units = Integer()
    ready = Integer()
    share = Decimal(allow_none=True)
    term = List(Date(), metadata={"description": "the school term: its first and last day"})


class ReadinessSummarySchema(Schema):
    items = List(Nested(ReadinessRowSchema))


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
