"""The compliance engine: every rule of a year, for every subject, with one status and its evidence.

Each rule is evaluated by a few set-based queries: drills (or activities, reviews, actions) are
aggregated in SQL, grouped by subject (a county, or a unit) and period; Python only turns the
aggregated rows into statuses. Nothing here issues a query per unit or per drill.

A subject's rule splits into slots (a period, an observance day, a six-into setting), each needing
`count` qualifying events. A slot is
- ``met`` when enough qualifying events are completed (held);
- ``missed`` when its period is over and it is not met;
- ``on_track`` when completed plus planned events in the period would meet it;
- ``not_due`` when its period has not begun, or its deadline is further away than the warning window;
- ``at_risk`` otherwise (nothing planned, deadline within the warning window).
The subject's status is the worst of its slots, in the order missed, at_risk, on_track, not_due,
met: so a school that met every month so far, with months still to come, is ``not_due``.

Only completed drills are evidence and only planned ones make a slot on track; cancelled drills
never count. Double-blind drills count, but for users who may not see a double-blind drill before it
starts (access.compliance_drill_clause), such a drill is left out of their statuses and evidence. Where
a rule has `run_blind_required`, a completed double-blind drill counts only if the exercise console
revealed it at its start (its session's `revealed_by_console`); otherwise it is listed as missing
``not_run_blind:drill-<id>``.
"""
import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import attrgetter

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.compliance.models import ComplianceRule, ComplianceSnapshot
from drillmgr.compliance.periods import Period, periods
from drillmgr.compliance.rules import effective_params, ensure_rules, evaluator_of, rule_short_title, rule_title
from drillmgr.compliance.sqlfuncs import add_days, later_of, scanned
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill, DrillFocus, drill_participants
from drillmgr.exercises.models import ExerciseSession
from drillmgr.enums import (ActionStatus, ComplianceStatus, DrillStatus, ObservanceDay, OrgKind, OutreachKind,
                            RegionLevel)
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.localtime import api_datetime, local_today
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.models import OutreachActivity
from drillmgr.regions.models import Region

# Worst first: a subject's status is the first of these that any of its slots has.
SEVERITY = (ComplianceStatus.MISSED, ComplianceStatus.AT_RISK, ComplianceStatus.ON_TRACK,
            ComplianceStatus.NOT_DUE, ComplianceStatus.MET)
RANK = {status: index for index, status in enumerate(SEVERITY)}
COMPLETED, PLANNED = DrillStatus.COMPLETED.value, DrillStatus.PLANNED.value
LIST_LIMIT = 20  # evidence and missing items listed per subject for rules over many drills or actions


@dataclass(slots=True)
class Slot:
    label: str
    start: datetime
    end: datetime
    required: int = 1
    achieved: int = 0
    planned: int = 0
    evidence: list = field(default_factory=list)
    planned_evidence: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    status: ComplianceStatus | None = None


@dataclass(slots=True)
class SubjectResult:
    subject_type: str  # "region" or "org"
    subject_id: str  # the region code, or the organisation id as text
    name: str
    county_code: str
    status: ComplianceStatus
    required: int
    achieved: int
    evidence: list
    missing: list
    slots: list

    def subject_dict(self) -> dict:
        if self.subject_type == "region":
            return {"type": "region", "code": self.subject_id, "name": self.name}
        return {"type": "org", "id": int(self.subject_id), "name": self.name}

    def to_dict(self) -> dict:
        return {"subject": self.subject_dict(), "status": self.status.value, "required": self.required,
                "achieved": self.achieved, "evidence": self.evidence, "missing": self.missing}

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
    def subject(self) -> str:
        return self.rule.params.get("subject", "county")

    def to_dict(self) -> dict:
        return {"id": self.rule.key, "title": self.title, "results": [r.to_dict() for r in self.results]}


MISSED, AT_RISK, ON_TRACK, NOT_DUE, MET = SEVERITY  # plain names: enum attribute access is slow in bulk
MISSED_RANK, AT_RISK_RANK, ON_TRACK_RANK, NOT_DUE_RANK, MET_RANK = range(len(SEVERITY))


def slot_rank(slot: Slot, now: datetime, warning: timedelta) -> int:
    """The slot's status, as its index in SEVERITY (thousands of slots per evaluation)."""
    if slot.achieved >= slot.required:
        return MET_RANK
    if now >= slot.end:
        return MISSED_RANK
    if slot.achieved + slot.planned >= slot.required:
        return ON_TRACK_RANK
    if now < slot.start or slot.end - now > warning:
        return NOT_DUE_RANK
    return AT_RISK_RANK


