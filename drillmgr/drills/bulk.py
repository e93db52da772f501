"""Planning for many units at once: every unit of chosen kinds in a region (every school of 乌苏市), either as
one joint drill organised by the region with those units as participants, or as one drill — or one recurring
series — per unit.

A plan is read and checked whole (access, the drill's fields, the rule, the caps) before anything is made, and
made in one unit of work: all of it or nothing. The batch is recorded in the audit log under a key of its own
(entity `drill_batch`), from which the summary page and the API answer are built.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.audit import services as audit
from drillmgr.audit.models import AuditEntry
from drillmgr.db import utcnow
from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.drills.drill_input import Values, check_may_organise, validate_new
from drillmgr.drills.key_links import default_focus
from drillmgr.drills.lifecycle import add_drill
from drillmgr.drills.models import Drill
from drillmgr.drills.rules import Occurrence, occurrences_for, read_rule, rule_total
from drillmgr.drills.schemas import DrillBatchInputSchema, DrillSchema, DrillSeriesInputSchema
from drillmgr.drills.series import add_series
from drillmgr.enums import OrgKind, RegionLevel
from drillmgr.errors import NotFound
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

JOINT, PER_UNIT = "joint", "per_unit"
MODES = (JOINT, PER_UNIT)
# A county has about a hundred schools; a plan of more units than this is a mistake or an attack.
MAX_UNITS = 300
# Drills one plan makes at once (a series' later occurrences come from the nightly job).
MAX_DRILLS = 1500
# Fields of the plan itself; the rest are the drill's.
SCOPE_FIELDS = ("mode", "region_code", "kinds", "org_ids")
PLAN_FIELDS = (*SCOPE_FIELDS, "rrule")
# Set by the plan, never taken from the request.
IGNORED_FIELDS = ("organizer_org_id", "organizer_region_code", "participant_org_ids", "participation")
_KEY_LENGTH = 32


@dataclass
class BulkPlan:
    mode: str
    region: Region
    kinds: list[OrgKind]
    units: list[Organisation]
    rrule: str | None
    occurrences: list[Occurrence]
    total_per_series: int | None
    values: Values = field(default_factory=dict, repr=False)
    focus_given: bool = False

    @property
    def drill_count(self) -> int:
        per_plan = len(self.occurrences)
        return per_plan * len(self.units) if self.mode == PER_UNIT else per_plan

    @property
    def series_count(self) -> int:
        if not self.rrule:
            return 0
        return len(self.units) if self.mode == PER_UNIT else 1


def may_plan_for_many(actor: User) -> bool:
    return access.can_plan_for_many(actor)


def region_choices(actor: User) -> list[Region]:
    """The regions (not villages) `actor` may plan for, in tree order."""
    if not may_plan_for_many(actor):
        return []
    return list(
        db.session.scalars(
            sa.select(Region)
            .where(access.manage_region_clause(actor, Region.code), Region.level != RegionLevel.VILLAGE)
            .order_by(Region.path)
        )
    )


@dataclass
class _Scope:
    """Whom a plan is for, as read: the mode, the region, the kinds of unit and, optionally, the units chosen."""

    mode: str
    region: Region
    kinds: list[OrgKind]
    org_ids: list[int] | None


def _read_scope(actor: User, p: Reading) -> _Scope:
    mode, region_code = p.values.get("mode"), p.values.get("region_code")
    if isinstance(mode, str) and mode and mode not in MODES:
        p.error("mode", _("Unknown value %(value)s; allowed: %(allowed)s.", value=repr(mode), allowed=", ".join(MODES)))
    kinds = p.values.get("kinds")
    if kinds is not None and not kinds and "kinds" not in p.errors:
        p.error("kinds", _("Choose at least one kind of unit."))
    region = db.session.get(Region, region_code) if isinstance(region_code, str) and region_code else None
    if region_code and isinstance(region_code, str) and "region_code" not in p.errors and region is None:
        p.error("region_code", _("No such region: %(code)s.", code=region_code))
    p.check()
    assert region is not None  # region_code is required, and p.check() raised its error
    if not access.can_manage_region(actor, region.code):
        access.deny(_("You cannot plan drills in this region."))
    return _Scope(p.values["mode"], region, p.values["kinds"], p.values.get("org_ids"))


def _read_units(actor: User, p: Reading, scope: _Scope) -> list[Organisation]:
    query = sa.select(Organisation).where(
        Organisation.region_code.in_(access.subtree_codes(scope.region.code)),
        Organisation.kind.in_(scope.kinds),
        access.org_clause(actor),
    )
    if scope.org_ids is not None:
        query = query.where(Organisation.id.in_(scope.org_ids)) if scope.org_ids else query.where(sa.false())
    count = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    if count > MAX_UNITS:
        p.error(
            "org_ids" if scope.org_ids is not None else "kinds",
            _(
                "%(n)d units match; at most %(max)d can be planned for at once. Choose a smaller region or fewer "
                "kinds.",
                n=count,
                max=MAX_UNITS,
            ),
        )
        p.check()
    units = list(db.session.scalars(query.order_by(Organisation.region_code, Organisation.name, Organisation.id)))
    for missing in sorted(set(scope.org_ids or ()) - {o.id for o in units}):
        p.error("org_ids", _("Unit %(id)s is not one of the chosen kinds in this region.", id=missing))
    if not units and "org_ids" not in p.errors:
        p.error("kinds", _("No unit of these kinds in this region."))
    p.check()
    return units


def read_plan(actor: User, data: Values, now: datetime | None = None) -> BulkPlan:
    """The plan as it would be made; refuses (403, 422) what could not be made. Changes nothing."""
    now = now or utcnow()
    access.require(may_plan_for_many(actor), _("Only coordinators and administrators plan for many units at once."))
    p = DrillBatchInputSchema(only=SCOPE_FIELDS).read(data)
    scope = _read_scope(actor, p)
    units = _read_units(actor, p, scope)
    values, rule = _read_drill_values(actor, data, scope, units)
    if rule:
        occurrences = occurrences_for(rule, values["starts_at"], values["ends_at"], now)
        total = rule_total(rule, values["starts_at"])
    else:
        occurrences, total = [Occurrence(values["starts_at"], values["ends_at"])], None
    plan = BulkPlan(
        scope.mode,
        scope.region,
        scope.kinds,
        units,
        rule,
        occurrences,
        total,
        values,
        focus_given=data.get("focus") is not None,
    )
    _check_caps(p, plan)
    _check_may_organise(actor, plan)
    return plan


def _read_drill_values(
    actor: User, data: Values, scope: _Scope, units: list[Organisation]
) -> tuple[Values, str | None]:
    """The drill's fields (organised by the region) and the rule, if any."""
    drill_data = {k: v for k, v in data.items() if k not in PLAN_FIELDS + IGNORED_FIELDS}
    drill_data |= {"organizer_region_code": scope.region.code, "region_code": scope.region.code}
    if scope.mode == JOINT:
        drill_data["participant_org_ids"] = [o.id for o in units]
    rule_given = data.get("rrule") not in (None, "")
    if rule_given:
        drill_data["rrule"] = data["rrule"]
    dp, values = validate_new(actor, drill_data, DrillSeriesInputSchema if rule_given else DrillSchema)
    rule = read_rule(dp, "rrule", values.get("starts_at")) if rule_given else None
    dp.check()
    return values, rule


