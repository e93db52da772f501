"""Drills (演练): planning, rescheduling, cancelling, completing with participation, recurring series.

Every change claims the drill's `version` with a compare-and-set UPDATE (a stale version is a
Conflict), sets `updated_at` (calendar feeds use it as LAST-MODIFIED and cache by id+version)
and is written to the audit log in the same transaction.
"""
from dataclasses import dataclass, field as dataclass_field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import islice

import sqlalchemy as sa
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.compliance.labels import join_list
from drillmgr.db import claim_version, utcnow
from drillmgr.drills import recurrence, workdays
from drillmgr.drills.models import Drill, DrillSeries, Participation, ParticipationGroup, drill_participants
from drillmgr.enums import (KEY_LINKS, Condition, DrillForm, DrillScope, DrillStatus, FilingStatus, Focus,
                            JointWith, RegionLevel, Role)
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.audit.models import AuditEntry
from drillmgr.findings.models import Finding, Review
from drillmgr.formatting import duration
from drillmgr.localtime import api_datetime, local_zone
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.regions.services import all_regions
from drillmgr.validation import MISSING, Payload, confirm_exceptional

AUDITED_FIELDS = ("title", "description", "form", "scope", "double_blind", "joint_with", "focus", "magnitude",
                  "conditions", "organizer_org_id", "organizer_region_code", "region_code", "starts_at",
                  "ends_at", "location", "public", "status", "cancel_reason", "sequence", "version")
# Plain columns a payload may set directly; focus, participants and evaluators are handled apart.
COLUMN_FIELDS = ("title", "description", "form", "scope", "double_blind", "joint_with", "magnitude", "conditions",
                 "organizer_org_id", "organizer_region_code", "region_code", "starts_at", "ends_at", "location",
                 "public")
COUNT_FIELDS = Participation.COUNT_FIELDS
MAX_COUNT = 1_000_000
MAX_EVACUATION_SECONDS = 24 * 3600
# An evacuation time above this multiple of the unit's target is exceptional: kept only when confirmed.
EXCEPTIONAL_TARGET_FACTOR = 5
EARLIEST, LATEST = datetime(1990, 1, 1, tzinfo=timezone.utc), datetime(2100, 1, 1, tzinfo=timezone.utc)
SERIES_HORIZON_DAYS = 366
# Drills one request (or one series in one nightly run) creates at most; the nightly job makes the rest.
MAX_OCCURRENCES_PER_RUN = 100


# --- reading input ------------------------------------------------------------------------------

def _sub_payload(p: Payload, field: str, partial: bool) -> Payload | None:
    """A nested object (`scenario`, `participation`) read with its own Payload; errors go to `field.name`."""
    if not p.has(field) or p.data[field] is None:
        return None
    raw = p.data[field]
    if not isinstance(raw, dict):
        p.error(field, _("Must be an object."))
        return None
    return Payload(raw, partial=partial)


def _merge_errors(p: Payload, sub: Payload | None, prefix: str) -> None:
    if sub is not None:
        for name, messages in sub.errors.items():
            for message in messages:
                p.error(f"{prefix}.{name}", message)


def _read_drill(data: dict, partial: bool) -> tuple[Payload, dict]:
    p = Payload(data, partial=partial)
    values = {
        "title": p.string("title", required=True, max_length=200, plain=True),
        "description": p.string("description", max_length=5000, plain=True),
        "form": p.choice("form", DrillForm, required=True),
        "scope": p.choice("scope", DrillScope),
        "double_blind": p.boolean("double_blind"),
        "joint_with": p.choice("joint_with", JointWith),
        "focus": p.choices("focus", Focus),
        "organizer_org_id": p.integer("organizer_org_id", minimum=1),
        "organizer_region_code": p.string("organizer_region_code", max_length=12),
        "region_code": p.string("region_code", max_length=12),
        "participant_org_ids": p.id_list("participant_org_ids"),
        "evaluator_ids": p.id_list("evaluator_ids"),
        "starts_at": p.datetime("starts_at", required=True),
        "ends_at": p.datetime("ends_at", required=True),
        "location": p.string("location", max_length=300, plain=True),
        "public": p.boolean("public"),
        "version": p.integer("version", minimum=1),
    }
    scenario = _sub_payload(p, "scenario", partial=True)
    if scenario is not None:
        values["magnitude"] = scenario.decimal("magnitude", minimum=Decimal("0.0"), maximum=Decimal("9.9"))
        values["conditions"] = scenario.choices("conditions", Condition)
        if values["magnitude"] is not MISSING:
            values["magnitude"] = values["magnitude"].quantize(Decimal("0.1"))
        if values["conditions"] is not MISSING:
            values["conditions"] = [c.value for c in values["conditions"]]
    _merge_errors(p, scenario, "scenario")
    for field in ("starts_at", "ends_at"):
        moment = values[field]
        if moment is not MISSING and not EARLIEST <= moment < LATEST:
            p.error(field, _("Must be between 1990 and 2100."))
    return p, {k: v for k, v in values.items() if v is not MISSING}


@dataclass
class Bounds:
    """What a drill's participation is checked against: the headcounts recorded for the units involved
    (None when some unit has none recorded), the drill's own length and the organiser's evacuation target."""

    headcount: int | None
    duration_seconds: int | None
    target: int | None
    organizer: Organisation | None = None
    units: list = dataclass_field(default_factory=list)


def bounds_for(form, organizer: Organisation | None, participants, starts_at, ends_at) -> Bounds:
    units = {o.id: o for o in [organizer, *participants] if o is not None}
    headcount = sum(o.headcount for o in units.values()) \
        if units and all(o.headcount for o in units.values()) else None
    length = int((ends_at - starts_at).total_seconds()) \
        if isinstance(starts_at, datetime) and isinstance(ends_at, datetime) else None
    target = organizer.evacuation_target if form == DrillForm.EVACUATION and organizer is not None else None
    return Bounds(headcount, length, target, organizer, list(units.values()))


def _plausibility(part: Payload, values: dict, bounds: Bounds, counts_valid: bool) -> None:
    """Impossible numbers are refused; exceptional ones need the user's confirmation with a reason,
    which is kept in `values["exceptional_reason"]`."""
    exceptional = {}
    total = sum(values.get(name, 0) for name in COUNT_FIELDS)
    if counts_valid and bounds.headcount is not None and total > bounds.headcount:
        exceptional["counts"] = _(
            "%(n)s people took part, more than the %(h)s recorded as the headcount of the units involved "
            "(the organiser and the participating units).",
            n=format_decimal(total), h=format_decimal(bounds.headcount))
    seconds = values.get("evacuation_seconds")
    if seconds is not None and bounds.duration_seconds is not None and seconds > bounds.duration_seconds:
        part.error("evacuation_seconds", _(
            "The evacuation cannot have taken longer than the drill itself (%(d)s from its start to its end). "
            "Correct the time, or first the drill's end.", d=duration(bounds.duration_seconds)))
    elif seconds is not None and bounds.target and seconds > EXCEPTIONAL_TARGET_FACTOR * bounds.target:
        exceptional["evacuation_seconds"] = _(
            "An evacuation time of %(t)s is more than %(k)d times the unit's target of %(target)s.",
            t=duration(seconds), k=EXCEPTIONAL_TARGET_FACTOR, target=duration(bounds.target))
    values["exceptional_reason"] = confirm_exceptional(part, exceptional)


