"""Drill rules (key-county live and double-blind drills, evacuation of schools, kindergartens, hospitals):
`count` qualifying drills per period, per county or per unit.

Only completed drills are evidence and only planned ones make a slot on track; cancelled drills never
count. Double-blind drills count, but for users who may not see a double-blind drill before it starts
(access.compliance_drill_clause), such a drill is left out of their statuses and evidence. Where a rule has
`run_blind_required`, a completed double-blind drill counts only if the exercise console revealed it at its
start (its session's `revealed_by_console`); otherwise it is listed as missing ``not_run_blind:drill-<id>``.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.compliance.periods import Period, periods
from drillmgr.compliance.results import Evidence, Slot, SubjectOf, SubjectResult, finish
from drillmgr.compliance.rule_params import DrillParams
from drillmgr.compliance.sqlfuncs import scanned
from drillmgr.compliance.subjects import (
    Run,
    county_map,
    county_subjects,
    org_scope,
    period_index,
    subject_counties,
    subject_orgs,
)
from drillmgr.drills.models import Drill, DrillFocus, drill_participants
from drillmgr.enums import DrillStatus
from drillmgr.exercises.models import ExerciseSession
from drillmgr.db import streamed_rows
from drillmgr.extensions import db
from drillmgr.localtime import local_zone
from drillmgr.orgs.models import Organisation

COMPLETED, PLANNED = DrillStatus.COMPLETED.value, DrillStatus.PLANNED.value
MONTH_ALIGNED = ("month", "quarter", "half", "year")
CellKey = tuple[str, int]  # (subject id, period index)
# One row of a drill rule's aggregate, as the database gives it: the subject (a county's code, or a unit's id as a
# number), the period's index, then the counts and the earliest completed and planned drill at these places.
# Plain tuples: millions at national scale, where an object per row cost more than its query.
Cell = tuple[Any, ...]
(
    DONE_COUNT,
    PLANNED_COUNT,
    SHORT_COUNT,
    DONE_ID,
    PLANNED_ID,
    TITLE,
    STARTS_AT,
    REAL_RESPONSE,
    NOTE,
    P_TITLE,
    P_STARTS_AT,
    UNBLIND_COUNT,  # completed double-blind drills not run blind through the console, where that is required
    UNBLIND_ID,
) = range(2, 15)
SubjectCells = dict[Any, dict[int, Cell]]  # each subject's cells, by period index


class LocalTimes(dict[datetime, str]):
    """Moments as api_datetime writes them, in the local zone read once; each moment is written once an
    evaluation (drills start at a few thousand moments a year, and there are millions of evidence items)."""

    def __init__(self, zone: ZoneInfo) -> None:
        super().__init__()
        self.zone = zone

    def __missing__(self, moment: datetime) -> str:
        written = self[moment] = moment.astimezone(self.zone).isoformat()
        return written


def _drill_evidence(
    drill_id: int,
    title: str | None,
    starts_at: datetime | None,
    real_response: bool | None,
    note: str | None,
    status: str,
    times: LocalTimes,
) -> Evidence:
    if starts_at is None:  # evaluated without details
        return {"type": "drill", "id": drill_id, "status": status}
    item: Evidence = {
        "type": "drill",
        "id": drill_id,
        "title": title,
        "starts_at": times[starts_at],
        "status": status,
    }
    if real_response:
        item["credited_as"] = "real_response"
        item["reason"] = note
    return item


def _drill_filters(params: DrillParams, run: Run, lo: datetime, hi: datetime) -> list[sa.ColumnElement[bool]]:
    form_clause: sa.ColumnElement[bool] = Drill.form.in_(params.forms) if params.forms else sa.true()
    if params.credit_real_response:
        form_clause = sa.or_(form_clause, Drill.real_response.is_(True))
    starts_at = scanned(Drill.starts_at)
    filters = [
        Drill.status != DrillStatus.CANCELLED,
        starts_at >= lo,
        starts_at < hi,
        form_clause,
        access.compliance_drill_clause(run.actor, run.now),
    ]
    if params.scopes:
        filters.append(Drill.scope.in_(params.scopes))
    if params.double_blind_only:
        filters.append(Drill.double_blind.is_(True))
    return filters


def _run_blind(params: DrillParams) -> sa.ColumnElement[int]:
    """1 for a drill that counts as run blind: the exercise console revealed the double-blind drill at its
    start (not before); every drill, where the rule does not ask for it."""
    if not params.run_blind_required:
        return sa.literal(1)
    console = (
        sa.exists()
        .where(ExerciseSession.drill_id == Drill.id, ExerciseSession.revealed_by_console.is_(True))
        .correlate(Drill)
    )
    return sa.case((sa.and_(Drill.double_blind.is_(True), console), 1), else_=0)


def _drill_inner(
    params: DrillParams,
    run: Run,
    spans: Sequence[Period],
    county_codes: Sequence[str],
    kinds: Sequence[str] | None,
    org_ids: Sequence[int] | None = None,
) -> sa.Subquery:
    """One row per (subject, drill) that a drill rule may count, with its period index and key links."""
    filters = _drill_filters(params, run, spans[0].start, spans[-1].end)
    links = (
        sa.select(sa.func.count())
        .where(DrillFocus.drill_id == Drill.id, DrillFocus.focus.in_(params.required_focus))
        .correlate(Drill)
        .scalar_subquery()
        if params.required_focus
        else sa.literal(0)
    )
    columns = [
        Drill.id.label("drill_id"),
        Drill.status.label("status"),
        links.label("links"),
        _run_blind(params).label("run_blind"),
        period_index(Drill.starts_at, spans).label("p"),
    ]
    if not params.by_org:
        cmap = county_map(county_codes)
        return (
            sa.select(cmap.c.county_code.label("subject"), *columns)
            # Not by the region index: a county rule's few drills are found by their form, and each is placed
            # in its county (SQLite's planner, given statistics, would read every drill of each region instead).
            .join(cmap, cmap.c.region_code == scanned(Drill.region_code))
            .where(*filters)
        ).subquery()
    # A unit is credited with the drills it organised and those it took part in (once, if both).
    own = sa.select(Drill.organizer_org_id.label("subject"), *columns).where(
        Drill.organizer_org_id.isnot(None), *filters
    )
    joined = (
        sa.select(drill_participants.c.org_id.label("subject"), *columns)
        .join(Drill, Drill.id == drill_participants.c.drill_id)
        .where(
            *filters, sa.or_(Drill.organizer_org_id.is_(None), Drill.organizer_org_id != drill_participants.c.org_id)
        )
    )
    if kinds is not None or run.region_code is not None:
        orgs = sa.select(Organisation.id).where(org_scope(run.region_code))
        if kinds is not None:
            orgs = orgs.where(Organisation.kind.in_(kinds))
        own = own.where(scanned(Drill.organizer_org_id).in_(orgs))
        joined = joined.where(drill_participants.c.org_id.in_(orgs))
    if org_ids is not None:
        own = own.where(Drill.organizer_org_id.in_(org_ids))
        joined = joined.where(drill_participants.c.org_id.in_(org_ids))
    return sa.union_all(own, joined).subquery()


def _aggregate_query(inner: sa.Subquery, required_count: int, with_details: bool = True) -> sa.Select[Any]:
    """Counts per (subject, period) and the earliest completed and planned drill, a Cell a row; `with_details`
    adds their titles and dates (the evidence) by joining them back."""
    full = inner.c.links >= required_count
    blind = inner.c.run_blind == 1
    done = sa.and_(inner.c.status == DrillStatus.COMPLETED, full, blind)
    planned = sa.and_(inner.c.status == DrillStatus.PLANNED, full)
    short = sa.and_(inner.c.status == DrillStatus.COMPLETED, sa.not_(full))
    unblind = sa.and_(inner.c.status == DrillStatus.COMPLETED, sa.not_(blind))
    agg = (
        sa.select(
            inner.c.subject,
            inner.c.p,
            sa.func.count(sa.case((done, inner.c.drill_id))).label("done"),
            sa.func.count(sa.case((planned, inner.c.drill_id))).label("planned"),
            sa.func.count(sa.case((short, inner.c.drill_id))).label("short"),
            sa.func.min(sa.case((done, inner.c.drill_id))).label("done_id"),
            sa.func.min(sa.case((planned, inner.c.drill_id))).label("planned_id"),
            sa.func.count(sa.case((unblind, inner.c.drill_id))).label("unblind"),
            sa.func.min(sa.case((unblind, inner.c.drill_id))).label("unblind_id"),
        )
        .where(inner.c.p.isnot(None))
        .group_by(inner.c.subject, inner.c.p)
    ).subquery()
    counts = [agg.c.done, agg.c.planned, agg.c.short, agg.c.done_id, agg.c.planned_id]
    not_run_blind = [agg.c.unblind, agg.c.unblind_id]
    if with_details:
        done_drill = _looked_up(agg.c.done_id, "title", "starts_at", "real_response", "real_response_note")
        planned_drill = _looked_up(agg.c.planned_id, "title", "starts_at")
        query = (
            sa.select(agg.c.subject, agg.c.p, *counts, *done_drill.columns, *planned_drill.columns, *not_run_blind)
            .select_from(agg)
            .outerjoin(done_drill.source, done_drill.on)
            .outerjoin(planned_drill.source, planned_drill.on)
        )
    else:
        query = sa.select(agg.c.subject, agg.c.p, *counts, *[sa.null()] * 6, *not_run_blind)
    return query


def _cells(rows: Iterable[Cell]) -> SubjectCells:
    cells: SubjectCells = {}
    for row in rows:
        found = cells.get(row[0])
        if found is None:
            cells[row[0]] = {row[1]: row}
        else:
            found[row[1]] = row
    return cells


class LookedUp(NamedTuple):
    source: sa.FromClause | type[Drill]  # a lateral subquery, or an alias of drills
    on: sa.ColumnElement[bool]
    columns: list[sa.ColumnElement[Any]]


def _looked_up(drill_id: sa.ColumnElement[Any], *names: str) -> LookedUp:
    """The drill each aggregated row names by `drill_id`, found by its key. On PostgreSQL a lateral subquery: a
    plain join let the planner, which cannot foresee how many rows the aggregate gives, hash every drill of the
    table for it (as long again as the aggregate at prefecture scale). SQLite looks each one up by key anyway."""
    if db.engine.dialect.name != "postgresql":
        drill = aliased(Drill)
        return LookedUp(drill, drill.id == drill_id, [getattr(drill, name) for name in names])
    # LIMIT (a key finds one drill at most) keeps the planner from turning the subquery back into that join.
    found = sa.select(*[getattr(Drill, name) for name in names]).where(Drill.id == drill_id).limit(1).lateral()
    return LookedUp(found, sa.true(), list(found.c))


def _plain_rows(query: sa.Select[Any]) -> Sequence[Cell]:
    """The query's rows, fetched at once as plain tuples (see Cell): millions at national scale, where named
    access or a fetch per row costs more than the query. psycopg gives each value as the evaluation uses it (a
    timestamp aware, in UTC, see db.configure_sessions), so its rows are taken as they come, without a Row and a
    conversion per timestamp (3–5 s of 2.3 million rows); SQLite's timestamps are text, which UTCDateTime reads."""
    result = db.session.connection().execute(query)
    if db.engine.dialect.name != "postgresql":
        return result.tuples().all()
    rows = result.cursor.fetchall()
    result.close()
    return rows


