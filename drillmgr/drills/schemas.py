"""The drill resource: what the API and the services read of a drill, and what the API answers."""

from collections.abc import Mapping
from decimal import Decimal as DecimalValue
from typing import Any

import marshmallow as ma
from flask_babel import gettext as _

from drillmgr.api.fields import (
    Boolean,
    Date,
    DateTime,
    Decimal,
    EnumList,
    EnumValue,
    IdList,
    Integer,
    List,
    Nested,
    Text,
    Version,
)
from drillmgr.api.schema import Schema
from drillmgr.drills.key_links import planning_warnings
from drillmgr.drills.models import Drill, Participation
from drillmgr.enums import Condition, DrillForm, DrillScope, DrillStatus, Focus, JointWith, OrgKind

TITLE_LENGTH, DESCRIPTION_LENGTH, LOCATION_LENGTH, REGION_CODE_LENGTH = 200, 5000, 300, 12
REASON_LENGTH, EXCEPTIONAL_REASON_LENGTH = 1000, 2000
MAX_COUNT, MAX_GROUPS, MAX_EVACUATION_SECONDS = 1_000_000, 500, 24 * 3600
MAGNITUDE_RANGE = (DecimalValue("0.0"), DecimalValue("9.9"))


def evacuation_target(drill: Drill) -> int | None:
    """The organising unit's evacuation target (default 120 s for schools), for evacuation drills."""
    if drill.form != DrillForm.EVACUATION or drill.organizer_org is None:
        return None
    return drill.organizer_org.evacuation_target


class CountsSchema(Schema):
    """Who took part, by kind of person; a completion's counts are at least one above zero."""

    students, staff, patients, residents, rescuers, others = (Integer(minimum=0, maximum=MAX_COUNT) for _ in range(6))


class ParticipationGroupSchema(Schema):
    group_id = Integer(allow_none=True)
    name = Text()
    expected = Integer()
    present = Integer(minimum=0)
    missing = Integer(minimum=0)


class ParticipationSchema(Schema):
    """Who took part in a completed drill (an answer)."""

    counts = Nested(CountsSchema, metadata={"description": "at least one group above zero; none negative"})
    total = Integer()
    evacuation_seconds = Integer(allow_none=True)
    evacuation_target_seconds = Integer(allow_none=True)
    groups = List(Nested(ParticipationGroupSchema))
    exceptional_reason = Text(
        allow_none=True, metadata={"description": "the reason given when exceptional numbers were confirmed"}
    )
    notes = Text(allow_none=True)
    recorded_at = DateTime()

    def get_attribute(self, obj: Participation, attr: str, default: Any) -> Any:
        if attr == "counts":
            return {name: getattr(obj, name) for name in Participation.COUNT_FIELDS}
        if attr == "evacuation_target_seconds":
            return evacuation_target(obj.drill)
        if attr in ("exceptional_reason", "notes"):
            return getattr(obj, attr) or None
        return super().get_attribute(obj, attr, default)


class GroupCountSchema(Schema):
    """One group in a completion's roll call."""

    group_id = Integer(
        required=True, minimum=1, metadata={"description": "a group of the organiser or a participating unit"}
    )
    present = Integer(required=True, minimum=0, maximum=MAX_COUNT)
    missing = Integer(minimum=0, maximum=MAX_COUNT)


