"""What an evaluation answers: per rule and subject, the slots (periods, days, settings) with their counts and
evidence, and one status.

A slot is
- ``met`` when enough qualifying events are completed (held);
- ``missed`` when its period is over and it is not met;
- ``on_track`` when completed plus planned events in the period would meet it;
- ``not_due`` when its period has not begun, or its deadline is further away than the warning window;
- ``at_risk`` otherwise (nothing planned, deadline within the warning window).
The subject's status is the worst of its slots, in the order missed, at_risk, on_track, not_due,
met: so a school that met every month so far, with months still to come, is ``not_due``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _

from drillmgr.compliance.labels import missing_label
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.rule_params import RuleParams, Subject
from drillmgr.compliance.rules import rule_short_title, rule_title
from drillmgr.enums import ComplianceStatus
from drillmgr.localtime import local_today

# Worst first: a subject's status is the first of these that any of its slots has.
SEVERITY = (
    ComplianceStatus.MISSED,
    ComplianceStatus.AT_RISK,
    ComplianceStatus.ON_TRACK,
    ComplianceStatus.NOT_DUE,
    ComplianceStatus.MET,
)
RANK = {status: index for index, status in enumerate(SEVERITY)}
MISSED, AT_RISK, ON_TRACK, NOT_DUE, MET = SEVERITY  # plain names: enum attribute access is slow in bulk
MISSED_RANK, AT_RISK_RANK, ON_TRACK_RANK, NOT_DUE_RANK, MET_RANK = range(len(SEVERITY))
Evidence = dict[str, Any]


@dataclass(slots=True)
class Slot:
    label: str
    start: datetime
    end: datetime
    required: int = 1
    achieved: int = 0
    planned: int = 0
    # Tuples, not lists: there is a slot per subject and period (millions at national scale), and an empty tuple is
    # shared, where three new lists a slot cost their making and the garbage collector's passes over them after.
    evidence: tuple[Evidence, ...] = ()
    planned_evidence: tuple[Evidence, ...] = ()
    missing: tuple[str, ...] = ()
    status: ComplianceStatus = NOT_DUE  # set by finish()


@dataclass(frozen=True, slots=True)
class SubjectOf:
    """Who a result is about: a county ("region", its code) or a unit ("org", its id as text)."""

    type: str
    id: str
    name: str
    county_code: str


@dataclass(slots=True)
class SubjectResult:
    subject_type: str  # "region" or "org"
    subject_id: str  # the region code, or the organisation id as text
    name: str
    county_code: str
    status: ComplianceStatus
    required: int
    achieved: int
    evidence: list[Evidence]
    missing: list[str]
    slots: list[Slot]

    def subject_dict(self) -> dict[str, Any]:
        if self.subject_type == "region":
            return {"type": "region", "code": self.subject_id, "name": self.name}
        return {"type": "org", "id": int(self.subject_id), "name": self.name}

    @property
    def open_slots(self) -> list[Slot]:
        """The slots that give the subject its status (the worst), earliest first; none once met."""
        if self.status is ComplianceStatus.MET:
            return []
        return sorted((s for s in self.slots if s.status is self.status), key=lambda s: s.end)

    @property
    def fix_by(self) -> date | None:
        """The last day of the earliest slot that gives the subject its status: the date by which it had
        to be, or must be, put right."""
        slots = self.open_slots
        return local_today(slots[0].end - timedelta(seconds=1)) if slots else None

    @property
    def reasons(self) -> list[str]:
        """The missing items (codes, see labels.missing_label) behind the subject's status."""
        if not self.slots:
            return list(self.missing) if self.status is not ComplianceStatus.MET else []
        return [m for s in self.open_slots for m in (s.missing or [s.label])]


@dataclass
class RuleResult:
    rule: ComplianceRule
    params: RuleParams
    results: list[SubjectResult]

    @property
    def key(self) -> str:
        return self.rule.key

    @property
    def title(self) -> str:
        return rule_title(self.rule)

    @property
    def short_title(self) -> str:
        return rule_short_title(self.rule)

    @property
    def subject(self) -> Subject:
        return self.params.subject


