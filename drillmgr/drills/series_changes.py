"""Changing a recurring series from one of its occurrences: "this and following" splits the series, "cancel
this and all following" and "end the series here" end it."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills import recurrence
from drillmgr.drills.drill_input import Values, check_may_reorganise, check_references, check_times, read_change
from drillmgr.drills.guards import claim_drill_version, require_editable, require_not_cancelled, require_not_filed
from drillmgr.drills.lifecycle import apply_values, cancel_occurrence
from drillmgr.drills.models import Drill, DrillSeries
from drillmgr.drills.queries import following_occurrences
from drillmgr.drills.rules import (
    MAX_OCCURRENCES_PER_RUN,
    read_rule,
    rule_ending_at,
    rule_parts,
    rule_text,
    series_slots,
)
from drillmgr.drills.schemas import DrillFollowingSchema, SeriesEndSchema
from drillmgr.drills.serialise import drill_snapshot
from drillmgr.drills.series import materialize, new_series, template_from
from drillmgr.enums import DrillStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db

ONE_SECOND = timedelta(seconds=1)


@dataclass
class Split:
    """A "this and following" change, read and checked: the occurrence it starts at, the new series' first
    start and end and rule, and the drill fields it changes."""

    drill: Drill
    old: DrillSeries
    at: datetime
    starts_at: datetime
    ends_at: datetime
    rule: str
    new_rule: bool
    values: Values

    @property
    def timing_changed(self) -> bool:
        return "starts_at" in self.values or "ends_at" in self.values or self.new_rule


def _series_of(drill: Drill) -> DrillSeries:
    if drill.series is None:
        raise ValidationError(_("This drill is not part of a recurring series."))
    return drill.series


def update_following(actor: User, drill: Drill, data: Values, now: datetime | None = None) -> DrillSeries:
    """Changes this occurrence and every later one ("this and following"): the old series ends just
    before it (UNTIL), a new series carries the change. Later occurrences keep their identity where
    the new rule still has their slot; the others are cancelled, and missing slots are created."""
    now = now or utcnow()
    require_editable(actor, drill)
    old = _series_of(drill)
    require_not_filed(drill)
    split = _read_split(actor, drill, old, data)
    claim_drill_version(drill, split.values["version"], now)
    new = _split_series(actor, split, now)
    horizon = max(old.materialized_until or now, split.starts_at)
    _move_later_occurrences(actor, split, new, horizon, now)
    materialize(actor, new, horizon, now)
    return new


def _read_split(actor: User, drill: Drill, old: DrillSeries, data: Values) -> Split:
    p, values = read_change(data, DrillFollowingSchema)
    new_rule = data.get("rrule") is not None
    at = drill.occurrence_start or drill.starts_at
    if "starts_at" in values or "ends_at" in values:
        starts_at = values.get("starts_at", drill.starts_at)
        ends_at = values.get("ends_at", drill.ends_at + (starts_at - drill.starts_at))
    else:
        starts_at, ends_at = at, at + timedelta(minutes=old.duration_minutes)
    check_times(p, starts_at, ends_at, "ends_at" if "ends_at" in values else "starts_at")
    rule = read_rule(p, "rrule", starts_at) if new_rule else old.rrule
    check_references(actor, p, values, drill)
    p.check()
    require_not_cancelled(drill)
    check_may_reorganise(actor, values, drill)
    assert rule is not None  # read_rule gives None only with an error, and p.check() raised it
    return Split(drill, old, at, starts_at, ends_at, rule, new_rule, values)


def _split_series(actor: User, split: Split, now: datetime) -> DrillSeries:
    """Ends the old series just before the split and starts the new one, which keeps what is left of a COUNT."""
    old = split.old
    new_parts = rule_parts(split.rule)
    old_parts = rule_parts(old.rrule)
    if not split.new_rule and "COUNT" in old_parts:
        done = len(series_slots(old, split.at - ONE_SECOND, limit=recurrence.MAX_COUNT + 1))
        new_parts["COUNT"] = str(max(int(old_parts["COUNT"]) - done, 1))
    before = {"rrule": old.rrule, "template": old.template}
    old.rrule = rule_ending_at(old.rrule, split.at - ONE_SECOND)
    old.updated_at = now
    template = dict(old.template) | template_from(split.values)
    if "organizer_org_id" in split.values:
        template["organizer_region_code"] = None
    if split.values.get("organizer_region_code"):
        template["organizer_org_id"] = None
    new = new_series(actor, template, rule_text(new_parts), split.starts_at, split.ends_at, now)
    audit.record(actor, "series.split", "drill_series", old.id, before, {"rrule": old.rrule, "new_series_id": new.id})
    return new


def _move_later_occurrences(actor: User, split: Split, new: DrillSeries, horizon: datetime, now: datetime) -> None:
    """The old series' occurrences from the split on join the new series where it has their slot (changed
    alike if still planned); planned ones it has no slot for are cancelled."""
    later = _later_occurrences(split.old, split.at)
    new_slots = set(series_slots(new, horizon, limit=len(later) + MAX_OCCURRENCES_PER_RUN))
    shift = split.starts_at - split.at
    length = split.ends_at - split.starts_at
    field_values = {k: v for k, v in split.values.items() if k not in ("starts_at", "ends_at", "version")}
    for occurrence in later:
        assert occurrence.occurrence_start is not None  # every occurrence of a series has one
        slot = occurrence.occurrence_start + shift
        if slot not in new_slots and occurrence.status != DrillStatus.PLANNED:
            continue
        if occurrence.id != split.drill.id:
            claim_drill_version(occurrence, None, now)
        if slot not in new_slots:
            cancel_occurrence(actor, occurrence, _("No longer part of the recurring series."), now)
            continue
        new_slots.discard(slot)
        before = drill_snapshot(occurrence)
        occurrence.series_id, occurrence.occurrence_start = new.id, slot
        if occurrence.status == DrillStatus.PLANNED:
            timing = {"starts_at": slot, "ends_at": slot + length} if split.timing_changed else {}
            apply_values(occurrence, field_values | timing)
        audit.record(actor, "drill.update", "drill", occurrence.id, before, drill_snapshot(occurrence))


def _later_occurrences(series: DrillSeries, start: datetime) -> list[Drill]:
    return list(
        db.session.scalars(
            sa.select(Drill)
            .where(Drill.series_id == series.id, Drill.occurrence_start >= start)
            .order_by(Drill.occurrence_start)
        )
    )


def _end_series_at(actor: User, series: DrillSeries, last: datetime, now: datetime) -> None:
    """The series makes nothing after `last` (its UNTIL, COUNT dropped); the nightly job stops there."""
    before = {"rrule": series.rrule}
    series.rrule = rule_ending_at(series.rrule, last)
    series.updated_at = now
    audit.record(actor, "series.end", "drill_series", series.id, before, {"rrule": series.rrule})


def end_series(actor: User, drill: Drill, data: Values, include_this: bool, now: datetime | None = None) -> list[Drill]:
    """One step for a series: "cancel this and all following" (`include_this`) or "end the series here"
    (this occurrence is the last one; the later ones are cancelled). `data`: `{version, reason}`; the
    version is this drill's, required, and every cancelled occurrence is claimed too, so the step happens
    whole or not at all. Returns the cancelled drills."""
    now = now or utcnow()
    require_editable(actor, drill)
    series = _series_of(drill)
    version, reason = _read_end(data, include_this)
    if include_this and drill.status != DrillStatus.PLANNED:
        raise Conflict(_("Only a planned drill can be cancelled; end the series here instead."))
    if not include_this and drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled; end the series at a drill that takes place."))
    claim_drill_version(drill, version, now)
    cancelled = []
    for occurrence in following_occurrences(drill, include_this):
        if occurrence.id != drill.id:
            if not access.can_edit_drill(actor, occurrence):
                continue
            claim_drill_version(occurrence, None, now)
        cancel_occurrence(actor, occurrence, reason, now)
        cancelled.append(occurrence)
    start = drill.occurrence_start or drill.starts_at
    _end_series_at(actor, series, start - ONE_SECOND if include_this else start, now)
    return cancelled


def _read_end(data: Values, include_this: bool) -> tuple[int, str]:
    p = SeriesEndSchema().read(data)
    reason = p.values.get("reason")
    if include_this and not reason and "reason" not in p.errors:
        p.error("reason", _("This field is required."))
    p.check()
    return p.values["version"], reason or _("The recurring series was ended.")
