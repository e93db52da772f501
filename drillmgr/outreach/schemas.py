"""Public education's resources: what the API and the services read of an activity, a demonstration site and
their list filters, and what the API answers (activities, sites, six-into coverage)."""

from drillmgr.localtime import local_today
from typing import Any

from flask import url_for

from drillmgr.api.fields import Boolean, Date, EnumList, EnumValue, Integer, List, Nested, Text, Version
from drillmgr.api.schema import Schema
from drillmgr.enums import Channel, ObservanceDay, OutreachKind, SiteKind, SiteStatus, SixIntoSetting
from drillmgr.outreach.audience import AUDIENCE_POPULATION_FACTOR, MAX_AUDIENCE
from drillmgr.outreach.models import EARLIEST_YEAR
from drillmgr.outreach.observance import ObservanceVerdict, observance_verdict

LATEST_YEAR = 2100
SITE_YEARS_AHEAD = 5
AUDIENCE_RULES = (
    f"refused above {AUDIENCE_POPULATION_FACTOR}x a plausible population of the region's level (village 5 000, "
    "township 60 000, county 500 000). On site only (no radio, TV or internet), more than the organising unit's "
    "headcount (schools, hospitals, agencies, enterprises, venues) or, without one, than a six-into setting's venue "
    "holds (agency 2 000, school 5 000, enterprise 5 000, community 10 000, village 5 000, family 2 000) is "
    "exceptional: 422 naming `audience` and `confirm_exceptional` until confirmed with a reason"
)


class OutreachActivitySchema(Schema):
    """An activity. `verdicts` (observance.verdicts of a page) saves a query per campaign when a list is dumped."""

    class Meta:
        description = "PATCH takes any subset."

    id = Integer(dump_only=True)
    kind = EnumValue(OutreachKind, required=True)
    title = Text(required=True, max_length=200)
    observance_day = EnumValue(
        ObservanceDay,
        allow_none=True,
        metadata={"description": "required for observance_campaign, refused for other kinds"},
    )
    setting = EnumValue(
        SixIntoSetting, allow_none=True, metadata={"description": "required for six_into, refused otherwise"}
    )
    held_on = Date(required=True, metadata={"description": "the day it was held: never in the future"})
    region_code = Text(required=True, max_length=12)
    organizer_org_id = Integer(
        minimum=1, allow_none=True, metadata={"description": "unit staff: defaults to their unit"}
    )
    channels = EnumList(Channel)
    # Its bound is the region's: the service names it (see drillmgr.outreach.audience).
    audience = Integer(minimum=0, metadata={"description": AUDIENCE_RULES, "request": {"maximum": MAX_AUDIENCE}})
    description = Text(max_length=5000)
    confirm_exceptional = Boolean(load_only=True, metadata={"description": "the exceptional audience is right"})
    exceptional_reason = Text(
        max_length=2000,
        reason=True,
        allow_none=True,
        metadata={"description": "why it is right: required with confirm_exceptional; kept and shown"},
    )
    counts_toward_observance = Boolean(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": (
                "campaigns only: held within the window around its day (±OUTREACH_OBSERVANCE_WINDOW_DAYS, default 3); "
                "a campaign outside it is kept but not counted"
            )
        },
    )
    observance_note = Text(dump_only=True, allow_none=True, metadata={"description": "why it counts or not"})
    is_demo = Boolean(dump_only=True)
    version = Version()

    def __init__(self, *, verdicts: dict[int, ObservanceVerdict | None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verdicts = dict(verdicts or {})

    def _verdict(self, activity: Any) -> ObservanceVerdict | None:
        if activity.id not in self.verdicts:
            self.verdicts[activity.id] = observance_verdict(activity)
        return self.verdicts[activity.id]

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "counts_toward_observance":
            verdict = self._verdict(obj)
            return verdict.counts if verdict else None
        if attr == "observance_note":
            verdict = self._verdict(obj)
            return verdict.reason if verdict else None
        if attr == "exceptional_reason":  # "" (nothing exceptional) is answered as null
            return obj.exceptional_reason or None
        return super().get_attribute(obj, attr, default)


class ActivityFilterSchema(Schema):
    """The list's filters (query arguments)."""

    year = Integer(minimum=EARLIEST_YEAR, maximum=LATEST_YEAR)
    region = Text(max_length=12, metadata={"description": "a region and everything below"})
    kind = EnumValue(OutreachKind)


class _YearsAhead(Integer):
    """A year from `minimum` to `years_ahead` after the current one: the bound moves with the calendar."""

    def __init__(self, *, years_ahead: int, **kwargs: Any) -> None:
        self.years_ahead = years_ahead
        super().__init__(**kwargs)

    @property
    def maximum(self) -> int:
        return local_today().year + self.years_ahead

    @maximum.setter
    def maximum(self, value: int) -> None:
        """Set by Integer.__init__; the bound is years_ahead's."""


class DemonstrationSiteSchema(Schema):
    id = Integer(dump_only=True)
    kind = EnumValue(SiteKind, required=True)
    name = Text(required=True, max_length=200)
    region_code = Text(required=True, max_length=12)
    org_id = Integer(minimum=1, allow_none=True)
    status = EnumValue(SiteStatus)
    year = _YearsAhead(
        required=True,
        minimum=EARLIEST_YEAR,
        years_ahead=SITE_YEARS_AHEAD,
        metadata={"description": "at most five years ahead"},
    )
    is_demo = Boolean(dump_only=True)
    version = Version()


class SiteFilterSchema(Schema):
    kind = EnumValue(SiteKind)
    status = EnumValue(SiteStatus)
    region = Text(max_length=12)


class _SettingCounts(Schema):
    """Six-into activities per setting (a CoverageRow's counts: setting → number)."""

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        return obj.get(SixIntoSetting(attr), 0)


SettingCountsSchema: type[Schema] = type(
    "SettingCountsSchema", (_SettingCounts,), {s.value: Integer() for s in SixIntoSetting}
)


class CoverageRowSchema(Schema):
    region_code = Text(attribute="region.code")
    name = Text(attribute="region.name")
    direct = Boolean(metadata={"description": "activities recorded at the region itself"})
    counts = Nested(SettingCountsSchema)
    gaps = EnumList(SixIntoSetting)


class SixIntoCoverageSchema(Schema):
    year = Integer()
    region_code = Text()
    rows = List(Nested(CoverageRowSchema))


class SummaryArgsSchema(Schema):
    """A summary's region (default: the caller's region, else the prefecture) and year (default: this year)."""

    region = Text(max_length=12)
    year = Integer(minimum=EARLIEST_YEAR, maximum=LATEST_YEAR)


class OutreachAttachmentSchema(Schema):
    """An activity's file (an answer)."""

    id = Integer()
    outreach_id = Integer()
    filename = Text()
    content_type = Text()
    size = Integer()
    sha256 = Text()
    url = Text(metadata={"description": "where to download it"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "url":
            return url_for("api.get_outreach_attachment", attachment_id=obj.id)
        return super().get_attribute(obj, attr, default)