class RollCall(List):
    """The groups of a roll call: a list of at most MAX_GROUPS."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > MAX_GROUPS:
            raise ma.ValidationError(_("Must be a list of at most 500 groups."))
        return super()._deserialize(value, attr, data, **kwargs)


class ParticipationInputSchema(Schema):
    """The participation a completion records (checked against the drill by drills.participation)."""

    class Meta:
        description = (
            "`counts` or `groups` (or both) is required (422 naming `participation.counts` otherwise). Checked "
            "against the drill: the total against the headcounts recorded for the organiser and the participating "
            "units, the evacuation time against the drill's own length (never longer) and the unit's target (more "
            "than five times it is exceptional). Exceptional numbers answer 422 naming the field and "
            "`participation.confirm_exceptional`; send them again with `confirm_exceptional: true` and an "
            "`exceptional_reason`, which is kept and shown."
        )

    counts = Nested(CountsSchema, metadata={"description": "at least one group above zero; none negative"})
    groups = RollCall(
        Nested(GroupCountSchema),
        max_items=MAX_GROUPS,
        metadata={
            "description": "the roll call by the units' groups; the present of each unit's groups add up to its count "
            "(students for a school, patients for a hospital), which a count sent besides must equal"
        },
    )
    notes = Text(max_length=DESCRIPTION_LENGTH, plain=True, metadata={"description": "what was noted during the drill"})
    evacuation_seconds = Integer(
        minimum=1,
        maximum=MAX_EVACUATION_SECONDS,
        metadata={"description": "time to evacuate in seconds, for evacuation drills"},
    )
    confirm_exceptional = Boolean(metadata={"description": "the numbers beyond the plausible are right"})
    exceptional_reason = Text(
        max_length=EXCEPTIONAL_REASON_LENGTH,
        reason=True,
        metadata={"description": "why they are right; required with confirm_exceptional"},
    )


class DrillCompletionSchema(Schema):
    participation = Nested(ParticipationInputSchema)  # required: the service says so in words of its own
    participant_org_ids = IdList()
    version = Integer(minimum=1, metadata={"description": "checked when given"})


class ScenarioSchema(Schema):
    magnitude = Decimal(minimum=MAGNITUDE_RANGE[0], maximum=MAGNITUDE_RANGE[1], places=1, allow_none=True)
    conditions = EnumList(Condition)


class DrillSchema(Schema):
    """A drill: planned, changed (PATCH: any subset and the version) and answered."""

    id = Integer(dump_only=True)
    title = Text(required=True, max_length=TITLE_LENGTH, plain=True)
    description = Text(max_length=DESCRIPTION_LENGTH, plain=True)
    form = EnumValue(DrillForm, required=True)
    scope = EnumValue(DrillScope)
    double_blind = Boolean()
    joint_with = EnumValue(JointWith)
    focus = EnumList(
        Focus,
        metadata={"description": "defaults to the three key links for a comprehensive live drill of a key county"},
    )
    scenario = Nested(ScenarioSchema)
    organizer_org_id = Integer(
        minimum=1, allow_none=True, metadata={"description": "exactly one of organizer_org_id, organizer_region_code"}
    )
    organizer_region_code = Text(max_length=REGION_CODE_LENGTH, allow_none=True)
    region_code = Text(max_length=REGION_CODE_LENGTH, metadata={"description": "defaults to the organiser's region"})
    participant_org_ids = IdList()
    evaluator_ids = IdList(
        metadata={"description": "users, possibly of other units; they see the drill even when double-blind"}
    )
    starts_at = DateTime(required=True)
    ends_at = DateTime(required=True)
    location = Text(max_length=LOCATION_LENGTH, plain=True)
    public = Boolean()
    status = EnumValue(DrillStatus, dump_only=True)
    cancel_reason = Text(dump_only=True, allow_none=True)
    cancelled_at = DateTime(dump_only=True, allow_none=True)
    completed_at = DateTime(dump_only=True, allow_none=True)
    participation = Nested(ParticipationSchema, dump_only=True, allow_none=True)
    series_id = Integer(dump_only=True, allow_none=True)
    occurrence_start = DateTime(dump_only=True, allow_none=True)
    sequence = Integer(dump_only=True, metadata={"description": "the calendar SEQUENCE; rises when the drill is moved"})
    version = Version()
    is_demo = Boolean(dump_only=True)
    created_at = DateTime(dump_only=True)
    updated_at = DateTime(dump_only=True)

    def get_attribute(self, obj: Drill, attr: str, default: Any) -> Any:
        if attr == "scenario":
            return {"magnitude": obj.magnitude, "conditions": list(obj.conditions or [])}
        if attr == "participant_org_ids":
            return sorted(o.id for o in obj.participants)
        if attr == "evaluator_ids":
            return sorted(u.id for u in obj.evaluators)
        if attr == "cancel_reason":
            return obj.cancel_reason or None
        return super().get_attribute(obj, attr, default)


class DrillAnswerSchema(DrillSchema):
    """One drill's answer (get, create, change): the drill and what will keep it from counting."""

    warnings = List(
        Text(),
        dump_only=True,
        metadata={
            "description": "what will keep it from counting, e.g. a planned comprehensive live drill of a key county "
            "without all three key links, naming the missing link, in the caller's language"
        },
    )

    def get_attribute(self, obj: Drill, attr: str, default: Any) -> Any:
        if attr == "warnings":
            return planning_warnings(obj)
        return super().get_attribute(obj, attr, default)