def _check_caps(p: Reading, plan: BulkPlan) -> None:
    if not plan.occurrences:
        p.error("rrule", _("This rule makes no drill within the coming year."))
    elif plan.drill_count > MAX_DRILLS:
        p.error(
            "rrule" if plan.rrule else "kinds",
            _(
                "This plan would make %(n)d drills at once; at most %(max)d. Plan for fewer units or a shorter series.",
                n=plan.drill_count,
                max=MAX_DRILLS,
            ),
        )
    p.check()


def _check_may_organise(actor: User, plan: BulkPlan) -> None:
    if plan.mode == JOINT:
        check_may_organise(actor, plan.values)
        return
    for unit in plan.units:
        access.require(
            access.can_organise_for(actor, unit, None), _("You cannot plan drills for %(unit)s.", unit=unit.name)
        )


def _unit_values(plan: BulkPlan, unit: Organisation) -> Values:
    values = dict(plan.values)
    values.pop("organizer_region_code", None)
    values.pop("participant_org_ids", None)
    values |= {"organizer_org_id": unit.id, "region_code": unit.region_code}
    if not plan.focus_given:
        values["focus"] = default_focus(values["form"], values["scope"], unit.region_code)
    return values


def make_plan(actor: User, data: Values, now: datetime | None = None) -> tuple[str, BulkPlan]:
    """Makes the plan (all of it, or nothing) and returns the batch's key and the plan."""
    now = now or utcnow()
    plan = read_plan(actor, data, now)
    key = uuid.uuid4().hex
    drill_ids: list[int] = []
    series_ids: list[int] = []
    targets = [plan.values] if plan.mode == JOINT else [_unit_values(plan, unit) for unit in plan.units]
    for values in targets:
        if plan.rrule:
            series = add_series(actor, values, plan.rrule, now)
            series_ids.append(series.id)
            drill_ids += db.session.scalars(
                sa.select(Drill.id).where(Drill.series_id == series.id).order_by(Drill.starts_at)
            ).all()
        else:
            drill_ids.append(add_drill(actor, values, now).id)
    audit.record(
        actor,
        "drill.bulk_plan",
        "drill_batch",
        key,
        None,
        {
            "mode": plan.mode,
            "region_code": plan.region.code,
            "kinds": [k.value for k in plan.kinds],
            "unit_ids": [o.id for o in plan.units],
            "rrule": plan.rrule,
            "title": plan.values.get("title"),
            "starts_at": plan.values["starts_at"],
            "drill_ids": drill_ids,
            "series_ids": series_ids,
        },
    )
    return key, plan


