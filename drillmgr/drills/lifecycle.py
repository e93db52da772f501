"""A drill's life: planned, changed or moved, completed with its participation, or cancelled.

Every change claims the drill's `version` with a compare-and-set UPDATE (a stale version is a Conflict), sets
`updated_at` (calendar feeds use it as LAST-MODIFIED and cache by id+version) and is written to the audit log in
the same unit of work. Nothing here commits: the request, job or command does.
"""

from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.drill_input import (
    COLUMN_FIELDS,
    Values,
    check_may_organise,
    check_may_reorganise,
    check_references,
    check_times,
    orgs_by_ids,
    read_change,
    validate_new,
)
from drillmgr.drills.guards import claim_drill_version, require_editable, require_not_cancelled, require_not_filed
from drillmgr.drills.models import Drill, Participation
from drillmgr.drills.participation import bounds_for, read_participation, record_participation
from drillmgr.drills.schemas import DrillCancellationSchema, DrillCompletionSchema
from drillmgr.drills.serialise import drill_snapshot, participation_snapshot
from drillmgr.enums import DrillStatus
from drillmgr.errors import Conflict
from drillmgr.extensions import db
from drillmgr.formatting import duration
from drillmgr.orgs.models import Organisation


def set_people(drill: Drill, values: Values) -> None:
    if "participant_org_ids" in values:
        drill.participants = orgs_by_ids(values["participant_org_ids"])
    if "evaluator_ids" in values:
        ids = values["evaluator_ids"]
        drill.evaluators = list(db.session.scalars(sa.select(User).where(User.id.in_(ids)))) if ids else []


def new_drill(values: Values, actor: User, now: datetime) -> Drill:
    """A planned drill of checked `values`, not yet added to the session."""
    drill = Drill(
        **{k: values[k] for k in COLUMN_FIELDS if k in values},
        status=DrillStatus.PLANNED,
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
        version=1,
        sequence=0,
    )
    drill.focus = values.get("focus", [])
    set_people(drill, values)
    return drill


def add_drill(actor: User, values: Values, now: datetime) -> Drill:
    drill = new_drill(values, actor, now)
    db.session.add(drill)
    db.session.flush()
    audit.record(actor, "drill.create", "drill", drill.id, None, drill_snapshot(drill))
    return drill


def create_drill(actor: User, data: Values, now: datetime | None = None) -> Drill:
    """Plans a drill; with `participation` in `data` it is entered after the fact and completed at once."""
    now = now or utcnow()
    p, values = validate_new(actor, data)
    completion = _read_completion_of_new(p, data, values, now) if "participation" in data else None
    p.check()
    check_may_organise(actor, values)
    drill = add_drill(actor, values, now)
    if completion is not None:
        apply_completion(actor, drill, completion, now)
    return drill


def _read_completion_of_new(p: Reading, data: Values, values: Values, now: datetime) -> Values:
    """The participation of a drill entered after the fact (its errors join the drill's)."""
    organizer = (
        db.session.get(Organisation, values["organizer_org_id"])
        if isinstance(values.get("organizer_org_id"), int)
        else None
    )
    participants = orgs_by_ids(values.get("participant_org_ids") or [])
    part = DrillCompletionSchema(only=("participation",)).read(data)
    completion = read_participation(
        part,
        data,
        bounds_for(values.get("form"), organizer, participants, values.get("starts_at"), values.get("ends_at")),
    )
    for name, messages in part.errors.items():
        for message in messages:
            p.error(name, message)
    start = values.get("starts_at")
    if isinstance(start, datetime) and start > now:
        p.error("starts_at", _("Only a drill that has already started can be completed."))
    return completion


def update_drill(actor: User, drill: Drill, data: Values, now: datetime | None = None) -> Drill:
    """Changes a drill; `version` is required. New times raise the calendar SEQUENCE."""
    now = now or utcnow()
    require_editable(actor, drill)
    require_not_filed(drill)
    values = _read_update(actor, drill, data)
    check_may_reorganise(actor, values, drill)
    claim_drill_version(drill, values["version"], now)
    before = drill_snapshot(drill)
    before["version"] = values["version"]
    apply_values(drill, values)
    audit.record(actor, "drill.update", "drill", drill.id, before, drill_snapshot(drill))
    return drill