def _read_participation(p: Payload, bounds: Bounds) -> dict:
    """`participation: {counts: {...}, evacuation_seconds, confirm_exceptional, exceptional_reason}`
    from a completion payload, checked against the drill's `bounds`."""
    part = _sub_payload(p, "participation", partial=False)
    if part is None:
        if not p.has("participation") or p.data.get("participation") is None:
            p.error("participation", _("A completion needs the participation: who took part, by group."))
        return {}
    values = {}
    groups = _read_groups(part, bounds)
    counts = _sub_payload(part, "counts", partial=True)
    if counts is None and groups:
        counts = Payload({})
    if counts is None:
        if not part.errors:
            part.error("counts", _("A completion needs the participation: who took part, by group."))
    else:
        for name in COUNT_FIELDS:
            number = counts.integer(name, minimum=0, maximum=MAX_COUNT, default=0)
            values[name] = number if isinstance(number, int) and number >= 0 else 0
        if groups:
            _add_group_counts(counts, values, groups, bounds)
        unknown = sorted(set(counts.data) - set(COUNT_FIELDS))
        for name in unknown:
            counts.error(name, _("Unknown group; allowed: %(allowed)s.", allowed=", ".join(COUNT_FIELDS)))
        if not counts.errors and sum(values.values()) == 0:
            part.error("counts", _("A completion without participation is not possible: "
                                    "enter how many people took part in at least one group."))
    notes = part.string("notes", max_length=5000, plain=True)
    if notes is not MISSING:
        values["notes"] = notes
    seconds = part.integer("evacuation_seconds", minimum=1, maximum=MAX_EVACUATION_SECONDS)
    if seconds is not MISSING and "evacuation_seconds" not in part.errors:
        values["evacuation_seconds"] = seconds
    _plausibility(part, values, bounds, counts_valid=counts is not None and not counts.errors
                  and "counts" not in part.errors)
    if groups:
        values["groups"] = groups
    _merge_errors(part, counts, "counts")
    _merge_errors(p, part, "participation")
    return values


def _read_groups(part: Payload, bounds: Bounds) -> list[dict]:
    """`groups: [{group_id, present, missing}]`, the roll call by the units' groups (班级, 病区, ...)."""
    raw = part.data.get("groups")
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 500:
        part.error("groups", _("Must be a list of at most 500 groups."))
        return []
    known = {g.id: g for unit in bounds.units for g in unit.groups}
    groups, seen = [], set()
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            part.error(f"groups.{index}", _("Must be an object."))
            continue
        g = Payload(item)
        group_id = g.integer("group_id", required=True, minimum=1)
        present = g.integer("present", required=True, minimum=0, maximum=MAX_COUNT)
        missing = g.integer("missing", minimum=0, maximum=MAX_COUNT, default=0)
        if "group_id" not in g.errors and group_id is not MISSING:
            if group_id not in known:
                g.error("group_id", _("Not a group of the units taking part in this drill."))
            elif group_id in seen:
                g.error("group_id", _("This group is counted twice."))
            seen.add(group_id)
        for name, messages in g.errors.items():
            for message in messages:
                part.error(f"groups.{index}.{name}", message)
        if not g.errors:
            group = known[group_id]
            groups.append({"group": group, "present": present, "missing": missing})
    return groups


def _add_group_counts(counts: Payload, values: dict, groups: list[dict], bounds: Bounds) -> None:
    """The groups' present add up to their units' count (students for a school, patients for a hospital);
    a count sent besides must agree with them."""
    sums: dict[str, int] = {}
    for item in groups:
        name = item["group"].org.group_count_field
        sums[name] = sums.get(name, 0) + item["present"]
    for name, total in sums.items():
        if counts.has(name) and values.get(name) != total:
            counts.error(name, _("Must equal the sum of the groups' present, %(n)s.", n=format_decimal(total)))
        values[name] = total


def _orgs(ids: list[int]) -> list[Organisation]:
    return list(db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(ids)))) if ids else []


def _existing_ids(model, ids: list[int], clause) -> set[int]:
    if not ids:
        return set()
    return set(db.session.scalars(sa.select(model.id).where(model.id.in_(ids), clause)))


def _check_references(actor, p: Payload, values: dict, drill: Drill | None = None) -> None:
    """Regions, organisations and users named in the payload exist and are the actor's to name.
    Those already on `drill` may stay, even if someone with a wider scope put them there."""
    for field in ("region_code", "organizer_region_code"):
        code = values.get(field)
        if code and db.session.get(Region, code) is None:
            p.error(field, _("No such region: %(code)s.", code=code))
    org_id = values.get("organizer_org_id")
    if org_id is not None and db.session.get(Organisation, org_id) is None:
        p.error("organizer_org_id", _("No such organisation: %(id)s.", id=org_id))
    if "participant_org_ids" in values:
        clause = access.participant_candidate_clause(actor) if actor is not None else sa.true()
        found = _existing_ids(Organisation, values["participant_org_ids"], clause)
        found |= {o.id for o in drill.participants} if drill is not None else set()
        for missing in [i for i in values["participant_org_ids"] if i not in found]:
            p.error("participant_org_ids", _("No such organisation in your scope: %(id)s.", id=missing))
    if "evaluator_ids" in values:
        clause = access.evaluator_candidate_clause(actor) if actor is not None else User.active.is_(True)
        found = _existing_ids(User, values["evaluator_ids"], clause)
        found |= {u.id for u in drill.evaluators} if drill is not None else set()
        for missing in [i for i in values["evaluator_ids"] if i not in found]:
            p.error("evaluator_ids", _("No such user in your scope: %(id)s.", id=missing))


def _check_times(p: Payload, starts_at, ends_at, field="ends_at") -> None:
    if starts_at is not MISSING and ends_at is not MISSING and starts_at and ends_at and ends_at <= starts_at:
        p.error(field, _("The end must be after the start."))


def is_key_county_region(region_code: str | None) -> bool:
    """Whether the region is a key county (乌苏市, 沙湾市) or lies inside one."""
    if not region_code:
        return False
    region = db.session.get(Region, region_code)
    if region is None:
        return False
    codes = region.ancestor_codes
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Region).where(Region.code.in_(codes), Region.key_county.is_(True))
    ).scalar_one() > 0


def key_county_region_codes() -> set[str]:
    """Every region code inside a key county (the counties themselves included)."""
    paths = db.session.scalars(sa.select(Region.path).where(Region.key_county.is_(True))).all()
    if not paths:
        return set()
    return set(db.session.scalars(sa.select(Region.code).where(sa.or_(*(Region.path.startswith(p) for p in paths)))))


def org_ids_in_regions(org_ids: list[int], region_codes: set[str]) -> list[int]:
    if not org_ids or not region_codes:
        return []
    return list(db.session.scalars(sa.select(Organisation.id).where(
        Organisation.id.in_(org_ids), Organisation.region_code.in_(region_codes))))