RULE_LENGTH = 500
_RULE = {
    "description": "FREQ=DAILY|WEEKLY|MONTHLY|YEARLY; INTERVAL 1-1000; COUNT 1-1000 or UNTIL (a date such as "
    "20270630 means to the end of that day, Beijing time); at most 366 combinations of BY-part "
    "values and 60 drills a year. Refused otherwise with 422 naming `rrule`.",
    "request": {"minLength": 1},
}


class DrillSeriesInputSchema(DrillSchema):
    """A recurring drill: the first occurrence's fields and its rule."""

    class Meta:
        description = (
            "The first occurrence's fields and an RFC 5545 RRULE (daily to yearly), expanded in "
            "Beijing time; occurrences become drills up to a year ahead, at most 100 in one request (the "
            "nightly job makes the rest)."
        )

    rrule = Text(
        required=True,
        max_length=RULE_LENGTH,
        load_only=True,
        metadata=_RULE | {"examples": ["FREQ=MONTHLY;BYMONTHDAY=15", "FREQ=WEEKLY;BYDAY=MO;UNTIL=20270630"]},
    )


class DrillFollowingSchema(DrillSchema):
    """A change of an occurrence and every later one of its series (the series is split)."""

    class Meta:
        description = "Changes this occurrence and all later ones of its series (the series is split)."

    rrule = Text(max_length=RULE_LENGTH, load_only=True, metadata=_RULE)


class DrillCancellationSchema(Schema):
    reason = Text(required=True, max_length=REASON_LENGTH, plain=True)
    version = Integer(minimum=1, metadata={"description": "checked when given"})


class SeriesEndSchema(Schema):
    """ "Cancel this and all following" (the reason required) or "end the series here" (optional)."""

    version = Integer(required=True, minimum=1, metadata={"description": "this drill's; a stale one is 409"})
    reason = Text(
        max_length=REASON_LENGTH,
        plain=True,
        metadata={"description": "required to cancel this and all following; optional to end here"},
    )


class DrillBatchInputSchema(DrillSeriesInputSchema):
    """A plan for many units: whom it is for, and the drill (or series) each of them gets."""

    class Meta:
        description = (
            "A plan for every unit of the chosen kinds in a region (within the caller's; coordinators "
            "and admins only): `joint` makes one drill organised by the region with the units as "
            "participants, `per_unit` one drill each, organised by the unit. With `rrule`, series instead "
            "of drills. At most 300 units and 1,500 drills at once; all of it is made, or nothing (422 "
            "naming the field)."
        )
        exclude = ("organizer_org_id", "organizer_region_code", "participant_org_ids")

    mode = Text(required=True, max_length=20, metadata={"request": {"enum": ["joint", "per_unit"]}})
    region_code = Text(
        required=True,
        max_length=REGION_CODE_LENGTH,
        metadata={"description": "the region whose units are planned for (its subtree)"},
    )
    kinds = EnumList(OrgKind, required=True, metadata={"request": {"minItems": 1}})
    org_ids = IdList(metadata={"description": "only these of the matching units (each must match)"})
    rrule = Text(max_length=RULE_LENGTH, load_only=True, metadata=_RULE)


class DrillFiltersSchema(Schema):
    """The list's filters (query arguments)."""

    region = Text(max_length=REGION_CODE_LENGTH)
    org = Integer(minimum=1)
    form = EnumValue(DrillForm)
    status = EnumValue(DrillStatus)
    date_from = Date(data_key="from")
    date_to = Date(data_key="to")


class DateRangeSchema(Schema):
    """The days of the calendar's flags (query arguments)."""

    date_from = Date(required=True, data_key="from")
    date_to = Date(required=True, data_key="to")