def _combine(cells: list[Cell]) -> Cell:
    """Cells of one subject added up into one of a longer period: the counts summed, the earliest drills (by id)
    kept. One pass over them: hundreds of thousands are added up at national scale."""
    if len(cells) == 1:
        return cells[0]
    done_count = planned_count = short_count = unblind_count = 0
    done: Cell | None = None
    planned: Cell | None = None
    unblind_id = None
    for cell in cells:
        done_count += cell[DONE_COUNT]
        planned_count += cell[PLANNED_COUNT]
        short_count += cell[SHORT_COUNT]
        unblind_count += cell[UNBLIND_COUNT]
        if cell[DONE_ID] is not None and (done is None or cell[DONE_ID] < done[DONE_ID]):
            done = cell
        if cell[PLANNED_ID] is not None and (planned is None or cell[PLANNED_ID] < planned[PLANNED_ID]):
            planned = cell
        if cell[UNBLIND_ID] is not None and (unblind_id is None or cell[UNBLIND_ID] < unblind_id):
            unblind_id = cell[UNBLIND_ID]
    return (
        cells[0][0],
        None,
        done_count,
        planned_count,
        short_count,
        done[DONE_ID] if done else None,
        planned[PLANNED_ID] if planned else None,
        *(done[TITLE : NOTE + 1] if done else (None, None, None, None)),
        *(planned[P_TITLE : P_STARTS_AT + 1] if planned else (None, None)),
        unblind_count,
        unblind_id,
    )