def default_focus(form, scope, region_code) -> list[Focus]:
    """Item 13: a comprehensive live drill of a key county exercises the three key links."""
    if form == DrillForm.LIVE and scope == DrillScope.COMPREHENSIVE and is_key_county_region(region_code):
        return list(KEY_LINKS)
    return []


def planning_warnings(drill: Drill) -> list[str]:
    """What the planner should hear before the day: a planned comprehensive live drill of a key county
    that leaves out one of the three key links will not count towards the county's yearly obligation."""
    if (drill.status != DrillStatus.PLANNED or drill.form != DrillForm.LIVE or drill.scope != DrillScope.COMPREHENSIVE
            or not is_key_county_region(drill.region_code)):
        return []
    lacking = [link for link in KEY_LINKS if link not in drill.focus]
    if not lacking:
        return []
    return [_("This drill will not count as the key county's comprehensive live drill: it does not exercise "
              "%(links)s.", links=join_list(link.label for link in lacking))]


# --- output -------------------------------------------------------------------------------------

def participation_to_dict(participation: Participation | None, target: int | None = None) -> dict | None:
    if participation is None:
        return None
    return {
        "counts": {name: getattr(participation, name) for name in COUNT_FIELDS},
        "total": participation.total,
        "evacuation_seconds": participation.evacuation_seconds,
        "evacuation_target_seconds": target,
        "groups": [{"group_id": g.group_id, "name": g.name, "expected": g.expected, "present": g.present,
                    "missing": g.missing} for g in participation.groups],
        "exceptional_reason": participation.exceptional_reason or None,
        "notes": participation.notes or None,
        "recorded_at": api_datetime(participation.recorded_at),
    }


def evacuation_target(drill: Drill) -> int | None:
    """The organising unit's evacuation target (default 120 s for schools), for evacuation drills."""
    if drill.form != DrillForm.EVACUATION or drill.organizer_org is None:
        return None
    return drill.organizer_org.evacuation_target


def drill_to_dict(drill: Drill) -> dict:
    return {
        "id": drill.id,
        "title": drill.title,
        "description": drill.description,
        "form": drill.form.value,
        "scope": drill.scope.value,
        "double_blind": drill.double_blind,
        "joint_with": drill.joint_with.value,
        "focus": [f.value for f in drill.focus],
        "scenario": {"magnitude": float(drill.magnitude) if drill.magnitude is not None else None,
                     "conditions": list(drill.conditions or [])},
        "organizer_org_id": drill.organizer_org_id,
        "organizer_region_code": drill.organizer_region_code,
        "region_code": drill.region_code,
        "participant_org_ids": sorted(o.id for o in drill.participants),
        "evaluator_ids": sorted(u.id for u in drill.evaluators),
        "starts_at": api_datetime(drill.starts_at),
        "ends_at": api_datetime(drill.ends_at),
        "location": drill.location,
        "public": drill.public,
        "status": drill.status.value,
        "cancel_reason": drill.cancel_reason or None,
        "cancelled_at": api_datetime(drill.cancelled_at),
        "completed_at": api_datetime(drill.completed_at),
        "participation": participation_to_dict(drill.participation, evacuation_target(drill)),
        "series_id": drill.series_id,
        "occurrence_start": api_datetime(drill.occurrence_start),
        "sequence": drill.sequence,
        "version": drill.version,
        "is_demo": drill.is_demo,
        "created_at": api_datetime(drill.created_at),
        "updated_at": api_datetime(drill.updated_at),
    }


def drill_history(drill: Drill) -> list[tuple]:
    """The audit entries of the drill, its review and its findings, newest first, each with its user."""
    finding_ids = sa.select(sa.cast(Finding.id, sa.String)).where(Finding.drill_id == drill.id)
    entries = list(db.session.scalars(sa.select(AuditEntry).where(sa.or_(
        sa.and_(AuditEntry.entity_type.in_(("drill", "review")), AuditEntry.entity_id == str(drill.id)),
        sa.and_(AuditEntry.entity_type == "finding", AuditEntry.entity_id.in_(finding_ids))))
        .order_by(AuditEntry.at, AuditEntry.id)))
    ids = {e.user_id for e in entries if e.user_id}
    users: dict[int | None, User] = (
        {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {})
    return [(entry, users.get(entry.user_id)) for entry in reversed(entries)]


def drill_snapshot(drill: Drill) -> dict:
    data = audit.snapshot(drill, AUDITED_FIELDS)
    data["participant_org_ids"] = sorted(o.id for o in drill.participants)
    data["evaluator_ids"] = sorted(u.id for u in drill.evaluators)
    return data


# --- versions -----------------------------------------------------------------------------------

def _claim_version(drill: Drill, expected: int | None, now: datetime) -> None:
    """Raises the version by one if it still is `expected` (compare-and-set, so two saves cannot both win)."""
    expected = drill.version if expected is None else expected
    claim_version(drill, expected,
                  _("Someone else changed this drill meanwhile. Reload it and apply your change again."),
                  _("This drill has changed since you loaded it (your version is %(v)s).", v=expected), updated_at=now)
    drill.updated_at = now


def _require_editable(actor, drill: Drill) -> None:
    if actor is not None:
        access.require(access.can_edit_drill(actor, drill), _("You cannot change this drill."))


def is_filed(drill: Drill, lock: bool = False) -> bool:
    """Whether the drill's review is accepted (已备案). `lock` holds the review row (PostgreSQL) until the
    transaction ends, so that a change and an acceptance cannot pass each other."""
    query = sa.select(Review.filing_status).where(Review.drill_id == drill.id)
    status = db.session.scalar(query.with_for_update() if lock else query)
    return status == FilingStatus.ACCEPTED


def require_not_filed(drill: Drill) -> None:
    """Filed means fixed: the record of a drill whose review is accepted is read-only for everyone until a
    coordinator of its region reopens the filing."""
    if is_filed(drill, lock=True):
        raise Conflict(_("The after-action review of this drill is filed (accepted), so its record is read-only. "
                         "To change it, a coordinator of the region must first reopen the filing, with a reason."))


def _set_people(drill: Drill, values: dict) -> None:
    if "participant_org_ids" in values:
        ids = values["participant_org_ids"]
        drill.participants = list(db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(ids)))) \
            if ids else []
    if "evaluator_ids" in values:
        ids = values["evaluator_ids"]
        drill.evaluators = list(db.session.scalars(sa.select(User).where(User.id.in_(ids)))) if ids else []


# --- planning -----------------------------------------------------------------------------------

def _organizer_of(values: dict, drill: Drill | None = None) -> tuple[Organisation | None, str | None]:
    if "organizer_org_id" in values:
        return db.session.get(Organisation, values["organizer_org_id"]), None
    if values.get("organizer_region_code"):
        return None, values["organizer_region_code"]
    if drill is not None:
        return drill.organizer_org, drill.organizer_region_code
    return None, None


def _validate_new(actor, data: dict) -> tuple[Payload, dict]:
    p, values = _read_drill(data, partial=False)
    values.pop("version", None)
    values.setdefault("scope", DrillScope.SINGLE)
    has_org, has_region = "organizer_org_id" in values, bool(values.get("organizer_region_code"))
    if has_org == has_region:
        p.error("organizer_org_id", _("Choose exactly one organiser: an organisation or a region."))
    _check_references(actor, p, values)
    _check_times(p, values.get("starts_at", MISSING), values.get("ends_at", MISSING))
    if not p.errors and not values.get("region_code"):
        org, region = _organizer_of(values)
        values["region_code"] = org.region_code if org is not None else region
    if not p.errors and "focus" not in values:
        values["focus"] = default_focus(values["form"], values["scope"], values["region_code"])
    return p, values