def slot_status(slot: Slot, now: datetime, warning_days: int) -> ComplianceStatus:
    return SEVERITY[slot_rank(slot, now, timedelta(days=warning_days))]


def combine(statuses) -> ComplianceStatus:
    return min(statuses, key=RANK.__getitem__, default=MET)


def _finish(subject_type, subject_id, name, county_code, slots: list[Slot], now, warning_days,
            missing_override=None) -> SubjectResult:
    warning = timedelta(days=warning_days)
    worst = MET_RANK
    for slot in slots:
        rank = slot_rank(slot, now, warning)
        slot.status = SEVERITY[rank]
        worst = min(worst, rank)
    status = SEVERITY[worst]
    evidence = [e for s in slots for e in s.evidence]
    if status is ON_TRACK:
        evidence += [e for s in slots if s.status is ON_TRACK for e in s.planned_evidence]
    missing = missing_override if missing_override is not None else [
        m for s in slots if s.status is not MET for m in (s.missing or [s.label])]
    return SubjectResult(subject_type, str(subject_id), name, county_code, status,
                         sum(s.required for s in slots), sum(min(s.achieved, s.required) for s in slots),
                         evidence, missing, slots)


# --- subjects ------------------------------------------------------------------------------------

def _region_path(region_code: str | None) -> str | None:
    if region_code is None:
        return None
    return db.session.scalar(sa.select(Region.path).where(Region.code == region_code))


def subject_counties(region_code: str | None, key_only: bool = False) -> list[Region]:
    """The counties a region's compliance covers: those inside it, or the one containing it."""
    query = sa.select(Region).where(Region.level == RegionLevel.COUNTY).order_by(Region.code)
    path = _region_path(region_code)
    if region_code is not None:
        query = query.where(sa.or_(Region.path.startswith(path, autoescape=True),
                                   sa.literal(path).startswith(Region.path)))
    if key_only:
        query = query.where(Region.key_county.is_(True))
    return list(db.session.scalars(query))


def county_map(county_codes: list[str]):
    """A table of every region code and the county (of `county_codes`) above or at it.

    Materialised (a CTE computed once), so that drills join it on an equality: left to itself, the
    planner may inline the prefix match and repeat it for every drill.
    """
    county = aliased(Region)
    return (sa.select(Region.code.label("region_code"), county.code.label("county_code"))
            .join(county, Region.path.startswith(county.path))
            .where(county.code.in_(county_codes))).cte("county_map").prefix_with("MATERIALIZED")


def subtree_list(region_code: str) -> list[str]:
    """The codes of a region's subtree, as a list: PostgreSQL estimates an IN list well, whereas a
    prefix match on a path it takes for one row, and then walks the drills region by region."""
    return list(db.session.scalars(access.subtree_codes(region_code)))


def _org_scope(region_code: str | None):
    if region_code is None:
        return sa.true()
    return Organisation.region_code.in_(subtree_list(region_code))


def subject_orgs(region_code: str | None, kinds: list[str], county_codes: list[str],
                 org_id: int | None = None) -> list[tuple]:
    """(id, name, county_code) of the units of `kinds` in scope (only `org_id`, if given), in one query."""
    cmap = county_map(county_codes)
    query = (sa.select(Organisation.id, Organisation.name, cmap.c.county_code)
             .join(cmap, cmap.c.region_code == Organisation.region_code)
             .where(Organisation.kind.in_([OrgKind(k) for k in kinds]), _org_scope(region_code))
             .order_by(cmap.c.county_code, Organisation.name, Organisation.id))
    if org_id is not None:
        query = query.where(Organisation.id == org_id)
    return list(db.session.execute(query).tuples())


def _period_index(column, spans: list[Period]):
    """The index of the period a timestamp falls in, as a CASE over the periods' UTC bounds."""
    whens = [(sa.and_(column >= p.start, column < p.end), index) for index, p in enumerate(spans)]
    return sa.case(*whens, else_=sa.null())


# --- drill rules (key-county live and double-blind, evacuation of schools, kindergartens, hospitals) ---

def _drill_evidence(row_id, title, starts_at, real_response, note, status) -> dict:
    if starts_at is None:  # evaluated without details
        return {"type": "drill", "id": row_id, "status": status}
    item = {"type": "drill", "id": row_id, "title": title, "starts_at": api_datetime(starts_at), "status": status}
    if real_response:
        item["credited_as"] = "real_response"
        item["reason"] = note
    return item