def _per_span(found: dict[int, Cell], places: list[list[int]]) -> list[Cell | None]:
    """A subject's cell for each of the rule's periods (None: no drill): the cells at each period's `places`,
    added up where there are several (months into a quarter)."""
    spans: list[Cell | None] = []
    for at in places:
        parts = [found[m] for m in at if m in found]
        spans.append(_combine(parts) if parts else None)
    return spans


def _subject_drills(params: DrillParams, run: Run, spans: list[Period], county_codes: list[str]) -> sa.Subquery:
    if params.by_org:
        return _drill_inner(params, run, spans, county_codes, params.org_kinds, run.org_ids)
    return _drill_inner(params, run, spans, county_codes, None)


def _subjects(params: DrillParams, run: Run) -> tuple[list[SubjectOf], list[str]]:
    """The rule's subjects, and the codes of the counties they are in."""
    counties = subject_counties(run.region_code, key_only=params.key_counties_only and not params.by_org)
    county_codes = [c.code for c in counties]
    if params.by_org:
        return _units(params.org_kinds, run, county_codes), county_codes
    return county_subjects(counties), county_codes


def _units(kinds: Sequence[str], run: Run, county_codes: list[str]) -> list[SubjectOf]:
    """The units of `kinds` in scope: those of every kind the run's unit rules are about are read once, and
    each rule takes its own kinds from them."""
    if ("units",) not in run.aggregates:
        run.aggregates[("units",)] = subject_orgs(run.region_code, run.unit_kinds, county_codes, run.org_ids)
    wanted = set(kinds)
    return [unit for kind, unit in run.aggregates[("units",)] if kind in wanted]