@dataclass
class BatchSummary:
    key: str
    at: datetime
    mode: str
    region: Region | None
    title: str
    rrule: str | None
    units: list[Organisation]
    drills: list[Drill]
    series_ids: list[int]

    def drills_of(self, unit: Organisation) -> list[Drill]:
        if self.mode == JOINT:
            return self.drills
        return [d for d in self.drills if d.organizer_org_id == unit.id]


def batch_summary(actor: User, key: str, now: datetime | None = None) -> BatchSummary:
    """What a batch made, as far as `actor` may see it: for its author, admins and the region's coordinators."""
    if not isinstance(key, str) or len(key) != _KEY_LENGTH or not all(c in "0123456789abcdef" for c in key):
        raise NotFound(_("No such plan."))
    entry = db.session.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "drill_batch", AuditEntry.entity_id == key, AuditEntry.action == "drill.bulk_plan"
        )
    )
    if entry is None or not (
        entry.user_id == actor.id or access.can_manage_region(actor, (entry.after or {}).get("region_code") or "")
    ):
        raise NotFound(_("No such plan."))
    data = entry.after or {}
    ids = [i for i in data.get("drill_ids", []) if isinstance(i, int)]
    drills = (
        list(
            db.session.scalars(
                sa.select(Drill)
                .where(Drill.id.in_(ids), access.drill_clause(actor, now or utcnow()))
                .order_by(Drill.starts_at, Drill.id)
            )
        )
        if ids
        else []
    )
    unit_ids = [i for i in data.get("unit_ids", []) if isinstance(i, int)]
    units = (
        list(
            db.session.scalars(
                sa.select(Organisation)
                .where(Organisation.id.in_(unit_ids))
                .order_by(Organisation.region_code, Organisation.name)
            )
        )
        if unit_ids
        else []
    )
    return BatchSummary(
        key,
        entry.at,
        data.get("mode", ""),
        db.session.get(Region, data.get("region_code") or ""),
        data.get("title") or "",
        data.get("rrule"),
        units,
        drills,
        data.get("series_ids", []),
    )