def _check_may_organise(actor, values: dict, drill: Drill | None = None) -> None:
    if actor is None:
        return
    org, region = _organizer_of(values, drill)
    access.require(access.can_organise_for(actor, org, region), _("You cannot plan drills for this organiser."))
    region_code = values.get("region_code") or (drill.region_code if drill else None)
    if region_code and not access.can_view_region(actor, region_code) and not (
            org is not None and org.region_code == region_code):
        access.deny(_("You cannot plan drills in this region."))


def _new_drill(values: dict, actor, now: datetime) -> Drill:
    drill = Drill(**{k: values[k] for k in COLUMN_FIELDS if k in values},
                  status=DrillStatus.PLANNED, created_by_id=getattr(actor, "id", None), created_at=now,
                  updated_at=now, version=1, sequence=0)
    drill.focus = values.get("focus", [])
    _set_people(drill, values)
    return drill


def create_drill(actor, data: dict, now: datetime | None = None) -> Drill:
    """Plans a drill; with `participation` in `data` it is entered after the fact and completed at once."""
    now = now or utcnow()
    p, values = _validate_new(actor, data)
    completion = None
    if p.has("participation"):
        organizer = db.session.get(Organisation, values["organizer_org_id"]) \
            if isinstance(values.get("organizer_org_id"), int) else None
        participants = _orgs(values.get("participant_org_ids") or [])
        completion = _read_participation(p, bounds_for(values.get("form"), organizer, participants,
                                                       values.get("starts_at"), values.get("ends_at")))
        start = values.get("starts_at")
        if isinstance(start, datetime) and start > now:
            p.error("starts_at", _("Only a drill that has already started can be completed."))
    p.check()
    _check_may_organise(actor, values)
    drill = _new_drill(values, actor, now)
    db.session.add(drill)
    db.session.flush()
    audit.record(actor, "drill.create", "drill", drill.id, None, drill_snapshot(drill))
    if completion is not None:
        _apply_completion(actor, drill, completion, now)
    db.session.commit()
    return drill


def update_drill(actor, drill: Drill, data: dict, now: datetime | None = None) -> Drill:
    """Changes a drill; `version` is required. New times raise the calendar SEQUENCE."""
    now = now or utcnow()
    _require_editable(actor, drill)
    require_not_filed(drill)
    p, values = _read_drill(data, partial=True)
    if "version" not in values and "version" not in p.errors:
        p.error("version", _("Send the version of the drill your change is based on."))
    if p.has("participation"):  # never silently dropped
        p.error("participation", _("Participation is recorded by completing the drill, not by changing it."))
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled and can no longer be changed."))
    if "organizer_org_id" in values and values.get("organizer_region_code"):
        p.error("organizer_org_id", _("Choose exactly one organiser: an organisation or a region."))
    _check_references(actor, p, values, drill)
    starts_at, ends_at = values.get("starts_at", drill.starts_at), values.get("ends_at", drill.ends_at)
    _check_times(p, starts_at, ends_at, "ends_at" if "ends_at" in values else "starts_at")
    seconds = drill.participation.evacuation_seconds if drill.participation is not None else None
    if seconds and not p.errors and (ends_at - starts_at).total_seconds() < seconds:
        p.error("ends_at", _("The drill cannot end before its recorded evacuation (%(t)s) was over.",
                             t=duration(seconds)))
    p.check()
    if "organizer_org_id" in values or values.get("organizer_region_code") or "region_code" in values:
        _check_may_organise(actor, values, drill)
    _claim_version(drill, values["version"], now)
    before = drill_snapshot(drill)
    before["version"] = values["version"]
    _apply_values(drill, values)
    audit.record(actor, "drill.update", "drill", drill.id, before, drill_snapshot(drill))
    db.session.commit()
    return drill


def _apply_values(drill: Drill, values: dict) -> None:
    moved = any(k in values and values[k] != getattr(drill, k) for k in ("starts_at", "ends_at"))
    if "organizer_org_id" in values:
        drill.organizer_region_code = None
    if values.get("organizer_region_code"):
        drill.organizer_org_id = None
    for field in COLUMN_FIELDS:
        if field in values and not (field == "organizer_region_code" and not values[field]):
            setattr(drill, field, values[field])
    if "focus" in values:
        drill.focus = values["focus"]
    _set_people(drill, values)
    if moved:
        drill.sequence += 1


def reschedule_drill(actor, drill: Drill, starts_at: datetime, ends_at: datetime, version: int,
                     now: datetime | None = None) -> Drill:
    """Moves a drill: same id and calendar UID, a higher SEQUENCE."""
    return update_drill(actor, drill, {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                                       "version": version}, now)


def cancel_drill(actor, drill: Drill, data: dict, now: datetime | None = None) -> Drill:
    """`data`: `{reason, version?}`. A cancelled drill stays (feeds show it as CANCELLED)."""
    now = now or utcnow()
    _require_editable(actor, drill)
    p = Payload(data)
    reason = p.string("reason", required=True, max_length=1000, plain=True)
    version = p.integer("version", minimum=1, default=None)
    p.check()
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is already cancelled."))
    if drill.status == DrillStatus.COMPLETED:
        raise Conflict(_("A completed drill cannot be cancelled."))
    _claim_version(drill, version, now)
    _cancel_occurrence(actor, drill, reason, now)
    db.session.commit()
    return drill


def complete_drill(actor, drill: Drill, data: dict, now: datetime | None = None) -> Drill:
    """`data`: `{participation: {counts: {...}, evacuation_seconds?}, participant_org_ids?, version?}`.

    Completing again corrects the participation of a completed drill.
    """
    now = now or utcnow()
    _require_editable(actor, drill)
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("A cancelled drill cannot be completed."))
    require_not_filed(drill)
    p = Payload(data)
    version = p.integer("version", minimum=1, default=None)
    participants = p.id_list("participant_org_ids")
    if participants is not MISSING:
        _check_references(actor, p, {"participant_org_ids": participants}, drill)
    involved = _orgs(participants) if participants is not MISSING else drill.participants
    values = _read_participation(p, bounds_for(drill.form, drill.organizer_org, involved, drill.starts_at,
                                               drill.ends_at))
    if drill.starts_at > now:
        p.error("participation", _("Only a drill that has already started can be completed."))
    p.check()
    _claim_version(drill, version, now)
    if participants is not MISSING:
        values["participant_org_ids"] = participants
    _apply_completion(actor, drill, values, now)
    db.session.commit()
    return drill