def evaluate_drills(params: DrillParams, run: Run) -> list[SubjectResult]:
    spans = periods(params.period, run.year, params.months)
    if not spans:
        return []
    if over_unit_months(params):
        return _unit_results(params, run)
    subjects, county_codes = _subjects(params, run)
    if not subjects:
        return []
    inner = _subject_drills(params, run, spans, county_codes)
    cells = _cells(_plain_rows(_aggregate_query(inner, len(params.required_focus), run.evidence)))
    short_links: dict[CellKey, tuple[str, ...]] = {}
    if params.required_focus and any(cell[SHORT_COUNT] for found in cells.values() for cell in found.values()):
        short_links = _missing_links(inner, params.required_focus)
    shape = RuleShape(params, spans, [[index] for index in range(len(spans))], short_links, run.now)
    # A unit's cells are found by its id as the number.
    return [shape.result(s, cells.get(int(s.id) if s.type == "org" else s.id)) for s in subjects]


class RuleShape:
    """What turns a subject's cells into its result under one drill rule: the rule's periods, the places of the
    cells each period adds up, the links missing from its short cells."""

    def __init__(
        self,
        params: DrillParams,
        spans: list[Period],
        places: list[list[int]],
        short_links: dict[CellKey, tuple[str, ...]],
        now: datetime,
    ) -> None:
        self.params = params
        self.spans = spans
        self.places = places
        self.singles = [at[0] for at in places] if all(len(at) == 1 for at in places) else None
        self.empty: list[Cell | None] = [None] * len(spans)
        self.short_links = short_links
        self.now = now
        self.warning = params.warning
        self.times = LocalTimes(local_zone())

    def result(self, subject: SubjectOf, found: dict[int, Cell] | None) -> SubjectResult:
        """The subject's result from its cells by period index (None: no drill at all)."""
        if found is None:
            row = self.empty
        elif self.singles is not None:  # one cell per period: nothing to add up
            row = [found.get(at) for at in self.singles]
        else:
            row = _per_span(found, self.places)
        short_links = self.short_links
        slots = [
            _slot(
                self.params,
                period,
                cell,
                short_links.get((subject.id, index)) if short_links else None,
                self.times,
            )
            for index, (period, cell) in enumerate(zip(self.spans, row, strict=True))
        ]
        return finish(subject, slots, self.now, self.warning)