def _read_update(actor: User, drill: Drill, data: Values) -> Values:
    p, values = read_change(data)
    if "participation" in data:  # never silently dropped
        p.error("participation", _("Participation is recorded by completing the drill, not by changing it."))
    require_not_cancelled(drill)
    if "organizer_org_id" in values and values.get("organizer_region_code"):
        p.error("organizer_org_id", _("Choose exactly one organiser: an organisation or a region."))
    check_references(actor, p, values, drill)
    starts_at, ends_at = values.get("starts_at", drill.starts_at), values.get("ends_at", drill.ends_at)
    check_times(p, starts_at, ends_at, "ends_at" if "ends_at" in values else "starts_at")
    seconds = drill.participation.evacuation_seconds if drill.participation is not None else None
    if seconds and not p.errors and (ends_at - starts_at).total_seconds() < seconds:
        p.error(
            "ends_at", _("The drill cannot end before its recorded evacuation (%(t)s) was over.", t=duration(seconds))
        )
    p.check()
    return values


def apply_values(drill: Drill, values: Values) -> None:
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
    set_people(drill, values)
    if moved:
        drill.sequence += 1


def reschedule_drill(
    actor: User, drill: Drill, starts_at: datetime, ends_at: datetime, version: int, now: datetime | None = None
) -> Drill:
    """Moves a drill: same id and calendar UID, a higher SEQUENCE."""
    return update_drill(
        actor, drill, {"starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(), "version": version}, now
    )


def cancel_drill(actor: User, drill: Drill, data: Values, now: datetime | None = None) -> Drill:
    """`data`: `{reason, version?}`. A cancelled drill stays (feeds show it as CANCELLED)."""
    now = now or utcnow()
    require_editable(actor, drill)
    cancellation = DrillCancellationSchema().load(data)
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is already cancelled."))
    if drill.status == DrillStatus.COMPLETED:
        raise Conflict(_("A completed drill cannot be cancelled."))
    claim_drill_version(drill, cancellation.get("version"), now)
    cancel_occurrence(actor, drill, cancellation["reason"], now)
    return drill


def complete_drill(actor: User, drill: Drill, data: Values, now: datetime | None = None) -> Drill:
    """`data`: `{participation: {counts: {...}, evacuation_seconds?}, participant_org_ids?, version?}`.

    Completing again corrects the participation of a completed drill.
    """
    now = now or utcnow()
    require_editable(actor, drill)
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("A cancelled drill cannot be completed."))
    require_not_filed(drill)
    p = DrillCompletionSchema().read(data)
    participants = p.values.get("participant_org_ids")
    if participants is not None:
        check_references(actor, p, {"participant_org_ids": participants}, drill)
    involved = orgs_by_ids(participants) if participants is not None else drill.participants
    values = read_participation(
        p, data, bounds_for(drill.form, drill.organizer_org, involved, drill.starts_at, drill.ends_at)
    )
    if drill.starts_at > now:
        p.error("participation", _("Only a drill that has already started can be completed."))
    p.check()
    claim_drill_version(drill, p.values.get("version"), now)
    if participants is not None:
        values["participant_org_ids"] = participants
    apply_completion(actor, drill, values, now)
    return drill


def apply_completion(actor: User, drill: Drill, values: Values, now: datetime) -> None:
    before = drill_snapshot(drill)
    before["participation"] = participation_snapshot(drill.participation)
    if drill.participation is None:
        drill.participation = Participation()
    record_participation(drill.participation, values, actor, now)
    if "participant_org_ids" in values:
        set_people(drill, values)
    action = "drill.participation" if drill.status == DrillStatus.COMPLETED else "drill.complete"
    drill.status = DrillStatus.COMPLETED
    drill.completed_at = drill.completed_at or now
    drill.updated_at = now
    after = drill_snapshot(drill)
    after["participation"] = participation_snapshot(drill.participation)
    audit.record(actor, action, "drill", drill.id, before, after)


def cancel_occurrence(actor: User, drill: Drill, reason: str, now: datetime) -> None:
    """Cancels a drill whose version is claimed already."""
    before = drill_snapshot(drill)
    drill.status = DrillStatus.CANCELLED
    drill.cancel_reason = reason
    drill.cancelled_at = now
    drill.sequence += 1
    audit.record(actor, "drill.cancel", "drill", drill.id, before, drill_snapshot(drill))