def _drill_filters(params: dict, lo: datetime, hi: datetime, user, now) -> list:
    forms = params.get("forms") or []
    form_clause: sa.ColumnElement[bool] = Drill.form.in_(forms) if forms else sa.true()
    if params.get("credit_real_response"):
        form_clause = sa.or_(form_clause, Drill.real_response.is_(True))
    starts_at = scanned(Drill.starts_at)
    filters = [Drill.status != DrillStatus.CANCELLED, starts_at >= lo, starts_at < hi, form_clause,
               access.compliance_drill_clause(user, now)]
    if params.get("scopes"):
        filters.append(Drill.scope.in_(params["scopes"]))
    if params.get("double_blind_only"):
        filters.append(Drill.double_blind.is_(True))
    return filters


@dataclass(slots=True)
class DrillCell:
    """The aggregate of one subject and period, with the earliest completed and planned drill."""
    done: int
    planned: int
    short: int
    done_id: int | None
    planned_id: int | None
    title: str | None
    starts_at: datetime | None
    real_response: bool | None
    note: str | None
    p_title: str | None
    p_starts_at: datetime | None
    unblind: int = 0  # completed double-blind drills not run blind through the console, where that is required
    unblind_id: int | None = None


MONTH_ALIGNED = ("month", "quarter", "half", "year")


def _drill_inner(params, spans, by_org, region_code, county_codes, user, now, kinds, org_id=None):
    """One row per (subject, drill) that a drill rule may count, with its period index and key links."""
    lo, hi = spans[0].start, spans[-1].end
    required_focus = list(params.get("required_focus") or [])
    filters = _drill_filters(params, lo, hi, user, now)
    links = (sa.select(sa.func.count()).where(DrillFocus.drill_id == Drill.id, DrillFocus.focus.in_(required_focus))
             .correlate(Drill).scalar_subquery() if required_focus else sa.literal(0))
    if params.get("run_blind_required"):
        # Run blind: the exercise console revealed the double-blind drill at its start (not before).
        console = (sa.exists().where(ExerciseSession.drill_id == Drill.id,
                                     ExerciseSession.revealed_by_console.is_(True)).correlate(Drill))
        run_blind: sa.ColumnElement = sa.case((sa.and_(Drill.double_blind.is_(True), console), 1), else_=0)
    else:
        run_blind = sa.literal(1)
    columns = [Drill.id.label("drill_id"), Drill.status.label("status"), links.label("links"),
               run_blind.label("run_blind"), _period_index(Drill.starts_at, spans).label("p")]
    if not by_org:
        cmap = county_map(county_codes)
        return (sa.select(cmap.c.county_code.label("subject"), *columns)
                .join(cmap, cmap.c.region_code == Drill.region_code).where(*filters)).subquery()
    # A unit is credited with the drills it organised and those it took part in (once, if both).
    own = sa.select(Drill.organizer_org_id.label("subject"), *columns).where(Drill.organizer_org_id.isnot(None),
                                                                            *filters)
    joined = (sa.select(drill_participants.c.org_id.label("subject"), *columns)
              .join(Drill, Drill.id == drill_participants.c.drill_id)
              .where(*filters, sa.or_(Drill.organizer_org_id.is_(None),
                                      Drill.organizer_org_id != drill_participants.c.org_id)))
    if kinds is not None or region_code is not None:
        orgs = sa.select(Organisation.id).where(_org_scope(region_code))
        if kinds is not None:
            orgs = orgs.where(Organisation.kind.in_(kinds))
        own = own.where(Drill.organizer_org_id.in_(orgs))
        joined = joined.where(drill_participants.c.org_id.in_(orgs))
    if org_id is not None:
        own = own.where(Drill.organizer_org_id == org_id)
        joined = joined.where(drill_participants.c.org_id == org_id)
    return sa.union_all(own, joined).subquery()