def over_unit_months(params: DrillParams) -> bool:
    """Whether a rule is about units over whole months (the school, kindergarten and hospital rules): such rules
    are evaluated together, from cells of a unit and a calendar month."""
    return params.by_org and params.period in MONTH_ALIGNED


def _signature(params: DrillParams) -> tuple[Any, ...]:
    """What decides which drills a unit rule counts: unit rules alike in it share one aggregate."""
    return (
        params.forms,
        params.credit_real_response,
        params.scopes,
        params.double_blind_only,
        params.required_focus,
        params.run_blind_required,
    )


def _unit_results(params: DrillParams, run: Run) -> list[SubjectResult]:
    """A unit rule over whole months: evaluated with every rule of the run that counts the same drills (the
    school, kindergarten and hospital rules), from one GROUP BY (unit, month) read once for all of them."""
    key = ("unit-results", params)
    if key not in run.aggregates:
        alike = [p for p in run.unit_rules if _signature(p) == _signature(params)]
        _evaluate_units(alike if params in alike else [*alike, params], run)
    results: list[SubjectResult] = run.aggregates[key]
    return results


def _evaluate_units(rules: list[DrillParams], run: Run) -> None:
    """Each of `rules` evaluated for its units, and kept in run.aggregates. The cells come ordered by unit, chunk by
    chunk as the database sends them (db.streamed_rows), and each unit's results are made as its cells come in,
    while the database works out the next: at national scale the evaluation's Python work then overlaps the
    server's looking up of each cell's drills."""
    months = periods("month", run.year, range(1, 13))
    counties = subject_counties(run.region_code)
    county_codes = [c.code for c in counties]
    subjects = {p: _units(p.org_kinds, run, county_codes) for p in rules}
    shapes = {p: _unit_shape(p, run, months, county_codes) for p in rules}
    kinds_of: dict[str, list[DrillParams]] = {}
    for p in rules:
        for kind in p.org_kinds:
            kinds_of.setdefault(kind, []).append(p)
    unit_of = {int(unit.id): (unit, kinds_of.get(kind, [])) for kind, unit in run.aggregates[("units",)]}
    made: dict[DrillParams, dict[str, SubjectResult]] = {p: {} for p in rules}

    def done(subject_id: int, found: dict[int, Cell]) -> None:
        of_unit = unit_of.get(subject_id)
        if of_unit is not None:
            unit, unit_rules = of_unit
            for p in unit_rules:
                made[p][unit.id] = shapes[p].result(unit, found)

    if any(subjects.values()):
        inner = _drill_inner(rules[0], run, months, county_codes, kinds=run.unit_kinds, org_ids=run.org_ids)
        query = _aggregate_query(inner, len(rules[0].required_focus), run.evidence)
        query = query.order_by(query.selected_columns[0])  # by unit
        current: Any = None
        found: dict[int, Cell] = {}
        for chunk in streamed_rows(db.session.connection(), query):
            for cell in chunk:
                if cell[0] != current:
                    if found:
                        done(current, found)
                    current, found = cell[0], {}
                found[cell[1]] = cell
        if found:
            done(current, found)
    for p in rules:
        shape, of_rule = shapes[p], made[p]
        run.aggregates[("unit-results", p)] = [of_rule.get(unit.id) or shape.result(unit, None) for unit in subjects[p]]


