"""Public earthquake-safety education (item 19): activities, demonstration sites, six-into coverage.

Observance-day campaigns count towards DESIGN §3 rule 6 only when held inside the window around
their day (default ±3 days, `OUTREACH_OBSERVANCE_WINDOW_DAYS`). The compliance engine imports
`counts_toward_observance` / `counted_campaign_clause` from here, so the page and the rule agree.
"""
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.audit import services as audit
from drillmgr.compliance.models import ComplianceRule
from drillmgr.db import claim_version
from drillmgr.enums import (Channel, ObservanceDay, OrgKind, OutreachKind, RegionLevel, Role, SiteKind,
                            SiteStatus, SixIntoSetting)
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity
from drillmgr.regions.models import Region
from drillmgr.db import utcnow
from drillmgr.localtime import to_local
from drillmgr.validation import MISSING, Payload, confirm_exceptional

DEFAULT_WINDOW_DAYS = 3
OBSERVANCE_RULE_KEY = "observance-campaigns"
# An audience above this is refused whatever the region: the whole of Xinjiang has about 26 million people.
MAX_AUDIENCE = 10_000_000
# Audience reached may exceed the population (radio, TV and internet reach beyond the region, and people
# are counted once per broadcast), but not by more than this factor of a generous population per level.
AUDIENCE_POPULATION_FACTOR = 100
PLAUSIBLE_POPULATION = {
    RegionLevel.PREFECTURE: 1_500_000,   # 塔城地区 has about 1.1 million residents
    RegionLevel.COUNTY: 500_000,         # the largest county-level unit has about 300 000
    RegionLevel.TOWNSHIP: 60_000,
    RegionLevel.VILLAGE: 5_000,
}
# The audience one on-site activity plausibly reaches, per six-into setting (a venue's size): beyond it,
# or beyond the organising unit's own headcount, the user confirms the number with a reason.
SETTING_AUDIENCE = {
    SixIntoSetting.AGENCY: 2_000, SixIntoSetting.SCHOOL: 5_000, SixIntoSetting.ENTERPRISE: 5_000,
    SixIntoSetting.COMMUNITY: 10_000, SixIntoSetting.VILLAGE: 5_000, SixIntoSetting.FAMILY: 2_000,
}
# Units whose headcount is the people an activity they hold on site can reach.
HEADCOUNT_BOUND_KINDS = (OrgKind.SCHOOL, OrgKind.KINDERGARTEN, OrgKind.HOSPITAL, OrgKind.AGENCY, OrgKind.ENTERPRISE,
                         OrgKind.VENUE, OrgKind.RESCUE_TEAM)
EARLIEST_YEAR = 2000
ACTIVITY_FIELDS = ("kind", "title", "observance_day", "setting", "held_on", "region_code", "organizer_org_id",
                   "channels", "audience", "description", "exceptional_reason")
SITE_FIELDS = ("kind", "name", "region_code", "org_id", "status", "year")


# --- observance windows (shared with compliance rule 6) ---------------------------------------------