def _aggregate(inner, required_count: int, with_details: bool = True) -> dict[tuple[str, int], DrillCell]:
    """Counts per (subject, period) and the earliest completed and planned drill; `with_details` adds
    their titles and dates (the evidence) by joining them back."""
    full = inner.c.links >= required_count
    blind = inner.c.run_blind == 1
    done = sa.and_(inner.c.status == DrillStatus.COMPLETED, full, blind)
    planned = sa.and_(inner.c.status == DrillStatus.PLANNED, full)
    short = sa.and_(inner.c.status == DrillStatus.COMPLETED, sa.not_(full))
    unblind = sa.and_(inner.c.status == DrillStatus.COMPLETED, sa.not_(blind))
    agg = (sa.select(inner.c.subject, inner.c.p,
                     sa.func.count(sa.case((done, inner.c.drill_id))).label("done"),
                     sa.func.count(sa.case((planned, inner.c.drill_id))).label("planned"),
                     sa.func.count(sa.case((short, inner.c.drill_id))).label("short"),
                     sa.func.min(sa.case((done, inner.c.drill_id))).label("done_id"),
                     sa.func.min(sa.case((planned, inner.c.drill_id))).label("planned_id"),
                     sa.func.count(sa.case((unblind, inner.c.drill_id))).label("unblind"),
                     sa.func.min(sa.case((unblind, inner.c.drill_id))).label("unblind_id"))
           .where(inner.c.p.isnot(None)).group_by(inner.c.subject, inner.c.p)).subquery()
    if not with_details:
        return {(str(subject), p): DrillCell(done, planned, short, done_id, planned_id, None, None, None, None, None,
                                             None, unblind, unblind_id)
                for subject, p, done, planned, short, done_id, planned_id, unblind, unblind_id
                in db.session.connection().execute(sa.select(agg)).tuples()}
    d1, d2 = aliased(Drill), aliased(Drill)
    rows = db.session.connection().execute(
        sa.select(agg, d1.title, d1.starts_at, d1.real_response, d1.real_response_note,
                  d2.title.label("p_title"), d2.starts_at.label("p_starts_at"))
        .outerjoin(d1, d1.id == agg.c.done_id).outerjoin(d2, d2.id == agg.c.planned_id))
    return {(str(r.subject), r.p): DrillCell(r.done, r.planned, r.short, r.done_id, r.planned_id, r.title,
                                             r.starts_at, r.real_response, r.real_response_note, r.p_title,
                                             r.p_starts_at, r.unblind, r.unblind_id) for r in rows}


def _combine(cells: list[DrillCell]) -> DrillCell:
    if len(cells) == 1:
        return cells[0]
    done = [c for c in cells if c.done_id is not None]
    planned = [c for c in cells if c.planned_id is not None]
    first = min(done, key=attrgetter("done_id")) if done else None
    first_planned = min(planned, key=attrgetter("planned_id")) if planned else None
    unblind = [c.unblind_id for c in cells if c.unblind_id is not None]
    return DrillCell(sum(c.done for c in cells), sum(c.planned for c in cells), sum(c.short for c in cells),
                     first.done_id if first else None, first_planned.planned_id if first_planned else None,
                     first.title if first else None, first.starts_at if first else None,
                     first.real_response if first else None, first.note if first else None,
                     first_planned.p_title if first_planned else None,
                     first_planned.p_starts_at if first_planned else None,
                     sum(c.unblind for c in cells), min(unblind) if unblind else None)


def _fold(month_cells: dict, months: list[Period], spans: list[Period], subjects) -> dict[tuple[str, int], DrillCell]:
    """Adds calendar-month cells up into the rule's periods (months, quarters, half-years, the year),
    for the rule's subjects only."""
    months_of = [[j for j, m in enumerate(months) if span.first_day <= m.first_day and m.last_day <= span.last_day]
                 for span in spans]
    cells: dict[tuple[str, int], DrillCell] = {}
    for subject in subjects:
        for i, month_indexes in enumerate(months_of):
            found = [month_cells[(subject, j)] for j in month_indexes if (subject, j) in month_cells]
            if found:
                cells[(subject, i)] = _combine(found)
    return cells


def _drill_cells(params, year, spans, by_org, region_code, county_codes, user, now, run, subject_ids):
    """The rule's aggregated cells. Unit rules over whole months share one GROUP BY (unit, month) per
    kind of drill counted, so the school, kindergarten and hospital rules cost one query together."""
    required_focus = list(params.get("required_focus") or [])
    if by_org and params["period"] in MONTH_ALIGNED:
        signature = ("org-months", tuple(params.get("forms") or ()), bool(params.get("credit_real_response")),
                     tuple(params.get("scopes") or ()), bool(params.get("double_blind_only")), tuple(required_focus),
                     bool(params.get("run_blind_required")))
        months = periods("month", year, range(1, 13))
        if signature not in run.aggregates:
            inner = _drill_inner(params, months, True, region_code, county_codes, user, now, kinds=None,
                                 org_id=run.org_id)
            run.aggregates[signature] = _aggregate(inner, len(required_focus), run.evidence)
        return _fold(run.aggregates[signature], months, spans, subject_ids), None
    kinds = (params.get("org_kinds") or []) if by_org else None
    inner = _drill_inner(params, spans, by_org, region_code, county_codes, user, now, kinds,
                         org_id=run.org_id if by_org else None)
    return _aggregate(inner, len(required_focus), run.evidence), inner