def _unit_shape(params: DrillParams, run: Run, months: list[Period], county_codes: list[str]) -> RuleShape:
    """A unit rule's shape over cells of calendar months: each of its periods adds up its months. Its short cells'
    missing links are found beforehand, where it asks for links (no query can be sent while the cells come in)."""
    spans = periods(params.period, run.year, params.months)
    places = [
        [m for m, month in enumerate(months) if span.first_day <= month.first_day and month.last_day <= span.last_day]
        for span in spans
    ]
    short_links: dict[CellKey, tuple[str, ...]] = {}
    if params.required_focus:
        short_links = _missing_links(_subject_drills(params, run, spans, county_codes), params.required_focus)
    return RuleShape(params, spans, places, short_links, run.now)


def _slot(
    params: DrillParams, period: Period, cell: Cell | None, short_links: tuple[str, ...] | None, times: LocalTimes
) -> Slot:
    if cell is None:
        return Slot(period.label, period.start, period.end, params.count)
    evidence: tuple[Evidence, ...] = ()
    if cell[DONE_ID] is not None:
        evidence = (
            _drill_evidence(
                cell[DONE_ID], cell[TITLE], cell[STARTS_AT], cell[REAL_RESPONSE], cell[NOTE], COMPLETED, times
            ),
        )
    planned: tuple[Evidence, ...] = ()
    if cell[PLANNED_ID] is not None:
        planned = (_drill_evidence(cell[PLANNED_ID], cell[P_TITLE], cell[P_STARTS_AT], False, "", PLANNED, times),)
    missing = short_links if cell[SHORT_COUNT] and short_links is not None else ()
    if cell[UNBLIND_ID] is not None:
        missing = (f"not_run_blind:drill-{cell[UNBLIND_ID]}", *missing)
    return Slot(
        period.label,
        period.start,
        period.end,
        params.count,
        cell[DONE_COUNT],
        cell[PLANNED_COUNT],
        evidence,
        planned,
        missing,
    )


def _missing_links(inner: sa.Subquery, required_focus: Sequence[str]) -> dict[CellKey, tuple[str, ...]]:
    """For completed drills that lack a required link: the links the most complete of them lacks."""
    rows = db.session.execute(
        sa.select(inner.c.subject, inner.c.p, inner.c.drill_id, DrillFocus.focus)
        .outerjoin(DrillFocus, sa.and_(DrillFocus.drill_id == inner.c.drill_id, DrillFocus.focus.in_(required_focus)))
        .where(inner.c.status == DrillStatus.COMPLETED, inner.c.links < len(required_focus), inner.c.p.isnot(None))
    )
    present: dict[CellKey, dict[int, set[Any]]] = {}
    for subject, p, drill_id, focus in rows:
        drills = present.setdefault((str(subject), p), {})
        drills.setdefault(drill_id, set())
        if focus is not None:
            drills[drill_id].add(focus.value if hasattr(focus, "value") else focus)
    best = {}
    for cell, drills in present.items():
        fullest = max(drills.values(), key=len)
        best[cell] = tuple(f for f in required_focus if f not in fullest)
    return best