def window_days(year: int | None = None) -> int:
    """Days either side of an observance day: the year's `observance-campaigns` compliance rule decides
    (admins edit it), else OUTREACH_OBSERVANCE_WINDOW_DAYS, else 3."""
    if year is not None:
        params = db.session.scalar(sa.select(ComplianceRule.params).where(
            ComplianceRule.key == OBSERVANCE_RULE_KEY, ComplianceRule.year == year))
        if params and isinstance(params.get("window_days"), int):
            return params["window_days"]
    if has_app_context():
        return int(current_app.config.get("OUTREACH_OBSERVANCE_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))
    return DEFAULT_WINDOW_DAYS


def observance_date(day: ObservanceDay, year: int) -> date:
    month, day_of_month = day.month_day
    return date(year, month, day_of_month)


def observance_window(day: ObservanceDay, year: int, days: int | None = None) -> tuple[date, date]:
    """First and last date (inclusive) on which a campaign for `day` in `year` counts."""
    centre = observance_date(day, year)
    spread = timedelta(days=window_days(year) if days is None else days)
    return centre - spread, centre + spread


@dataclass(frozen=True)
class ObservanceVerdict:
    counts: bool
    reason: str


def observance_verdict(activity: OutreachActivity, days: int | None = None) -> ObservanceVerdict | None:
    """Whether a campaign counts towards its observance day, and why not; None for other kinds."""
    if activity.kind != OutreachKind.OBSERVANCE_CAMPAIGN or activity.observance_day is None:
        return None
    day = ObservanceDay(activity.observance_day)
    first, last = observance_window(day, activity.held_on.year, days)
    if first <= activity.held_on <= last:
        return ObservanceVerdict(True, _("Held within the window around %(day)s (%(first)s – %(last)s).",
                                         day=day.label, first=format_date(first), last=format_date(last)))
    return ObservanceVerdict(False, _(
        "Recorded but not counted: held on %(held)s, outside the window around %(day)s (%(first)s – %(last)s).",
        held=format_date(activity.held_on), day=day.label, first=format_date(first), last=format_date(last)))


def counts_toward_observance(activity: OutreachActivity, days: int | None = None) -> bool:
    verdict = observance_verdict(activity, days)
    return verdict is not None and verdict.counts


def counted_campaign_clause(year: int, days: int | None = None) -> sa.ColumnElement[bool]:
    """SQL form of counts_toward_observance for one calendar year: campaigns held inside their window."""
    days = window_days(year) if days is None else days
    windows = []
    for day in ObservanceDay:
        first, last = observance_window(day, year, days)
        windows.append(sa.and_(OutreachActivity.observance_day == day, OutreachActivity.held_on.between(first, last)))
    return sa.and_(OutreachActivity.kind == OutreachKind.OBSERVANCE_CAMPAIGN, sa.or_(*windows))


# --- activities -----------------------------------------------------------------------------------

def verdicts(activities) -> dict[int, ObservanceVerdict | None]:
    """observance_verdict for a page of activities, reading each year's window once."""
    windows = {year: window_days(year) for year in {a.held_on.year for a in activities}}
    return {a.id: observance_verdict(a, windows[a.held_on.year]) for a in activities}


def activity_to_dict(activity: OutreachActivity, verdict=MISSING) -> dict:
    """`verdict` saves a query when the caller already has it (see verdicts())."""
    if verdict is MISSING:
        verdict = observance_verdict(activity)
    return {
        "id": activity.id,
        "kind": activity.kind.value,
        "title": activity.title,
        "observance_day": activity.observance_day.value if activity.observance_day else None,
        "setting": activity.setting.value if activity.setting else None,
        "held_on": activity.held_on.isoformat(),
        "region_code": activity.region_code,
        "organizer_org_id": activity.organizer_org_id,
        "channels": list(activity.channels or []),
        "audience": activity.audience,
        "exceptional_reason": activity.exceptional_reason or None,
        "description": activity.description,
        "counts_toward_observance": verdict.counts if verdict else None,
        "observance_note": verdict.reason if verdict else None,
        "is_demo": activity.is_demo,
        "version": activity.version,
    }


def audience_limit(region: Region) -> int:
    return min(MAX_AUDIENCE, AUDIENCE_POPULATION_FACTOR * PLAUSIBLE_POPULATION[region.level])


def _read_activity(data: dict, current: OutreachActivity | None) -> tuple[Payload, dict]:
    p = Payload(data, partial=current is not None)
    values = {
        "kind": p.choice("kind", OutreachKind, required=True),
        "title": p.string("title", required=True, max_length=200),
        "observance_day": p.choice("observance_day", ObservanceDay),
        "setting": p.choice("setting", SixIntoSetting),
        "held_on": p.date("held_on", required=True),
        "region_code": p.string("region_code", required=True, max_length=12),
        "organizer_org_id": p.integer("organizer_org_id", minimum=1),
        "channels": p.choices("channels", Channel),
        "audience": p.integer("audience", minimum=0),
        "description": p.string("description", max_length=5000),
    }
    for field in ("observance_day", "setting", "organizer_org_id"):
        if p.has(field) and data[field] is None:
            values[field] = None
    values = {k: v for k, v in values.items() if v is not MISSING}

    merged = {f: getattr(current, f) for f in ACTIVITY_FIELDS} if current is not None else {}
    merged.update(values)
    kind = merged.get("kind")
    if kind == OutreachKind.OBSERVANCE_CAMPAIGN and merged.get("observance_day") is None \
            and "observance_day" not in p.errors:
        p.error("observance_day", _("An observance-day campaign needs its observance day."))
    if kind is not None and kind != OutreachKind.OBSERVANCE_CAMPAIGN and merged.get("observance_day") is not None:
        p.error("observance_day", _("Only observance-day campaigns have an observance day."))
    if kind == OutreachKind.SIX_INTO and merged.get("setting") is None and "setting" not in p.errors:
        p.error("setting", _("A six-into activity needs its setting."))
    if kind is not None and kind != OutreachKind.SIX_INTO and merged.get("setting") is not None:
        p.error("setting", _("Only six-into activities have a setting."))
    held_on = values.get("held_on")
    today = to_local(utcnow()).date()
    if held_on is not None and held_on > today:
        p.error("held_on", _("An activity is recorded once it has been held: %(day)s is still to come.",
                             day=format_date(held_on)))
    elif held_on is not None and held_on.year < EARLIEST_YEAR:
        p.error("held_on", _("Must be between %(a)d and %(b)d.", a=EARLIEST_YEAR, b=today.year))

    region = None
    if merged.get("region_code"):
        region = db.session.get(Region, merged["region_code"])
        if region is None:
            p.error("region_code", _("No such region: %(code)s.", code=merged["region_code"]))
    if values.get("organizer_org_id") is not None and db.session.get(Organisation, values["organizer_org_id"]) is None:
        p.error("organizer_org_id", _("No such organisation."))
    audience = merged.get("audience")
    exceptional = {}
    relevant = current is None or any(f in values for f in ("audience", "organizer_org_id", "setting", "channels",
                                                            "kind"))
    if region is not None and isinstance(audience, int) and "audience" not in p.errors \
            and audience > audience_limit(region):
        p.error("audience", _("An audience of %(n)s is not plausible for %(region)s (at most %(limit)s).",
                              n=format_decimal(audience), region=region.name,
                              limit=format_decimal(audience_limit(region))))
    elif relevant and isinstance(audience, int) and "audience" not in p.errors \
            and not p.errors.get("organizer_org_id"):
        bound = venue_bound(merged)
        if bound is not None and audience > bound[0]:
            exceptional["audience"] = _("An audience of %(n)s is more than %(bound)s (%(limit)s).",
                                        n=format_decimal(audience), bound=bound[1], limit=format_decimal(bound[0]))
    reason = confirm_exceptional(p, exceptional)
    if relevant:
        values["exceptional_reason"] = reason
    return p, values


def venue_bound(values: dict) -> tuple[int, str] | None:
    """The most people an activity held on site (no radio, TV or internet) plausibly reaches, and what sets
    it: the organising unit's headcount (schools, hospitals, agencies, enterprises, venues), else the
    six-into setting's venue. None when nothing bounds it (broadcasts, or no unit and no setting)."""
    channels = {Channel(c) for c in values.get("channels") or []}
    if channels - {Channel.ON_SITE}:
        return None
    org = _organizer(values.get("organizer_org_id"))
    if org is not None and org.kind in HEADCOUNT_BOUND_KINDS and org.headcount:
        return org.headcount, _("the headcount of %(unit)s", unit=org.name)
    setting = values.get("setting")
    if values.get("kind") == OutreachKind.SIX_INTO and setting is not None:
        return SETTING_AUDIENCE[SixIntoSetting(setting)], _("what a venue of this setting (%(setting)s) holds",
                                                            setting=SixIntoSetting(setting).label)
    return None


def _organizer(org_id: int | None) -> Organisation | None:
    return db.session.get(Organisation, org_id) if org_id else None


def create_activity(actor, data: dict, is_demo: bool = False) -> OutreachActivity:
    if actor is not None and actor.role == Role.ORG_STAFF and isinstance(data, dict) \
            and data.get("organizer_org_id") is None:
        data = {**data, "organizer_org_id": actor.org_id}
    p, values = _read_activity(data, None)
    p.check()
    values.setdefault("channels", [])
    values.setdefault("audience", 0)
    if actor is not None:
        access.require(access.can_record_outreach(actor, values["region_code"],
                                                  _organizer(values.get("organizer_org_id"))),
                       _("You cannot record activities for this region or organisation."))
    activity = OutreachActivity(**values, created_by_id=getattr(actor, "id", None), is_demo=is_demo)
    activity.channels = [c.value for c in values["channels"]]
    db.session.add(activity)
    db.session.flush()
    audit.record(actor, "outreach.create", "outreach_activity", activity.id, None,
                 audit.snapshot(activity, ACTIVITY_FIELDS))
    db.session.commit()
    return activity


def update_activity(actor, activity: OutreachActivity, data: dict) -> OutreachActivity:
    access.require(access.can_edit_outreach(actor, activity), _("You cannot change this activity."))
    p, values = _read_activity(data, activity)
    version = p.version()
    p.check()
    merged_region = values.get("region_code", activity.region_code)
    merged_org = values.get("organizer_org_id", activity.organizer_org_id)
    access.require(access.can_record_outreach(actor, merged_region, _organizer(merged_org)),
                   _("You cannot record activities for this region or organisation."))
    claim_version(activity, version,
                  _("Someone else changed this activity meanwhile. Reload it and apply your change again."))
    before = audit.snapshot(activity, ACTIVITY_FIELDS)
    for field, value in values.items():
        setattr(activity, field, [c.value for c in value] if field == "channels" else value)
    audit.record(actor, "outreach.update", "outreach_activity", activity.id, before,
                 audit.snapshot(activity, ACTIVITY_FIELDS))
    db.session.commit()
    return activity


def delete_activity(actor, activity: OutreachActivity) -> None:
    """Deletes the activity, its attachments and their files."""
    from drillmgr.attachments.models import Attachment
    from drillmgr.attachments.services import attachment_path

    access.require(access.can_edit_outreach(actor, activity), _("You cannot change this activity."))
    attachments = db.session.scalars(sa.select(Attachment).where(Attachment.outreach_id == activity.id)).all()
    files = [attachment_path(a) for a in attachments]
    audit.record(actor, "outreach.delete", "outreach_activity", activity.id,
                 audit.snapshot(activity, ACTIVITY_FIELDS) | {"attachments": [a.filename for a in attachments]}, None)
    for attachment in attachments:
        db.session.delete(attachment)
    db.session.delete(activity)
    db.session.commit()
    for path in files:
        path.unlink(missing_ok=True)


def attach_file(actor, activity: OutreachActivity, stream, filename: str):
    """A photo or document about the activity (same checks as drill files)."""
    from drillmgr.checklists import uploads

    access.require(access.can_edit_outreach(actor, activity), _("You cannot change this activity."))
    attachment = uploads.store(stream, filename, actor, outreach_id=activity.id)
    db.session.flush()
    audit.record(actor, "attachment.add", "outreach_activity", activity.id, None,
                 {"attachment_id": attachment.id, "filename": attachment.filename, "size": attachment.size})
    db.session.commit()
    return attachment


def activity_attachments(activity: OutreachActivity) -> list:
    from drillmgr.attachments.models import Attachment

    return list(db.session.scalars(sa.select(Attachment).where(Attachment.outreach_id == activity.id)
                                   .order_by(Attachment.uploaded_at, Attachment.id)))


def get_visible_attachment(user, attachment_id: int):
    """An activity's file, if the activity is visible to `user`; else NotFound."""
    from drillmgr.attachments.models import Attachment

    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.outreach_id is None:
        access.not_found(_("No such file."))
    get_visible_activity(user, attachment.outreach_id)
    return attachment


def get_visible_activity(user, activity_id: int) -> OutreachActivity:
    activity = db.session.get(OutreachActivity, activity_id)
    if activity is None or not access.can_view_outreach(user, activity):
        access.not_found(_("No such activity."))
    return activity


def read_filters(args) -> dict:
    """Validated list filters from query arguments: year, region, kind (bad values are a 422)."""
    p = Payload(dict(args))
    filters = {"year": p.integer("year", minimum=EARLIEST_YEAR, maximum=2100),
               "region": p.string("region", max_length=12), "kind": p.choice("kind", OutreachKind)}
    if filters["region"] not in (MISSING, "") and db.session.get(Region, filters["region"]) is None:
        p.error("region", _("No such region: %(code)s.", code=filters["region"]))
    p.check()
    return {k: v for k, v in filters.items() if v not in (MISSING, "")}


def activity_query(user, year: int | None = None, region: str | None = None,
                   kind: OutreachKind | None = None) -> sa.Select:
    query = sa.select(OutreachActivity).where(access.outreach_clause(user))
    if year:
        query = query.where(OutreachActivity.held_on.between(date(year, 1, 1), date(year, 12, 31)))
    if region:
        query = query.where(OutreachActivity.region_code.in_(access.subtree_codes(region)))
    if kind:
        query = query.where(OutreachActivity.kind == kind)
    return query.order_by(OutreachActivity.held_on.desc(), OutreachActivity.id.desc())


# --- six-into coverage --------------------------------------------------------------------------

@dataclass
class CoverageRow:
    region: Region
    counts: dict
    direct: bool = False  # activities recorded at the region itself rather than below it

    @property
    def covered(self) -> int:
        return sum(1 for n in self.counts.values() if n)

    @property
    def gaps(self) -> list[SixIntoSetting]:
        return [s for s in SixIntoSetting if not self.counts.get(s)]


def coverage_matrix(user, region_code: str, year: int) -> list[CoverageRow]:
    """Six-into activities per setting for each child of `region_code` (counties of the prefecture,
    townships of a county), plus a row for activities recorded at `region_code` itself.

    Set-based: one GROUP BY region and setting over the subtree's activities, and one query mapping
    each region of the subtree to the child it lies under; both are folded together here."""
    child = aliased(Region)
    below = aliased(Region)
    target = db.session.get(Region, region_code)
    assert target is not None  # both callers refuse an unknown region first
    children = list(db.session.scalars(sa.select(Region).where(Region.parent_code == region_code)
                                       .order_by(Region.code)))
    child_of = dict(db.session.execute(
        sa.select(below.code, child.code).join(child, below.path.startswith(child.path, autoescape=False))
        .where(child.parent_code == region_code)).tuples().all())
    grouped = db.session.execute(
        sa.select(OutreachActivity.region_code, OutreachActivity.setting, sa.func.count())
        .where(OutreachActivity.kind == OutreachKind.SIX_INTO, access.outreach_clause(user),
               OutreachActivity.held_on.between(date(year, 1, 1), date(year, 12, 31)),
               OutreachActivity.region_code.in_(access.subtree_codes(region_code)))
        .group_by(OutreachActivity.region_code, OutreachActivity.setting))
    counts: dict[str, dict] = {c.code: {} for c in children}
    direct: dict = {}
    for code, setting, n in grouped:
        cell = direct if code == region_code else counts[child_of[code]]
        cell[SixIntoSetting(setting)] = cell.get(SixIntoSetting(setting), 0) + n
    rows = [CoverageRow(c, counts[c.code]) for c in children]
    if direct or not children:
        rows.insert(0, CoverageRow(target, direct, direct=True))
    return rows


# --- demonstration sites ------------------------------------------------------------------------

def site_to_dict(site: DemonstrationSite) -> dict:
    return {"id": site.id, "kind": site.kind.value, "name": site.name, "region_code": site.region_code,
            "org_id": site.org_id, "status": site.status.value, "year": site.year, "is_demo": site.is_demo,
            "version": site.version}


def _read_site(data: dict, partial: bool) -> tuple[Payload, dict]:
    p = Payload(data, partial=partial)
    values = {
        "kind": p.choice("kind", SiteKind, required=True),
        "name": p.string("name", required=True, max_length=200),
        "region_code": p.string("region_code", required=True, max_length=12),
        "org_id": p.integer("org_id", minimum=1),
        "status": p.choice("status", SiteStatus),
        "year": p.integer("year", required=True, minimum=EARLIEST_YEAR, maximum=date.today().year + 5),
    }
    if p.has("org_id") and data["org_id"] is None:
        values["org_id"] = None
    values = {k: v for k, v in values.items() if v is not MISSING}
    if values.get("region_code") and db.session.get(Region, values["region_code"]) is None:
        p.error("region_code", _("No such region: %(code)s.", code=values["region_code"]))
    if values.get("org_id") is not None:
        org = db.session.get(Organisation, values["org_id"])
        if org is None:
            p.error("org_id", _("No such organisation."))
    return p, values


def create_site(actor, data: dict, is_demo: bool = False) -> DemonstrationSite:
    p, values = _read_site(data, partial=False)
    p.check()
    _require_site_scope(actor, values["region_code"], values.get("org_id"))
    site = DemonstrationSite(**values, is_demo=is_demo)
    db.session.add(site)
    db.session.flush()
    audit.record(actor, "site.create", "demonstration_site", site.id, None, audit.snapshot(site, SITE_FIELDS))
    db.session.commit()
    return site


def update_site(actor, site: DemonstrationSite, data: dict) -> DemonstrationSite:
    _require_site_scope(actor, site.region_code, site.org_id)
    p, values = _read_site(data, partial=True)
    version = p.version()
    p.check()
    _require_site_scope(actor, values.get("region_code", site.region_code), values.get("org_id", site.org_id))
    claim_version(site, version, _("Someone else changed this site meanwhile. Reload it and apply your change again."))
    before = audit.snapshot(site, SITE_FIELDS)
    for field, value in values.items():
        setattr(site, field, value)
    audit.record(actor, "site.update", "demonstration_site", site.id, before, audit.snapshot(site, SITE_FIELDS))
    db.session.commit()
    return site


def _require_site_scope(actor, region_code: str, org_id: int | None) -> None:
    if actor is None:
        return
    allowed = access.can_manage_sites(actor, region_code)
    if allowed and org_id is not None:
        org = db.session.get(Organisation, org_id)
        assert org is not None  # checked by _read_site, or a foreign key
        allowed = access.can_manage_sites(actor, org.region_code)
    access.require(allowed, _("You cannot manage demonstration sites in this region."))


def get_visible_site(user, site_id: int) -> DemonstrationSite:
    site = db.session.get(DemonstrationSite, site_id)
    if site is None or not access.can_view_site(user, site):
        access.not_found(_("No such demonstration site."))
    return site


def manageable_sites(user, sites) -> dict[int, bool]:
    """can_manage_sites for each of `sites`, in one query rather than one per row."""
    codes = {site.region_code for site in sites}
    manageable = set(db.session.scalars(sa.select(Region.code).where(
        Region.code.in_(codes), access.manage_region_clause(user, Region.code)))) if codes else set()
    return {site.id: site.region_code in manageable for site in sites}


def site_query(user, kind: SiteKind | None = None, status: SiteStatus | None = None,
               region: str | None = None) -> sa.Select:
    query = sa.select(DemonstrationSite).where(access.site_clause(user))
    if kind:
        query = query.where(DemonstrationSite.kind == kind)
    if status:
        query = query.where(DemonstrationSite.status == status)
    if region:
        query = query.where(DemonstrationSite.region_code.in_(access.subtree_codes(region)))
    return query.order_by(DemonstrationSite.year.desc(), DemonstrationSite.region_code, DemonstrationSite.name)


def ensure_valid_region(code: str) -> Region:
    region = db.session.get(Region, code)
    if region is None:
        raise ValidationError(_("No such region: %(code)s.", code=code), {"region": [_("Unknown region.")]})
    return region
