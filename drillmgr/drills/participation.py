"""A drill's participation: who took part (by group, or counted by kind of person), the evacuation time, and
the checks of those numbers against the drill (impossible ones refused, exceptional ones confirmed)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import format_decimal
from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.api.schema import Reading
from drillmgr.drills.drill_input import Values
from drillmgr.drills.models import Participation, ParticipationGroup
from drillmgr.drills.schemas import GroupCountSchema
from drillmgr.enums import DrillForm
from drillmgr.formatting import duration
from drillmgr.orgs.models import Organisation
from drillmgr.validation import confirmed_reason

COUNT_FIELDS = Participation.COUNT_FIELDS
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


def bounds_for(
    form: object,
    organizer: Organisation | None,
    participants: Sequence[Organisation],
    starts_at: object,
    ends_at: object,
) -> Bounds:
    """`form`, `starts_at` and `ends_at` as read: possibly missing or not yet valid."""
    units = {o.id: o for o in [organizer, *participants] if o is not None}
    headcount = sum(o.headcount for o in units.values()) if units and all(o.headcount for o in units.values()) else None
    length = (
        int((ends_at - starts_at).total_seconds())
        if isinstance(starts_at, datetime) and isinstance(ends_at, datetime)
        else None
    )
    target = organizer.evacuation_target if form == DrillForm.EVACUATION and organizer is not None else None
    return Bounds(headcount, length, target, organizer, list(units.values()))


class _Part:
    """The errors of the participation part of a Reading (`participation.<field>`)."""

    def __init__(self, p: Reading, prefix: str = "participation.") -> None:
        self.p, self.prefix = p, prefix

    def error(self, name: str, message: str) -> None:
        self.p.error(self.prefix + name, message)

    @property
    def errors(self) -> dict[str, list[str]]:
        return {
            key[len(self.prefix) :]: messages for key, messages in self.p.errors.items() if key.startswith(self.prefix)
        }

    def refused(self, name: str) -> bool:
        """Whether `name` or anything inside it has an error."""
        return self.refused_itself(name) or self.refused_inside(name)

    def refused_itself(self, name: str) -> bool:
        return self.prefix + name in self.p.errors

    def refused_inside(self, name: str) -> bool:
        return any(k.startswith(f"{self.prefix}{name}.") for k in self.p.errors)


def _needed() -> str:
    return str(_("A completion needs the participation: who took part, by group."))


def read_participation(p: Reading, data: Values, bounds: Bounds) -> Values:
    """`participation: {counts: {...}, groups, evacuation_seconds, confirm_exceptional, exceptional_reason}` of
    a completion, read by DrillCompletionSchema into `p` (from `data`), checked against the drill's `bounds`."""
    raw = data.get("participation")
    if raw is None:
        p.error("participation", _needed())
        return {}
    if not isinstance(raw, dict):
        return {}  # the schema said what it must be
    part, read = _Part(p), p.values.get("participation") or {}
    values: Values = {}
    groups = _read_groups(part, raw, bounds)
    counts = raw.get("counts")
    if not isinstance(counts, dict) and not groups:
        if not part.refused("groups") and not part.refused("counts"):
            part.error("counts", _needed())
    else:
        _read_counts(part, values, counts if isinstance(counts, dict) else {}, read.get("counts") or {}, groups)
    if "notes" in read:
        values["notes"] = read["notes"]
    if "evacuation_seconds" in read and not part.refused("evacuation_seconds"):
        values["evacuation_seconds"] = read["evacuation_seconds"]
    counted = (isinstance(counts, dict) or bool(groups)) and not part.refused("counts")
    _plausibility(part, read, values, bounds, counts_valid=counted)
    if groups:
        values["groups"] = groups
    return values


def _read_counts(part: _Part, values: Values, sent: Values, read: Values, groups: list[Values]) -> None:
    """The counts by kind of person (0 for those not sent), with the groups' sums; `sent` as sent."""
    for name in COUNT_FIELDS:
        number = read.get(name, 0)
        values[name] = number if isinstance(number, int) and number >= 0 else 0
    if groups:
        _add_group_counts(part, sent, values, groups)
    for name in sorted(set(sent) - set(COUNT_FIELDS)):
        part.error(f"counts.{name}", _("Unknown group; allowed: %(allowed)s.", allowed=", ".join(COUNT_FIELDS)))
    if not part.refused_inside("counts") and sum(values[name] for name in COUNT_FIELDS) == 0:
        part.error(
            "counts",
            _(
                "A completion without participation is not possible: "
                "enter how many people took part in at least one group."
            ),
        )