def _apply_completion(actor, drill: Drill, values: dict, now: datetime) -> None:
    before = drill_snapshot(drill)
    before["participation"] = participation_to_dict(drill.participation)
    participation = drill.participation
    if participation is None:
        participation = Participation()
        drill.participation = participation
    for name in COUNT_FIELDS:
        setattr(participation, name, values.get(name, 0))
    participation.groups = [
        ParticipationGroup(position=position, group_id=item["group"].id, name=item["group"].name,
                           expected=item["group"].expected, present=item["present"], missing=item["missing"])
        for position, item in enumerate(values.get("groups", []))]
    participation.evacuation_seconds = values.get("evacuation_seconds")
    participation.exceptional_reason = values.get("exceptional_reason", "")
    participation.notes = values.get("notes", "")
    participation.recorded_by_id = getattr(actor, "id", None)
    participation.recorded_at = now
    if "participant_org_ids" in values:
        _set_people(drill, values)
    action = "drill.participation" if drill.status == DrillStatus.COMPLETED else "drill.complete"
    drill.status = DrillStatus.COMPLETED
    drill.completed_at = drill.completed_at or now
    drill.updated_at = now
    after = drill_snapshot(drill)
    after["participation"] = participation_to_dict(participation)
    audit.record(actor, action, "drill", drill.id, before, after)


# --- listing ------------------------------------------------------------------------------------

@dataclass
class DrillFilters:
    region: str | None = None
    org: int | None = None
    form: DrillForm | None = None
    status: DrillStatus | None = None
    date_from: date | None = None
    date_to: date | None = None


def read_filters(args) -> DrillFilters:
    """Filters from query arguments (`region, org, form, status, from, to`); bad ones are a ValidationError."""
    p = Payload({k: v for k, v in args.items() if v not in ("", None)}, partial=True)
    filters = DrillFilters(
        region=p.string("region", max_length=12, default=None),
        form=p.choice("form", DrillForm, default=None),
        status=p.choice("status", DrillStatus, default=None),
        date_from=p.date("from", default=None),
        date_to=p.date("to", default=None),
    )
    org = p.integer("org", minimum=1, default=None)
    filters.org = org if isinstance(org, int) else None
    if filters.date_from and filters.date_to and filters.date_to < filters.date_from:
        p.error("to", _("The end of the date range must not be before its start."))
    p.check()
    return filters


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=local_zone()).astimezone(timezone.utc)


def _filtered(query: sa.Select, actor, f: DrillFilters, now: datetime | None) -> sa.Select:
    query = query.where(access.drill_clause(actor, now or utcnow()))
    if f.region:
        subtree = access.subtree_codes(f.region)
        query = query.where(sa.or_(Drill.region_code.in_(subtree), Drill.organizer_region_code.in_(subtree)))
    if f.org:
        query = query.where(sa.or_(
            Drill.organizer_org_id == f.org,
            Drill.id.in_(sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == f.org))))
    if f.form:
        query = query.where(Drill.form == f.form)
    if f.status:
        query = query.where(Drill.status == f.status)
    if f.date_from:
        since = _local_midnight(f.date_from)
        # The same drills, said so that the index on starts_at is entered at the first drill that can
        # still be running then, not at the first drill ever. The min comes from ix_drills_ends_at
        # (ends_at, starts_at) alone; coalesce keeps the planner from walking starts_at's index for it.
        first_start = sa.select(sa.func.min(sa.func.coalesce(Drill.starts_at, Drill.starts_at))) \
            .where(Drill.ends_at >= since).scalar_subquery()
        query = query.where(Drill.ends_at >= since, Drill.starts_at >= first_start)
    if f.date_to:
        query = query.where(Drill.starts_at < _local_midnight(f.date_to + timedelta(days=1)))
    return query


def drill_query(actor, filters: DrillFilters | None = None, now: datetime | None = None,
                chronological: bool = False) -> sa.Select:
    """The drills `actor` may see (double-blind rule included), filtered, latest first (or earliest first)."""
    order = (Drill.starts_at, Drill.id) if chronological else (Drill.starts_at.desc(), Drill.id.desc())
    return _filtered(sa.select(Drill), actor, filters or DrillFilters(), now) \
        .options(selectinload(Drill.participation), selectinload(Drill.organizer_org),
                 selectinload(Drill.organizer_region), selectinload(Drill.region)) \
        .order_by(*order)


def month_grid(actor, year: int, month: int, filters: DrillFilters | None = None,
               now: datetime | None = None) -> list[list[tuple[date, list]]]:
    """Weeks (Monday first) of the month, each day with the visible drills starting on it (local time).

    Rows carry only what a calendar cell shows, so a prefecture-wide month of thousands stays light."""
    first = date(year, month, 1)
    grid_start = first - timedelta(days=first.weekday())
    following = date(year + (month == 12), month % 12 + 1, 1)
    grid_end = following + timedelta(days=(7 - following.weekday()) % 7)
    f = filters or DrillFilters()
    f.date_from, f.date_to = None, None
    # Aliased, so that the scope's region and organisation subqueries are never correlated with these joins.
    organizer_org, organizer_region = aliased(Organisation), aliased(Region)
    columns = sa.select(Drill.id, Drill.title, Drill.starts_at, Drill.status, Drill.form, Drill.double_blind,
                        sa.func.coalesce(organizer_org.name, organizer_region.name).label("organizer_name")) \
        .outerjoin(organizer_org, organizer_org.id == Drill.organizer_org_id) \
        .outerjoin(organizer_region, organizer_region.code == Drill.organizer_region_code)
    query = _filtered(columns, actor, f, now).where(
        Drill.starts_at >= _local_midnight(grid_start), Drill.starts_at < _local_midnight(grid_end)
    ).order_by(Drill.starts_at, Drill.id)
    by_day: dict[date, list] = {}
    zone = local_zone()
    for row in db.session.execute(query):
        by_day.setdefault(row.starts_at.astimezone(zone).date(), []).append(row)
    days = [grid_start + timedelta(days=n) for n in range((grid_end - grid_start).days)]
    return [[(d, by_day.get(d, [])) for d in days[i:i + 7]] for i in range(0, len(days), 7)]


def evacuation_trend(actor, org_id: int, limit: int = 12, now: datetime | None = None) -> list[Drill]:
    """The unit's latest completed evacuation drills with a measured time, oldest first."""
    query = (sa.select(Drill).join(Participation).where(
        access.drill_clause(actor, now or utcnow()),
        Drill.form == DrillForm.EVACUATION, Drill.status == DrillStatus.COMPLETED,
        Participation.evacuation_seconds.is_not(None),
        sa.or_(Drill.organizer_org_id == org_id, Drill.id.in_(
            sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == org_id))))
        .options(selectinload(Drill.participation)).order_by(Drill.starts_at.desc()).limit(limit))
    return list(reversed(db.session.scalars(query).all()))


OUTLIER_FACTOR = 3