def _evaluate_drills(rule: ComplianceRule, year: int, region_code, now, user, run) -> list[SubjectResult]:
    params = effective_params(rule)
    spans = periods(params["period"], year, params.get("months"))
    if not spans:
        return []
    required_focus = list(params.get("required_focus") or [])
    by_org = params.get("subject") == "org"
    counties = subject_counties(region_code, key_only=bool(params.get("key_counties_only")) and not by_org)
    county_codes = [c.code for c in counties]
    if by_org:
        subjects = [(str(i), name, county) for i, name, county in
                    subject_orgs(region_code, params.get("org_kinds") or [], county_codes, run.org_id)]
    else:
        subjects = [(c.code, c.name, c.code) for c in counties]
    if not subjects:
        return []

    cells, inner = _drill_cells(params, year, spans, by_org, region_code, county_codes, user, now, run,
                                [subject_id for subject_id, _name, _county in subjects])
    if required_focus and any(c.short for c in cells.values()):
        if inner is None:
            inner = _drill_inner(params, spans, by_org, region_code, county_codes, user, now,
                                 params.get("org_kinds") if by_org else None, org_id=run.org_id if by_org else None)
        short_links = _missing_links(inner, required_focus)
    else:
        short_links = {}
    count = int(params.get("count", 1))
    warning_days = params.get("warning_days", 60)
    results = []
    for subject_id, name, county_code in subjects:
        slots = []
        for index, period in enumerate(spans):
            slot = Slot(period.label, period.start, period.end, required=count)
            cell = cells.get((subject_id, index))
            if cell is not None:
                slot.achieved, slot.planned = cell.done, cell.planned
                if cell.done_id is not None:
                    slot.evidence.append(_drill_evidence(cell.done_id, cell.title, cell.starts_at, cell.real_response,
                                                         cell.note, COMPLETED))
                if cell.planned_id is not None:
                    slot.planned_evidence.append(_drill_evidence(cell.planned_id, cell.p_title, cell.p_starts_at,
                                                                 False, "", PLANNED))
                if cell.short and (subject_id, index) in short_links:
                    slot.missing = short_links[(subject_id, index)]
                if cell.unblind_id is not None:
                    slot.missing = [f"not_run_blind:drill-{cell.unblind_id}", *slot.missing]
            slots.append(slot)
        results.append(_finish("org" if by_org else "region", subject_id, name, county_code, slots, now,
                               warning_days))
    return results


def _missing_links(inner, required_focus: list[str]) -> dict[tuple[str, int], list[str]]:
    """For completed drills that lack a required link: the links the most complete of them lacks."""
    rows = db.session.execute(
        sa.select(inner.c.subject, inner.c.p, inner.c.drill_id, DrillFocus.focus)
        .outerjoin(DrillFocus, sa.and_(DrillFocus.drill_id == inner.c.drill_id, DrillFocus.focus.in_(required_focus)))
        .where(inner.c.status == DrillStatus.COMPLETED, inner.c.links < len(required_focus), inner.c.p.isnot(None)))
    present: dict[tuple[str, int], dict[int, set]] = {}
    for subject, p, drill_id, focus in rows:
        drills = present.setdefault((str(subject), p), {})
        drills.setdefault(drill_id, set())
        if focus is not None:
            drills[drill_id].add(focus.value if hasattr(focus, "value") else focus)
    best = {}
    for cell, drills in present.items():
        fullest = max(drills.values(), key=len)
        best[cell] = [f for f in required_focus if f not in fullest]
    return best


# --- after-action reviews filed within N days ------------------------------------------------------