def _plausibility(part: _Part, read: Values, values: Values, bounds: Bounds, counts_valid: bool) -> None:
    """Impossible numbers are refused; exceptional ones need the user's confirmation with a reason,
    which is kept in `values["exceptional_reason"]`."""
    exceptional = {}
    total = sum(values.get(name, 0) for name in COUNT_FIELDS)
    if counts_valid and bounds.headcount is not None and total > bounds.headcount:
        exceptional["counts"] = _(
            "%(n)s people took part, more than the %(h)s recorded as the headcount of the units involved "
            "(the organiser and the participating units).",
            n=format_decimal(total),
            h=format_decimal(bounds.headcount),
        )
    seconds = values.get("evacuation_seconds")
    if seconds is not None and bounds.duration_seconds is not None and seconds > bounds.duration_seconds:
        part.error(
            "evacuation_seconds",
            _(
                "The evacuation cannot have taken longer than the drill itself (%(d)s from its start to its end). "
                "Correct the time, or first the drill's end.",
                d=duration(bounds.duration_seconds),
            ),
        )
    elif seconds is not None and bounds.target and seconds > EXCEPTIONAL_TARGET_FACTOR * bounds.target:
        exceptional["evacuation_seconds"] = _(
            "An evacuation time of %(t)s is more than %(k)d times the unit's target of %(target)s.",
            t=duration(seconds),
            k=EXCEPTIONAL_TARGET_FACTOR,
            target=duration(bounds.target),
        )
    values["exceptional_reason"] = confirmed_reason(
        part, exceptional, read.get("confirm_exceptional") is True, read.get("exceptional_reason") or ""
    )


def _read_groups(part: _Part, raw: Values, bounds: Bounds) -> list[Values]:
    """`groups: [{group_id, present, missing}]`, the roll call by the units' groups (班级, 病区, ...): those
    the schema read without error, each a group of the units involved, none twice."""
    items = raw.get("groups")
    if not isinstance(items, list) or part.refused_itself("groups"):
        return []
    known = {g.id: g for unit in bounds.units for g in unit.groups}
    groups, seen = [], set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        read, at = GroupCountSchema().read(item).values, f"groups.{index}"
        group_id = read.get("group_id")
        if group_id is not None and not part.refused(f"{at}.group_id"):
            if group_id not in known:
                part.error(f"{at}.group_id", _("Not a group of the units taking part in this drill."))
            elif group_id in seen:
                part.error(f"{at}.group_id", _("This group is counted twice."))
            seen.add(group_id)
        if group_id is not None and not part.refused(at):
            groups.append({"group": known[group_id], "present": read["present"], "missing": read.get("missing", 0)})
    return groups


def _add_group_counts(part: _Part, sent: Values, values: Values, groups: list[Values]) -> None:
    """The groups' present add up to their units' count (students for a school, patients for a hospital);
    a count sent besides must agree with them."""
    sums: dict[str, int] = {}
    for item in groups:
        name = item["group"].org.group_count_field
        sums[name] = sums.get(name, 0) + item["present"]
    for name, total in sums.items():
        if name in sent and values.get(name) != total:
            part.error(
                f"counts.{name}", _("Must equal the sum of the groups' present, %(n)s.", n=format_decimal(total))
            )
        values[name] = total


def record_participation(participation: Participation, values: Values, actor: User, now: datetime) -> None:
    """Writes what read_participation read onto the participation."""
    for name in COUNT_FIELDS:
        setattr(participation, name, values.get(name, 0))
    participation.groups = [
        ParticipationGroup(
            position=position,
            group_id=item["group"].id,
            name=item["group"].name,
            expected=item["group"].expected,
            present=item["present"],
            missing=item["missing"],
        )
        for position, item in enumerate(values.get("groups", []))
    ]
    participation.evacuation_seconds = values.get("evacuation_seconds")
    participation.exceptional_reason = values.get("exceptional_reason", "")
    participation.notes = values.get("notes", "")
    participation.recorded_by_id = actor.id
    participation.recorded_at = now
