"""A drill's participation: who took part (by group, or counted by kind of person), the evacuation time, and
the checks of those numbers against the drill (impossible ones refused, exceptional ones confirmed)."""
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import format_decimal
from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.drills.drill_input import Values, merge_errors, sub_payload
from drillmgr.drills.models import Participation, ParticipationGroup
from drillmgr.enums import DrillForm
from drillmgr.formatting import duration
from drillmgr.orgs.models import Organisation
from drillmgr.validation import MISSING, Payload, confirm_exceptional

COUNT_FIELDS = Participation.COUNT_FIELDS
MAX_COUNT = 1_000_000
MAX_EVACUATION_SECONDS = 24 * 3600
# An evacuation time above this multiple of the unit's target is exceptional: kept only when confirmed.
EXCEPTIONAL_TARGET_FACTOR = 5


@dataclass
class Bounds:
    """What a drill's participation is checked against: the headcounts recorded for the units involved
    (None when some unit has none recorded), the drill's own length and the organiser's evacuation target."""

    headcount: int | None
    duration_seconds: int | None
    target: int | None
    organizer: Organisation | None = None
    units: list[Organisation] = field(default_factory=list)


def bounds_for(form: object, organizer: Organisation | None, participants: Sequence[Organisation],
               starts_at: object, ends_at: object) -> Bounds:
    """`form`, `starts_at` and `ends_at` as read: possibly missing or not yet valid."""
    units = {o.id: o for o in [organizer, *participants] if o is not None}
    headcount = sum(o.headcount for o in units.values()) \
        if units and all(o.headcount for o in units.values()) else None
    length = int((ends_at - starts_at).total_seconds()) \
        if isinstance(starts_at, datetime) and isinstance(ends_at, datetime) else None
    target = organizer.evacuation_target if form == DrillForm.EVACUATION and organizer is not None else None
    return Bounds(headcount, length, target, organizer, list(units.values()))


def _plausibility(part: Payload, values: Values, bounds: Bounds, counts_valid: bool) -> None:
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


def read_participation(p: Payload, bounds: Bounds) -> Values:
    """`participation: {counts: {...}, evacuation_seconds, confirm_exceptional, exceptional_reason}`
    from a completion payload, checked against the drill's `bounds`."""
    part = sub_payload(p, "participation", partial=False)
    if part is None:
        if not p.has("participation") or p.data.get("participation") is None:
            p.error("participation", _("A completion needs the participation: who took part, by group."))
        return {}
    values: Values = {}
    groups = _read_groups(part, bounds)
    counts = sub_payload(part, "counts", partial=True)
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
            _add_group_counts(counts, values, groups)
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
    merge_errors(part, counts, "counts")
    merge_errors(p, part, "participation")
    return values


def _read_groups(part: Payload, bounds: Bounds) -> list[Values]:
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


def _add_group_counts(counts: Payload, values: Values, groups: list[Values]) -> None:
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


def record_participation(participation: Participation, values: Values, actor: User, now: datetime) -> None:
    """Writes what read_participation read onto the participation."""
    for name in COUNT_FIELDS:
        setattr(participation, name, values.get(name, 0))
    participation.groups = [
        ParticipationGroup(position=position, group_id=item["group"].id, name=item["group"].name,
                           expected=item["group"].expected, present=item["present"], missing=item["missing"])
        for position, item in enumerate(values.get("groups", []))]
    participation.evacuation_seconds = values.get("evacuation_seconds")
    participation.exceptional_reason = values.get("exceptional_reason", "")
    participation.notes = values.get("notes", "")
    participation.recorded_by_id = actor.id
    participation.recorded_at = now
