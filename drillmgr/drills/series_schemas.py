"""What the API answers of recurring drills and of plans for many units: a series, a series' preview, a plan
for many units before and after it is made, and the calendar's day flags."""

from collections.abc import Callable
from typing import Any

import marshmallow as ma

from drillmgr.api.fields import Boolean, Date, DateTime, EnumList, EnumValue, IdList, Integer, List, Nested, Text
from drillmgr.api.schema import Schema
from drillmgr.drills.schemas import DrillSchema
from drillmgr.enums import OrgKind

_MODE = {"enum": ["joint", "per_unit"]}


class DayFlagSchema(Schema):
    kind = Text(metadata={"enum": ["weekend", "holiday", "adjusted_workday"]})
    text = Text()


_FLAGS = {
    "description": "weekend, public holiday or adjusted working day (调休上班日) of the day in Beijing time, "
    "from the `holidays` package's China calendar"
}


class OccurrenceSchema(Schema):
    starts_at = DateTime()
    ends_at = DateTime()
    flags = List(Nested(DayFlagSchema), metadata=_FLAGS)


class SeriesPreviewSchema(Schema):
    """What POST /drill-series would make; nothing is made."""

    rrule = Text(metadata={"description": "the rule as it would be stored (UNTIL in UTC)"})
    created_now = Integer(metadata={"description": "occurrences made at once (up to a year ahead, at most 100)"})
    total = Integer(allow_none=True, metadata={"description": "all occurrences of an ending rule; null: it never ends"})
    ends = Boolean()
    flagged = Integer(metadata={"description": "occurrences with a flag"})
    occurrences = List(Nested(OccurrenceSchema))

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "created_now":
            return len(obj.occurrences)
        if attr == "ends":
            return obj.total is not None
        return super().get_attribute(obj, attr, default)


class DrillSeriesSchema(Schema):
    """A recurring drill as the caller may see it (drills.api_series.SeriesView)."""

    id = Integer()
    rrule = Text(
        allow_none=True,
        metadata={
            "description": "null while double-blind occurrences the caller may "
            "not see are still ahead (so is materialized_until)"
        },
    )
    dtstart = DateTime()
    duration_minutes = Integer()
    materialized_until = DateTime(allow_none=True)
    occurrences = List(Nested(DrillSchema))


class SeriesEndResultSchema(Schema):
    cancelled = IdList(metadata={"description": "ids of the drills cancelled"})
    series = Nested(DrillSeriesSchema)


class _UnitSchema(Schema):
    id = Integer()
    name = Text()
    kind = EnumValue(OrgKind)
    region_code = Text()


class BulkPlanSchema(Schema):
    """What POST /drill-batches would make (drills.bulk.BulkPlan)."""

    mode = Text(metadata=_MODE)
    region_code = Text()
    region_name = Text()
    kinds = EnumList(OrgKind)
    units = List(Nested(_UnitSchema))
    rrule = Text(allow_none=True)
    drills = Integer(metadata={"description": "drills made at once"})
    series = Integer()
    total_per_series = Integer(allow_none=True)
    occurrences = List(
        Nested(OccurrenceSchema),
        metadata={"description": "the dates of each unit's drills (of the joint drill), with their flags"},
    )

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        derived: dict[str, Callable[[], Any]] = {
            "region_code": lambda: obj.region.code,
            "region_name": lambda: obj.region.name,
            "drills": lambda: obj.drill_count,
            "series": lambda: obj.series_count,
        }
        return derived[attr]() if attr in derived else super().get_attribute(obj, attr, default)


class BatchSummarySchema(Schema):
    """What a plan for many units made (drills.bulk.BatchSummary)."""

    key = Text()
    created_at = DateTime(attribute="at")
    mode = Text(metadata=_MODE)
    region_code = Text(allow_none=True)
    title = Text()
    rrule = Text(allow_none=True)
    unit_ids = IdList()
    drills = Integer()
    series_ids = IdList()
    drill_ids = IdList(metadata={"description": "those the caller may see"})
    first_starts_at = DateTime(allow_none=True)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        derived: dict[str, Callable[[], Any]] = {
            "region_code": lambda: obj.region.code if obj.region else None,
            "unit_ids": lambda: [o.id for o in obj.units],
            "drills": lambda: len(obj.drills),
            "drill_ids": lambda: [d.id for d in obj.drills],
            "first_starts_at": lambda: min((d.starts_at for d in obj.drills), default=None),
        }
        return derived[attr]() if attr in derived else super().get_attribute(obj, attr, default)


class CalendarDaySchema(Schema):
    date = Date()
    flags = List(Nested(DayFlagSchema), metadata=_FLAGS)


class CalendarDaysSchema(Schema):
    items = List(Nested(CalendarDaySchema))
    arrangement_known = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Boolean(),
        metadata={
            "description": "per year: whether the State Council's arrangement (adjusted working days) is in the data; "
            "without it only the statutory holidays show"
        },
    )