def _evaluate_reviews(rule, year, region_code, now, user, run) -> list[SubjectResult]:
    params = rule.params
    counties = subject_counties(region_code)
    if not counties:
        return []
    cmap = county_map([c.code for c in counties])
    span = periods("year", year)[0]
    days: sa.ColumnClause[int] = sa.literal_column(str(int(params.get("days", 14))))
    deadline = add_days(later_of(Drill.ends_at, Drill.completed_at), days)
    inner = (sa.select(cmap.c.county_code.label("subject"), Drill.id.label("drill_id"), Drill.title,
                       deadline.label("deadline"), Review.submitted_at)
             .join(cmap, cmap.c.region_code == Drill.region_code)
             .outerjoin(Review, Review.drill_id == Drill.id)
             .where(scanned(Drill.status) == DrillStatus.COMPLETED, scanned(Drill.starts_at) >= span.start,
                    scanned(Drill.starts_at) < span.end, access.compliance_drill_clause(user, now))).subquery()
    filed = sa.and_(inner.c.submitted_at.isnot(None), inner.c.submitted_at <= inner.c.deadline)
    overdue = sa.and_(sa.not_(filed), inner.c.deadline < now)
    pending = sa.and_(inner.c.submitted_at.is_(None), inner.c.deadline >= now)
    totals = {r.subject: r for r in db.session.execute(
        sa.select(inner.c.subject, sa.func.count().label("total"),
                  sa.func.count(sa.case((filed, inner.c.drill_id))).label("filed"),
                  sa.func.count(sa.case((overdue, inner.c.drill_id))).label("overdue"),
                  sa.func.min(sa.case((pending, inner.c.deadline))).label("next_deadline"))
        .group_by(inner.c.subject))}
    listed = _ranked(inner, [inner.c.subject, sa.case((filed, 1), else_=0)], inner.c.deadline,
                     [inner.c.drill_id, inner.c.title, inner.c.deadline, filed.label("filed")]) if run.evidence else {}
    results = []
    for county in counties:
        row = totals.get(county.code)
        evidence, missing = [], []
        for item in listed.get(county.code, []):
            if item.filed:
                evidence.append({"type": "drill", "id": item.drill_id, "title": item.title,
                                 "review_due": item.deadline.isoformat()})
            else:
                missing.append(f"review:drill-{item.drill_id}")
        slot = Slot(span.label, span.start, span.end, required=row.total if row else 0,
                    achieved=row.filed if row else 0, evidence=evidence)
        if row and row.overdue:
            slot.end = now  # a review past its deadline is missed for good
        elif row and row.next_deadline is not None:
            slot.end = row.next_deadline
        result = _finish("region", county.code, county.name, county.code, [slot], now,
                         params.get("warning_days", 60), missing_override=missing)
        results.append(result)
    return results


def _ranked(inner, partition, order, columns) -> dict[str, list]:
    """Up to LIST_LIMIT rows per partition, by one windowed query."""
    ranked = sa.select(*columns, inner.c.subject,
                       sa.func.row_number().over(partition_by=partition, order_by=order).label("rank")).subquery()
    listed: dict[str, list] = {}
    for row in db.session.connection().execute(
            sa.select(ranked).where(ranked.c.rank <= LIST_LIMIT).order_by(ranked.c.rank)):
        listed.setdefault(row.subject, []).append(row)
    return listed


# --- corrective actions: none past due and not verified -------------------------------------------

def _evaluate_actions(rule, year, region_code, now, user, run) -> list[SubjectResult]:
    params = rule.params
    counties = subject_counties(region_code)
    if not counties:
        return []
    cmap = county_map([c.code for c in counties])
    today = local_today(now)
    soon = today + timedelta(days=int(params.get("warning_days", 60)))
    inner = (sa.select(cmap.c.county_code.label("subject"), CorrectiveAction.id.label("action_id"),
                       CorrectiveAction.description, CorrectiveAction.due_on, CorrectiveAction.status,
                       Finding.summary)
             .join(Finding, Finding.id == CorrectiveAction.finding_id)
             .join(cmap, cmap.c.region_code == Finding.region_code)
             .where(CorrectiveAction.due_on <= date(year, 12, 31))).subquery()
    verified = inner.c.status == ActionStatus.VERIFIED
    overdue = sa.and_(sa.not_(verified), inner.c.due_on < today)
    due_soon = sa.and_(sa.not_(verified), inner.c.due_on >= today, inner.c.due_on <= soon)
    totals = {r.subject: r for r in db.session.execute(
        sa.select(inner.c.subject,
                  sa.func.count(sa.case((inner.c.due_on < today, inner.c.action_id))).label("due"),
                  sa.func.count(sa.case((sa.and_(verified, inner.c.due_on < today), inner.c.action_id)))
                  .label("closed"),
                  sa.func.count(sa.case((overdue, inner.c.action_id))).label("overdue"),
                  sa.func.count(sa.case((due_soon, inner.c.action_id))).label("due_soon"))
        .group_by(inner.c.subject))}
    listed = _ranked(inner, [inner.c.subject, sa.case((verified, 1), else_=0)], inner.c.due_on,
                     [inner.c.action_id, inner.c.summary, inner.c.due_on, verified.label("verified"),
                      overdue.label("overdue")]) if run.evidence else {}
    results = []
    for county in counties:
        row = totals.get(county.code)
        evidence = [{"type": "corrective_action", "id": i.action_id, "summary": i.summary,
                     "due_on": i.due_on.isoformat()} for i in listed.get(county.code, []) if i.verified]
        missing = [f"corrective_action:{i.action_id}" for i in listed.get(county.code, [])
                   if not i.verified and i.overdue]
        if row and row.overdue:
            status = ComplianceStatus.MISSED
        elif row and row.due_soon:
            status = ComplianceStatus.AT_RISK
        else:
            status = ComplianceStatus.MET
        results.append(SubjectResult("region", county.code, county.name, county.code, status,
                                     row.due if row else 0, row.closed if row else 0, evidence, missing, []))
    return results