def chart_top(values: list[int], target: int | None) -> float:
    """The top of the evacuation chart's axis: room for the target and the usual values. A value more than
    OUTLIER_FACTOR times the median (and above the target) is an outlier: drawn cut off at the top and
    marked, so that it does not flatten the others."""
    if not values:
        return float(target or 1) * 1.15
    ordered = sorted(values)
    cap = max(target or 0, OUTLIER_FACTOR * ordered[(len(ordered) - 1) // 2])
    return max([target or 0] + [v for v in values if v <= cap]) * 1.15


def trend_for(actor, drill: Drill, now: datetime | None = None) -> list[Drill]:
    if drill.form != DrillForm.EVACUATION or drill.organizer_org_id is None:
        return []
    return evacuation_trend(actor, drill.organizer_org_id, now=now)


def organiser_choices(actor) -> list[tuple[str, str]]:
    """`org:<id>` / `region:<code>` values for the organiser field, within what `actor` may organise for."""
    choices = []
    if actor.role in (Role.ADMIN, Role.COORDINATOR):
        regions = db.session.scalars(sa.select(Region).where(
            access.region_clause(actor, Region.code), Region.level != RegionLevel.VILLAGE).order_by(Region.path))
        choices += [(f"region:{r.code}", r.indented_name) for r in regions]
        orgs = db.session.scalars(sa.select(Organisation).where(access.org_clause(actor))
                                  .order_by(Organisation.region_code, Organisation.name))
        choices += [(f"org:{o.id}", o.name) for o in orgs]
    elif actor.role == Role.ORG_STAFF and actor.org is not None:
        choices.append((f"org:{actor.org.id}", actor.org.name))
    return choices


UNIT_FILTER_LIMIT = 1000


def visible_regions(actor) -> list[Region]:
    """The regions in the actor's scope, in tree order."""
    return all_regions(access.region_clause(actor, Region.code))


def unit_filter_choices(actor, region: str | None = None) -> list[tuple[int, str]]:
    """Units in the actor's scope (within `region` when given) to filter drills by."""
    query = sa.select(Organisation.id, Organisation.name).where(access.org_clause(actor))
    if region:
        query = query.where(Organisation.region_code.in_(access.subtree_codes(region)))
    return [tuple(row) for row in db.session.execute(
        query.order_by(Organisation.region_code, Organisation.name).limit(UNIT_FILTER_LIMIT))]


def participant_choices(actor) -> list[tuple[int, str]]:
    return [(o.id, o.name) for o in db.session.scalars(
        sa.select(Organisation).where(access.participant_candidate_clause(actor))
        .order_by(Organisation.region_code, Organisation.name))]


def participant_picker(actor) -> list[dict]:
    """Participant candidates with their kind and township (the township / street they lie in, if any), for
    the picker's search and "select all schools in this township"."""
    orgs = db.session.scalars(sa.select(Organisation).where(access.participant_candidate_clause(actor))
                              .options(selectinload(Organisation.region))
                              .order_by(Organisation.region_code, Organisation.name)).all()
    codes = {c for o in orgs for c in o.region.ancestor_codes} if orgs else set()
    townships = {r.code: r.name for r in db.session.scalars(sa.select(Region).where(
        Region.code.in_(codes), Region.level == RegionLevel.TOWNSHIP))} if codes else {}
    result = []
    for org in orgs:
        township = next((c for c in org.region.ancestor_codes if c in townships), "")
        result.append({"id": org.id, "name": org.name, "kind": org.kind.value, "kind_label": org.kind.label,
                       "township": township, "township_name": townships.get(township, "")})
    return result


def evaluator_choices(actor) -> list[tuple[int, str]]:
    return [(u.id, u.display_name or u.username) for u in db.session.scalars(
        sa.select(User).where(access.evaluator_candidate_clause(actor)).order_by(User.username))]


# --- recurring series ---------------------------------------------------------------------------

TEMPLATE_FIELDS = ("title", "description", "form", "scope", "double_blind", "joint_with", "focus", "magnitude",
                   "conditions", "organizer_org_id", "organizer_region_code", "region_code", "location", "public",
                   "participant_org_ids", "evaluator_ids")


def _normalise_rule_text(text: str) -> str:
    text = (text or "").strip()
    return text[len("RRULE:"):] if text.upper().startswith("RRULE:") else text


def _read_rule(p: Payload, field: str, dtstart) -> str | None:
    text = p.string(field, required=True, max_length=500)
    if text is MISSING or not text or not isinstance(dtstart, datetime):
        return None
    try:
        return recurrence.check(text, dtstart)
    except recurrence.RuleError as error:
        p.error(field, str(error))
        return None


def _template_from(values: dict) -> dict:
    template = {}
    for field in TEMPLATE_FIELDS:
        if field in values:
            value = values[field]
            if isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, list):
                value = [getattr(v, "value", v) for v in value]
            else:
                value = getattr(value, "value", value)
            template[field] = value
    return template


def _values_from_template(template: dict) -> dict:
    values = dict(template)
    for field, enum_class in (("form", DrillForm), ("scope", DrillScope), ("joint_with", JointWith)):
        if field in values:
            values[field] = enum_class(values[field])
    if values.get("magnitude") is not None:
        values["magnitude"] = Decimal(values["magnitude"])
    values["focus"] = [Focus(f) for f in values.get("focus", [])]
    return values


def create_series(actor, data: dict, now: datetime | None = None, horizon: datetime | None = None) -> DrillSeries:
    """`data`: a drill's fields (the first occurrence's start and end) plus `rrule`. Occurrences are
    materialised as real drills up to the horizon (a year ahead by default)."""
    now = now or utcnow()
    p, values = _validate_new(actor, data)
    rule_text = _read_rule(p, "rrule", values.get("starts_at", MISSING))
    p.check()
    _check_may_organise(actor, values)
    series = _add_series(actor, values, rule_text, now, horizon)
    db.session.commit()
    return series


def _add_series(actor, values: dict, rule_text: str, now: datetime, horizon: datetime | None = None) -> DrillSeries:
    """A checked series and its first occurrences, in the current transaction."""
    series = DrillSeries(rrule=rule_text, dtstart=values["starts_at"],
                         duration_minutes=max(1, int((values["ends_at"] - values["starts_at"]).total_seconds()
                                                     // 60)),
                         template=_template_from(values), created_by_id=getattr(actor, "id", None),
                         created_at=now, updated_at=now)
    db.session.add(series)
    db.session.flush()
    audit.record(actor, "series.create", "drill_series", series.id, None,
                 {"rrule": series.rrule, "dtstart": series.dtstart, "template": series.template})
    _materialize(series, horizon or default_horizon(values["starts_at"], now), now)
    return series


def default_horizon(starts_at: datetime, now: datetime) -> datetime:
    """Occurrences are made a year ahead: of today, or of the first drill when the series starts later."""
    return max(now, starts_at) + timedelta(days=SERIES_HORIZON_DAYS)


def _moment(moment: datetime | None) -> str | None:
    """A time as the API writes it: ISO 8601 with the configured zone's offset (+08:00)."""
    return moment.astimezone(local_zone()).isoformat() if moment else None


@dataclass
class Occurrence:
    starts_at: datetime
    ends_at: datetime

    @property
    def flags(self) -> list:
        return workdays.flags(self.starts_at)

    def to_dict(self) -> dict:
        return {"starts_at": _moment(self.starts_at), "ends_at": _moment(self.ends_at),
                "flags": [flag.to_dict() for flag in self.flags]}


@dataclass
class SeriesPreview:
    """What a series would make: `occurrences` are those created at once (up to the horizon, at most
    MAX_OCCURRENCES_PER_RUN); `total` is the rule's whole number when it ends (None: it never ends)."""

    rrule: str
    occurrences: list[Occurrence]
    total: int | None

    @property
    def flagged(self) -> int:
        return sum(1 for o in self.occurrences if o.flags)

    def to_dict(self) -> dict:
        return {"rrule": self.rrule, "created_now": len(self.occurrences), "total": self.total,
                "ends": self.total is not None, "flagged": self.flagged,
                "occurrences": [o.to_dict() for o in self.occurrences]}


def rule_total(rule_text: str, dtstart: datetime) -> int | None:
    """How many occurrences an ending rule has (COUNT, or up to UNTIL); None for a rule without end."""
    parts = _rule_parts(rule_text)
    if "COUNT" not in parts and "UNTIL" not in parts:
        return None
    return sum(1 for _moment in islice(recurrence.iterate(rule_text, dtstart, LATEST), recurrence.MAX_COUNT * 100))


def occurrences_for(rule_text: str, starts_at: datetime, ends_at: datetime, now: datetime,
                    horizon: datetime | None = None) -> list[Occurrence]:
    length = ends_at - starts_at
    until = horizon or default_horizon(starts_at, now)
    slots = islice(recurrence.iterate(rule_text, starts_at, until), MAX_OCCURRENCES_PER_RUN)
    return [Occurrence(slot, slot + length) for slot in slots]


def preview_series(actor, data: dict, now: datetime | None = None,
                   horizon: datetime | None = None) -> SeriesPreview:
    """What create_series(actor, data) would make, checked alike (access included), without making it."""
    now = now or utcnow()
    p, values = _validate_new(actor, data)
    rule_text = _read_rule(p, "rrule", values.get("starts_at", MISSING))
    p.check()
    _check_may_organise(actor, values)
    return SeriesPreview(rule_text, occurrences_for(rule_text, values["starts_at"], values["ends_at"], now, horizon),
                         rule_total(rule_text, values["starts_at"]))


def _slots(series: DrillSeries, until: datetime, after: datetime | None = None,
           limit: int = MAX_OCCURRENCES_PER_RUN) -> list[datetime]:
    """Occurrence starts in [after or DTSTART, until], the first `limit` of them. A rule stored before
    rules were checked, that would be refused now, makes no more drills."""
    try:
        return list(islice(recurrence.iterate(series.rrule, series.dtstart, until, start=after), limit))
    except recurrence.RuleError:
        return []


def _lock_series(series_id: int) -> None:
    """Serialises materialising one series: a row lock on PostgreSQL, the write lock on SQLite. The
    unique (series, occurrence start) would refuse a duplicate anyway; this makes the second run wait
    and then find the drills made, instead of failing."""
    db.session.execute(sa.update(DrillSeries).where(DrillSeries.id == series_id)
                       .values(materialized_until=DrillSeries.materialized_until, updated_at=DrillSeries.updated_at)
                       .execution_options(synchronize_session=False))


def _materialize(series: DrillSeries, until: datetime, now: datetime) -> list[Drill]:
    existing = set(db.session.scalars(sa.select(Drill.occurrence_start).where(Drill.series_id == series.id)))
    slots = _slots(series, until, after=series.materialized_until)
    reached = slots[-1] if len(slots) == MAX_OCCURRENCES_PER_RUN else until
    wanted = [s for s in slots if s not in existing]
    created = []
    if wanted:
        values = _values_from_template(series.template)
        orgs = list(db.session.scalars(sa.select(Organisation).where(
            Organisation.id.in_(values.get("participant_org_ids") or []))))
        users = list(db.session.scalars(sa.select(User).where(User.id.in_(values.get("evaluator_ids") or []))))
        duration = timedelta(minutes=series.duration_minutes)
        for slot in wanted:
            drill = Drill(**{k: values[k] for k in COLUMN_FIELDS if k in values and k not in ("starts_at", "ends_at")},
                          starts_at=slot, ends_at=slot + duration, occurrence_start=slot, series_id=series.id,
                          status=DrillStatus.PLANNED, created_by_id=series.created_by_id, created_at=now,
                          updated_at=now, version=1, sequence=0)
            drill.focus = values["focus"]
            drill.participants = list(orgs)
            drill.evaluators = list(users)
            db.session.add(drill)
            created.append(drill)
        db.session.flush()
        audit.record(None, "series.materialize", "drill_series", series.id, None,
                     {"created": [d.id for d in created], "until": until})
    if series.materialized_until is None or reached > series.materialized_until:
        series.materialized_until = reached
    return created


def materialize_series(series_id: int, until: datetime, now: datetime | None = None) -> list[Drill]:
    """Creates the series' missing occurrences up to `until`. Idempotent, also when two runs meet: an
    occurrence that exists — changed, moved or cancelled — is never made again."""
    db.session.commit()  # the lock below is taken first in a transaction of its own
    _lock_series(series_id)
    series = db.session.get(DrillSeries, series_id, populate_existing=True)
    if series is None:
        db.session.rollback()
        return []
    try:
        created = _materialize(series, until, now or utcnow())
        db.session.commit()
    except IntegrityError:  # another run made them meanwhile (a database that did not wait on the lock)
        db.session.rollback()
        return []
    return created


def materialize_all(until: datetime, now: datetime | None = None, keep_going=lambda: True) -> int:
    """Every series, up to `until` (the scheduler's nightly job), while `keep_going()`; returns how many
    drills were created."""
    ids = db.session.scalars(sa.select(DrillSeries.id).where(
        sa.or_(DrillSeries.materialized_until.is_(None), DrillSeries.materialized_until < until))).all()
    return sum(len(materialize_series(series_id, until, now)) for series_id in ids if keep_going())


def _rule_parts(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in _normalise_rule_text(text).split(";") if "=" in part)


def _rule_text(parts: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in parts.items())


def update_following(actor, drill: Drill, data: dict, now: datetime | None = None) -> DrillSeries:
    """Changes this occurrence and every later one ("this and following"): the old series ends just
    before it (UNTIL), a new series carries the change. Later occurrences keep their identity where
    the new rule still has their slot; the others are cancelled, and missing slots are created."""
    now = now or utcnow()
    _require_editable(actor, drill)
    if drill.series_id is None:
        raise ValidationError(_("This drill is not part of a recurring series."))
    require_not_filed(drill)
    old = drill.series
    assert old is not None  # series_id is set
    p, values = _read_drill(data, partial=True)
    if "version" not in values and "version" not in p.errors:
        p.error("version", _("Send the version of the drill your change is based on."))
    split_at = drill.occurrence_start or drill.starts_at
    if "starts_at" in values or "ends_at" in values:
        new_start = values.get("starts_at", drill.starts_at)
        new_end = values.get("ends_at", drill.ends_at + (new_start - drill.starts_at))
    else:
        new_start, new_end = split_at, split_at + timedelta(minutes=old.duration_minutes)
    _check_times(p, new_start, new_end, "ends_at" if "ends_at" in values else "starts_at")
    rule_text = _read_rule(p, "rrule", new_start) if p.has("rrule") else old.rrule
    _check_references(actor, p, values, drill)
    p.check()
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled and can no longer be changed."))
    if "organizer_org_id" in values or values.get("organizer_region_code") or "region_code" in values:
        _check_may_organise(actor, values, drill)
    _claim_version(drill, values["version"], now)

    old_parts = _rule_parts(old.rrule)
    assert rule_text is not None  # _read_rule gives None only with an error, and p.check() raised it
    new_parts = _rule_parts(rule_text)
    if not p.has("rrule") and "COUNT" in old_parts:
        done = len(_slots(old, split_at - timedelta(seconds=1), limit=recurrence.MAX_COUNT + 1))
        new_parts["COUNT"] = str(max(int(old_parts["COUNT"]) - done, 1))
    old_parts.pop("COUNT", None)
    old_parts["UNTIL"] = (split_at - timedelta(seconds=1)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    before = {"rrule": old.rrule, "template": old.template}
    old.rrule = _rule_text(old_parts)
    old.updated_at = now

    template = dict(old.template) | _template_from(values)
    if "organizer_org_id" in values:
        template["organizer_region_code"] = None
    if values.get("organizer_region_code"):
        template["organizer_org_id"] = None
    new = DrillSeries(rrule=_rule_text(new_parts), dtstart=new_start,
                      duration_minutes=max(1, int((new_end - new_start).total_seconds() // 60)),
                      template=template, created_by_id=getattr(actor, "id", None), created_at=now,
                      updated_at=now)
    db.session.add(new)
    db.session.flush()
    audit.record(actor, "series.split", "drill_series", old.id, before,
                 {"rrule": old.rrule, "new_series_id": new.id})
    audit.record(actor, "series.create", "drill_series", new.id, None,
                 {"rrule": new.rrule, "dtstart": new.dtstart, "template": new.template})

    horizon = max(old.materialized_until or now, new_start)
    later = db.session.scalars(sa.select(Drill).where(
        Drill.series_id == old.id, Drill.occurrence_start >= split_at).order_by(Drill.occurrence_start)).all()
    new_slots = set(_slots(new, horizon, limit=len(later) + MAX_OCCURRENCES_PER_RUN))
    shift = new_start - split_at
    timing_changed = "starts_at" in values or "ends_at" in values or p.has("rrule")
    duration = new_end - new_start
    field_values = {k: v for k, v in values.items() if k not in ("starts_at", "ends_at", "version")}
    for occurrence in later:
        slot = occurrence.occurrence_start + shift
        if slot not in new_slots:
            if occurrence.status == DrillStatus.PLANNED:
                if occurrence.id != drill.id:
                    _claim_version(occurrence, None, now)
                _cancel_occurrence(actor, occurrence, _("No longer part of the recurring series."), now)
            continue
        new_slots.discard(slot)
        if occurrence.id != drill.id:
            _claim_version(occurrence, None, now)
        occurrence_before = drill_snapshot(occurrence)
        occurrence.series_id = new.id
        occurrence.occurrence_start = slot
        if occurrence.status == DrillStatus.PLANNED:
            change = dict(field_values)
            if timing_changed:
                change |= {"starts_at": slot, "ends_at": slot + duration}
            _apply_values(occurrence, change)
        audit.record(actor, "drill.update", "drill", occurrence.id, occurrence_before, drill_snapshot(occurrence))
    _materialize(new, horizon, now)
    db.session.commit()
    return new


def _end_series_at(actor, series: DrillSeries, last: datetime, now: datetime) -> None:
    """The series makes nothing after `last` (its UNTIL, COUNT dropped); the nightly job stops there."""
    parts = _rule_parts(series.rrule)
    before = {"rrule": series.rrule}
    parts.pop("COUNT", None)
    parts["UNTIL"] = last.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    series.rrule = _rule_text(parts)
    series.updated_at = now
    audit.record(actor, "series.end", "drill_series", series.id, before, {"rrule": series.rrule})


def following_occurrences(drill: Drill, include_this: bool) -> list[Drill]:
    """The planned occurrences of the drill's series from this one on (or after it)."""
    if drill.series_id is None:
        return []
    start = drill.occurrence_start or drill.starts_at
    later = Drill.occurrence_start >= start if include_this else Drill.occurrence_start > start
    return list(db.session.scalars(sa.select(Drill).where(
        Drill.series_id == drill.series_id, later, Drill.status == DrillStatus.PLANNED)
        .order_by(Drill.occurrence_start, Drill.id)))


def end_series(actor, drill: Drill, data: dict, include_this: bool, now: datetime | None = None) -> list[Drill]:
    """One step for a series: "cancel this and all following" (`include_this`) or "end the series here"
    (this occurrence is the last one; the later ones are cancelled). `data`: `{version, reason}`; the
    version is this drill's, required, and every cancelled occurrence is claimed too, so the step happens
    whole or not at all. Returns the cancelled drills."""
    now = now or utcnow()
    _require_editable(actor, drill)
    if drill.series_id is None:
        raise ValidationError(_("This drill is not part of a recurring series."))
    p = Payload(data)
    version = p.integer("version", required=True, minimum=1)
    reason = p.string("reason", required=include_this, max_length=1000, plain=True)
    p.check()
    if include_this and drill.status != DrillStatus.PLANNED:
        raise Conflict(_("Only a planned drill can be cancelled; end the series here instead."))
    if not include_this and drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled; end the series at a drill that takes place."))
    _claim_version(drill, version, now)
    reason = reason if reason and reason is not MISSING else _("The recurring series was ended.")
    cancelled = []
    for occurrence in following_occurrences(drill, include_this):
        if occurrence.id != drill.id:
            if actor is not None and not access.can_edit_drill(actor, occurrence):
                continue
            _claim_version(occurrence, None, now)
        _cancel_occurrence(actor, occurrence, reason, now)
        cancelled.append(occurrence)
    start = drill.occurrence_start or drill.starts_at
    _end_series_at(actor, drill.series, start - timedelta(seconds=1) if include_this else start, now)
    db.session.commit()
    return cancelled


def _cancel_occurrence(actor, drill: Drill, reason: str, now: datetime) -> None:
    before = drill_snapshot(drill)
    drill.status = DrillStatus.CANCELLED
    drill.cancel_reason = reason
    drill.cancelled_at = now
    drill.sequence += 1
    audit.record(actor, "drill.cancel", "drill", drill.id, before, drill_snapshot(drill))


def series_occurrences(actor, series_id: int, now: datetime | None = None) -> list[Drill]:
    return list(db.session.scalars(sa.select(Drill).where(
        Drill.series_id == series_id, access.drill_clause(actor, now or utcnow())).order_by(Drill.starts_at)))


def describe_rule(text: str) -> str:
    """A short human reading of the common rules; the raw RRULE otherwise."""
    parts = _rule_parts(text)
    interval = int(parts.get("INTERVAL", "1") or 1)
    names = {"DAILY": _("Every day"), "WEEKLY": _("Every week"), "MONTHLY": _("Every month"),
             "YEARLY": _("Every year")}
    base = names.get(parts.get("FREQ", ""), text)
    if interval > 1:
        base = {"DAILY": _("Every %(n)d days", n=interval), "WEEKLY": _("Every %(n)d weeks", n=interval),
                "MONTHLY": _("Every %(n)d months", n=interval),
                "YEARLY": _("Every %(n)d years", n=interval)}.get(parts.get("FREQ", ""), base)
    return f"{base} ({_normalise_rule_text(text)})"
