"""How many people an activity plausibly reached: refused beyond a region's plausible population, exceptional
(confirmed with a reason) beyond what the venue or the organising unit holds."""

from collections.abc import Mapping
from typing import Any

from flask_babel import format_decimal
from flask_babel import gettext as _

from drillmgr.enums import Channel, OrgKind, OutreachKind, RegionLevel, SixIntoSetting
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.api.schema import Reading

# An audience above this is refused whatever the region: the whole of Xinjiang has about 26 million people.
MAX_AUDIENCE = 10_000_000
# Audience reached may exceed the population (radio, TV and internet reach beyond the region, and people
# are counted once per broadcast), but not by more than this factor of a generous population per level.
AUDIENCE_POPULATION_FACTOR = 100
PLAUSIBLE_POPULATION = {
    RegionLevel.PREFECTURE: 1_500_000,  # 塔城地区 has about 1.1 million residents
    RegionLevel.COUNTY: 500_000,  # the largest county-level unit has about 300 000
    RegionLevel.TOWNSHIP: 60_000,
    RegionLevel.VILLAGE: 5_000,
}
# The audience one on-site activity plausibly reaches, per six-into setting (a venue's size): beyond it,
# or beyond the organising unit's own headcount, the user confirms the number with a reason.
SETTING_AUDIENCE = {
    SixIntoSetting.AGENCY: 2_000,
    SixIntoSetting.SCHOOL: 5_000,
    SixIntoSetting.ENTERPRISE: 5_000,
    SixIntoSetting.COMMUNITY: 10_000,
    SixIntoSetting.VILLAGE: 5_000,
    SixIntoSetting.FAMILY: 2_000,
}
# Units whose headcount is the people an activity they hold on site can reach.
HEADCOUNT_BOUND_KINDS = (
    OrgKind.SCHOOL,
    OrgKind.KINDERGARTEN,
    OrgKind.HOSPITAL,
    OrgKind.AGENCY,
    OrgKind.ENTERPRISE,
    OrgKind.VENUE,
    OrgKind.RESCUE_TEAM,
)


def audience_limit(region: Region) -> int:
    return min(MAX_AUDIENCE, AUDIENCE_POPULATION_FACTOR * PLAUSIBLE_POPULATION[region.level])


def organizer(org_id: int | None) -> Organisation | None:
    return db.session.get(Organisation, org_id) if org_id else None


def venue_bound(values: Mapping[str, Any]) -> tuple[int, str] | None:
    """The most people an activity held on site (no radio, TV or internet) plausibly reaches, and what sets
    it: the organising unit's headcount (schools, hospitals, agencies, enterprises, venues), else the
    six-into setting's venue. None when nothing bounds it (broadcasts, or no unit and no setting)."""
    channels = {Channel(c) for c in values.get("channels") or []}
    if channels - {Channel.ON_SITE}:
        return None
    org = organizer(values.get("organizer_org_id"))
    if org is not None and org.kind in HEADCOUNT_BOUND_KINDS and org.headcount:
        return org.headcount, _("the headcount of %(unit)s", unit=org.name)
    setting = values.get("setting")
    if values.get("kind") == OutreachKind.SIX_INTO and setting is not None:
        return SETTING_AUDIENCE[SixIntoSetting(setting)], _(
            "what a venue of this setting (%(setting)s) holds", setting=SixIntoSetting(setting).label
        )
    return None


def check_audience(p: Reading, region: Region | None, merged: Mapping[str, Any], relevant: bool) -> dict[str, str]:
    """Refuses (on `p`) an audience beyond the region's plausible population; returns the exceptional one
    (field → why) when `relevant`, i.e. when what bounds it was just set."""
    audience = merged.get("audience")
    if not isinstance(audience, int) or "audience" in p.errors:
        return {}
    if region is not None and audience > audience_limit(region):
        p.error(
            "audience",
            _(
                "An audience of %(n)s is not plausible for %(region)s (at most %(limit)s).",
                n=format_decimal(audience),
                region=region.name,
                limit=format_decimal(audience_limit(region)),
            ),
        )
        return {}
    if not relevant or p.errors.get("organizer_org_id"):
        return {}
    bound = venue_bound(merged)
    if bound is not None and audience > bound[0]:
        return {
            "audience": _(
                "An audience of %(n)s is more than %(bound)s (%(limit)s).",
                n=format_decimal(audience),
                bound=bound[1],
                limit=format_decimal(bound[0]),
            )
        }
    return {}