# --- outreach: observance-day campaigns and six-into coverage -------------------------------------

def _outreach_slots(region_code, now, kind, slot_column):
    """Activities of `kind` per county and slot (`slot_column`), counted as held (up to today) or planned."""
    counties = subject_counties(region_code)
    if not counties:
        return counties, {}
    cmap = county_map([c.code for c in counties])
    inner = (sa.select(cmap.c.county_code.label("subject"), OutreachActivity.id, OutreachActivity.held_on,
                       slot_column.label("slot"))
             .join(cmap, cmap.c.region_code == OutreachActivity.region_code)
             .where(OutreachActivity.kind == kind)).subquery()
    held = inner.c.held_on <= local_today(now)
    rows = db.session.execute(
        sa.select(inner.c.subject, inner.c.slot,
                  sa.func.count(sa.case((held, inner.c.id))).label("done"),
                  sa.func.count(sa.case((sa.not_(held), inner.c.id))).label("planned"),
                  sa.func.min(sa.case((held, inner.c.id))).label("done_id"),
                  sa.func.min(sa.case((sa.not_(held), inner.c.id))).label("planned_id"))
        .where(inner.c.slot.isnot(None)).group_by(inner.c.subject, inner.c.slot))
    return counties, {(r.subject, r.slot): r for r in rows}


def _outreach_results(rule, counties, cells, slot_defs, now, titles) -> list[SubjectResult]:
    results = []
    for county in counties:
        slots = []
        for slot_key, label, start, end in slot_defs:
            slot = Slot(label, start, end)
            row = cells.get((county.code, slot_key))
            if row is not None:
                slot.achieved, slot.planned = row.done, row.planned
                if row.done_id is not None:
                    slot.evidence.append({"type": "outreach", "id": row.done_id, "slot": label,
                                          "title": titles.get(row.done_id, "")})
                if row.planned_id is not None:
                    slot.planned_evidence.append({"type": "outreach", "id": row.planned_id, "slot": label,
                                                  "title": titles.get(row.planned_id, "")})
            slots.append(slot)
        results.append(_finish("region", county.code, county.name, county.code, slots, now,
                               rule.params.get("warning_days", 60)))
    return results


def _activity_titles(cells) -> dict[int, str]:
    ids = {i for r in cells.values() for i in (r.done_id, r.planned_id) if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(OutreachActivity.id, OutreachActivity.title)
                                   .where(OutreachActivity.id.in_(ids))).tuples().all())


def _evaluate_observance(rule, year, region_code, now, user, run) -> list[SubjectResult]:
    window = int(rule.params.get("window_days", 3))
    days = [ObservanceDay(d) for d in rule.params.get("days") or []]
    spans = []
    for day in days:
        month, dom = day.month_day
        centre = date(year, month, dom)
        spans.append(Period(day.value, centre - timedelta(days=window), centre + timedelta(days=window)))
    if not spans:
        return []
    matches_day = [sa.and_(OutreachActivity.held_on >= p.first_day, OutreachActivity.held_on <= p.last_day,
                           OutreachActivity.observance_day == d)
                   for d, p in zip(days, spans, strict=True)]
    slot_column = sa.case(*[(clause, index) for index, clause in enumerate(matches_day)], else_=sa.null())
    counties, cells = _outreach_slots(region_code, now, OutreachKind.OBSERVANCE_CAMPAIGN, slot_column)
    slot_defs = [(index, p.label, p.start, p.end) for index, p in enumerate(spans)]
    return _outreach_results(rule, counties, cells, slot_defs, now, _activity_titles(cells))