def combine(statuses: Iterable[ComplianceStatus]) -> ComplianceStatus:
    return min(statuses, key=RANK.__getitem__, default=MET)


def finish(
    subject: SubjectOf, slots: list[Slot], now: datetime, warning: timedelta, missing: list[str] | None = None
) -> SubjectResult:
    """The subject's result from its counted slots: each slot's status, and the worst of them; `missing`
    replaces the slots' own missing items. One pass over the slots: millions at national scale."""
    worst = MET_RANK
    required = achieved = 0
    evidence: list[Evidence] = []
    unmet: list[str] = []
    for slot in slots:
        # The slot's status, as its index in SEVERITY; written out here, not called, for millions of slots.
        if slot.achieved >= slot.required:
            rank = MET_RANK
            achieved += slot.required
        else:
            achieved += slot.achieved
            if now >= slot.end:
                rank = MISSED_RANK
            elif slot.achieved + slot.planned >= slot.required:
                rank = ON_TRACK_RANK
            elif now < slot.start or slot.end - now > warning:
                rank = NOT_DUE_RANK
            else:
                rank = AT_RISK_RANK
        slot.status = SEVERITY[rank]
        if rank < worst:
            worst = rank
        required += slot.required
        evidence += slot.evidence
        if rank != MET_RANK:
            unmet += slot.missing or [slot.label]
    status = SEVERITY[worst]
    if status is ON_TRACK:
        evidence += [e for s in slots if s.status is ON_TRACK for e in s.planned_evidence]
    return SubjectResult(
        subject.type,
        subject.id,
        subject.name,
        subject.county_code,
        status,
        required,
        achieved,
        evidence,
        unmet if missing is None else missing,
        slots,
    )


Packed = tuple[Any, ...]
SUBJECT_ID = 1  # where a packed result holds its subject's id
STATUS = 4  # … and its status


def pack_results(results: list[SubjectResult]) -> list[Packed]:
    """Results as nested tuples, to be kept: pickled four times faster than the slotted dataclasses (whose
    state pickle reads through a Python-level __getstate__ per object), and half the size."""
    return [
        (
            r.subject_type,
            r.subject_id,
            r.name,
            r.county_code,
            r.status,
            r.required,
            r.achieved,
            r.evidence,
            r.missing,
            [
                (
                    s.label,
                    s.start,
                    s.end,
                    s.required,
                    s.achieved,
                    s.planned,
                    s.evidence,
                    s.planned_evidence,
                    s.missing,
                    s.status,
                )
                for s in r.slots
            ],
        )
        for r in results
    ]


def unpack_results(rows: list[Packed]) -> list[SubjectResult]:
    """The results pack_results() made."""
    return [
        SubjectResult(
            kind, subject, name, county, status, required, achieved, evidence, missing, [Slot(*s) for s in slots]
        )
        for kind, subject, name, county, status, required, achieved, evidence, missing, slots in rows
    ]


def next_change(results: list[RuleResult], after: datetime) -> datetime | None:
    """The first moment after `after` at which the clock alone changes a status in `results`: a slot's start
    or end, or the opening of its warning window (a review's deadline falls at any time of day)."""
    moments: list[datetime] = []
    for rule_result in results:
        warning = rule_result.params.warning
        for start, end in {(slot.start, slot.end) for result in rule_result.results for slot in result.slots}:
            moments += (start, end, end - warning)
    return min((moment for moment in moments if moment > after), default=None)


def format_table(results: list[RuleResult]) -> str:
    """Plain text for the command line: one block per rule, one line per subject."""
    lines = []
    for rule_result in results:
        lines.append(f"{rule_result.key} — {rule_result.title}")
        width = max((len(r.name) for r in rule_result.results), default=0)
        for r in rule_result.results:
            missing = "; ".join(missing_label(m) for m in r.missing[:5]) if r.status != ComplianceStatus.MET else ""
            lines.append(f"  {r.status.value:<9} {r.achieved:>4}/{r.required:<4} {r.name:<{width}}  {missing}".rstrip())
        if not rule_result.results:
            lines.append("  " + _("no subject"))
        lines.append("")
    return "\n".join(lines)