def _evaluate_six_into(rule, year, region_code, now, user, run) -> list[SubjectResult]:
    settings = list(rule.params.get("settings") or [])
    span = periods("year", year)[0]
    in_year = sa.and_(OutreachActivity.held_on >= span.first_day, OutreachActivity.held_on <= span.last_day,
                      OutreachActivity.setting.in_(settings))
    slot_column = sa.case((in_year, OutreachActivity.setting), else_=sa.null())
    counties, cells = _outreach_slots(region_code, now, OutreachKind.SIX_INTO, slot_column)
    cells = {(subject, getattr(slot, "value", slot)): row for (subject, slot), row in cells.items()}
    slot_defs = [(s, s, span.start, span.end) for s in settings]
    return _outreach_results(rule, counties, cells, slot_defs, now, _activity_titles(cells))


EVALUATORS = {"drills": _evaluate_drills, "reviews": _evaluate_reviews, "actions": _evaluate_actions,
              "observance": _evaluate_observance, "six_into": _evaluate_six_into}


@dataclass
class Run:
    """What the rules of one evaluate() call share."""
    evidence: bool = True
    aggregates: dict = field(default_factory=dict)
    org_id: int | None = None  # evaluate the unit rules of this unit alone


def evaluate(year: int, region_code: str | None = None, now: datetime | None = None, user=None,
             rule_keys=None, evidence: bool = True, org_id: int | None = None) -> list[RuleResult]:
    """Every enabled rule of `year` for every subject in `region_code` (None: all), as seen at `now`.

    `user` limits which drills count to what that user may know of (see compliance_drill_clause);
    the nightly job passes None and sees everything. Without `evidence`, results carry statuses,
    counts and missing items but evidence only as ids (what the dashboard matrix needs). With
    `org_id`, only the unit rules are evaluated, for that one unit.
    """
    now = now or utcnow()
    if region_code is not None and db.session.get(Region, region_code) is None:
        access.not_found(_("No such region."))
    results, run = [], Run(evidence=evidence, org_id=org_id)
    with _no_garbage_collection():
        for rule in ensure_rules(year):
            if not rule.enabled or (rule_keys is not None and rule.key not in rule_keys):
                continue
            if org_id is not None and rule.params.get("subject") != "org":
                continue
            results.append(RuleResult(rule, EVALUATORS[evaluator_of(rule)](rule, year, region_code, now, user, run)))
    return results


@contextmanager
def _no_garbage_collection():
    """An evaluation allocates tens of thousands of small acyclic objects; the cyclic collector, run
    over the whole application's objects each time, would take longer than the evaluation itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def results_to_dict(year: int, results: list[RuleResult]) -> dict:
    return {"year": year, "rules": [r.to_dict() for r in results]}


def format_table(results: list[RuleResult]) -> str:
    """Plain text for the command line: one block per rule, one line per subject."""
    from drillmgr.compliance.labels import missing_label

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


def snapshot_changes(results: list[RuleResult], now: datetime | None = None, commit: bool = True) -> list[tuple]:
    """Stores each subject's status and returns the worsenings since the last run, as
    (subject, rule_key, old, new); running it again with the same results returns nothing.

    With `commit=False` the caller commits, so that the new snapshots land in the same transaction
    as the alerts it sends about them."""
    now = now or utcnow()
    if not results:
        return []
    year = results[0].rule.year
    keys = [r.key for r in results]
    stored = {(s.rule_key, s.subject_type, s.subject_id): s for s in db.session.scalars(
        sa.select(ComplianceSnapshot).where(ComplianceSnapshot.year == year, ComplianceSnapshot.rule_key.in_(keys)))}
    worsened = []
    for rule_result in results:
        for result in rule_result.results:
            snap = stored.get((rule_result.key, result.subject_type, result.subject_id))
            if snap is None:
                db.session.add(ComplianceSnapshot(rule_key=rule_result.key, year=year, subject_type=result.subject_type,
                                                  subject_id=result.subject_id, status=result.status, evaluated_at=now))
                continue
            if RANK[result.status] < RANK[snap.status]:
                worsened.append((result.subject_dict(), rule_result.key, snap.status, result.status))
            if snap.status != result.status:
                snap.status = result.status
            snap.evaluated_at = now
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return worsened
