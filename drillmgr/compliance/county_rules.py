"""The county rules over what follows drills and outreach: after-action reviews filed in time, no corrective
action past due, a campaign for each observance day, six-into activities in every setting."""

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.compliance.periods import Period, periods
from drillmgr.compliance.results import Evidence, Slot, SubjectResult, finish
from drillmgr.compliance.rule_params import ActionParams, ObservanceParams, ReviewParams, SixIntoParams
from drillmgr.compliance.sqlfuncs import add_days, aware, later_of, scanned
from drillmgr.compliance.subjects import RegionTotals, Run, Totals, county_map, county_subjects, subject_counties
from drillmgr.drills.models import Drill
from drillmgr.enums import ActionStatus, ComplianceStatus, DrillStatus, ObservanceDay, OutreachKind
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.localtime import local_today
from drillmgr.outreach.models import OutreachActivity
from drillmgr.regions.models import Region

LIST_LIMIT = 20  # evidence and missing items listed per subject for rules over many drills or actions


@dataclass(frozen=True)
class ListBounds:
    """Where a county's listing may stop reading: a year of drills, sorted whole for their first twenty, would
    spill to disk at national scale. The totals query also counts each county's rows before every step (values
    of the listing's first order column); each group (county, with or without the flag) is then sorted only up
    to the first step that holds, by its share of the county's rows, twice LIST_LIMIT of them. Where a group
    still comes out short, it is listed again from all its rows, so what is listed is always exact.

    `sizes` names the totals that hold a county's number of rows and of those with the flag.
    """

    steps: Sequence[Any]
    sizes: tuple[str, str]
    after_all: Any  # a value after every row's

    def _groups(self, counted: Iterable[Any]) -> Iterator[tuple[Any, bool, int, int]]:
        """Each county's totals row, with or without the flag, the group's size and the county's."""
        for row in counted:
            total, flagged = (getattr(row, name) for name in self.sizes)
            yield row, True, flagged, total
            yield row, False, total - flagged, total

    def first_cutoffs(self, counted: Iterable[Any]) -> dict[tuple[int, bool], Any]:
        return {
            (row.county_no, with_flag): self._cutoff(row, size, total)
            for row, with_flag, size, total in self._groups(counted)
        }

    def _cutoff(self, row: Any, size: int, total: int) -> Any:
        if size <= LIST_LIMIT:
            return self.after_all
        for index, step in enumerate(self.steps):
            if getattr(row, f"before_{index}") * size >= 2 * LIST_LIMIT * total:
                return step
        return self.after_all

    def short_groups(self, counted: Iterable[Any], rows: list[Any]) -> list[tuple[int, bool]]:
        found = Counter((row.county_no, bool(row.flagged)) for row in rows)
        return [
            (row.county_no, with_flag)
            for row, with_flag, size, _ in self._groups(counted)
            if found[(row.county_no, with_flag)] < min(size, LIST_LIMIT)
        ]

    def before_cutoff(
        self, first: Any, flag: sa.ColumnElement[bool], county: Any, cutoffs: dict[tuple[int, bool], Any]
    ) -> list[sa.ColumnElement[bool]]:
        def by_county(with_flag: bool) -> sa.Case[Any]:
            values = {
                no: sa.bindparam(None, cutoff, type_=first.type)
                for (no, f), cutoff in cutoffs.items()
                if f is with_flag
            }
            return sa.case(values, value=county, else_=sa.bindparam(None, self.after_all, type_=first.type))

        latest = max(cutoffs.values(), default=self.after_all)
        return [
            first < sa.bindparam(None, latest, type_=first.type),
            first < sa.case((flag, by_county(True)), else_=by_county(False)),
        ]


def _county_lists(
    inner: sa.Subquery,
    flag: sa.ColumnElement[bool],
    order: list[Any],
    columns: list[Any],
    totals: dict[str, Any],
    listing: bool,
    bounds: ListBounds | None = None,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Per county (subject): the `totals` aggregates over all its rows (one GROUP BY), and up to LIST_LIMIT of
    its rows with `flag` and as many without, first by `order` (one windowed query; only when `listing`).

    Both group the county by its number (county_map's county_no), as a code compared as text sorts slower,
    and the windowed query sorts narrow rows: what it lists is looked up after. (One query for both would
    read the rows once, but SQLite sorts them again for each window.) With `bounds`, the windowed query sorts
    only the rows that come first (see ListBounds).
    """
    county = inner.c.county_no
    before = {}
    if bounds is not None:
        before = {f"before_{i}": sa.func.count(sa.case((order[0] < step, 1))) for i, step in enumerate(bounds.steps)}
    counted = {
        row.subject: row
        for row in db.session.execute(
            sa.select(
                sa.func.min(inner.c.subject).label("subject"),
                county.label("county_no"),
                *[a.label(n) for n, a in (totals | before).items()],
            ).group_by(county)
        )
    }
    if not listing:
        return counted, {}
    if bounds is None or not counted:
        rows = _ranked_rows(inner, flag, order, columns, [])
    else:
        cutoffs = bounds.first_cutoffs(counted.values())
        rows = _ranked_rows(inner, flag, order, columns, bounds.before_cutoff(order[0], flag, county, cutoffs))
        short = bounds.short_groups(counted.values(), rows)
        if short:  # the first rows of a group came later than its counts foretold: read all of its rows
            cutoffs |= dict.fromkeys(short, bounds.after_all)
            rows = _ranked_rows(inner, flag, order, columns, bounds.before_cutoff(order[0], flag, county, cutoffs))
    listed: dict[str, list[Any]] = {}
    for row in rows:
        listed.setdefault(row.subject, []).append(row)
    return counted, listed


def _ranked_rows(
    inner: sa.Subquery,
    flag: sa.ColumnElement[bool],
    order: list[Any],
    columns: list[Any],
    where: list[sa.ColumnElement[bool]],
) -> list[Any]:
    """Up to LIST_LIMIT rows of each county and flag, first by `order`, of the rows `where` holds for."""
    county = inner.c.county_no
    flagged = sa.case((flag, 1), else_=0)
    ranked = sa.select(
        *columns,
        inner.c.subject,
        county.label("county_no"),
        flagged.label("flagged"),
        sa.func.row_number().over(partition_by=[county, flagged], order_by=order).label("rank"),
    ).where(*where)
    found = ranked.subquery()
    query = sa.select(found).where(found.c.rank <= LIST_LIMIT).order_by(found.c.rank)
    return list(db.session.connection().execute(query))


def _drill_titles(ids: Collection[int]) -> dict[int, str]:
    """Titles of the few drills a result lists, read after the windowed query, which sorts without them."""
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Drill.id, Drill.title).where(Drill.id.in_(ids))).tuples().all())


# --- after-action reviews filed within N days ------------------------------------------------------


class ReviewTotals(NamedTuple):
    """A county's, or one of its regions', review totals over the drills it holds."""

    total: int  # drills completed
    filed_count: int  # with a review filed in time
    overdue: int  # with none filed in time, past its deadline
    next_due_from: datetime | None  # the earliest moment a review is due from, of those still pending


def _summed(by_region: dict[str, Totals]) -> ReviewTotals:
    pending = [totals[3] for totals in by_region.values() if totals[3] is not None]
    return ReviewTotals(
        sum(totals[0] for totals in by_region.values()),
        sum(totals[1] for totals in by_region.values()),
        sum(totals[2] for totals in by_region.values()),
        min(pending, default=None),
    )


def _totals_by_region(
    inner: sa.Subquery,
    aggregates: dict[str, Any],
    rule_id: int,
    counting: RegionTotals,
    regions: frozenset[str] | None,
) -> dict[str, ReviewTotals]:
    """Each county's totals summed from its regions', counted here (those of `regions` alone, if it names
    them, the others' taken from what `counting` kept), and put in `counting.made`."""
    counted: dict[str, dict[str, Totals]] = {}
    if regions is None or regions:
        rows = db.session.execute(
            sa.select(inner.c.subject, inner.c.region_code, *aggregates.values()).group_by(
                inner.c.subject, inner.c.region_code
            )
        )
        for subject, region_code, total, filed, overdue, next_due_from in rows:
            pending = None if next_due_from is None else aware(next_due_from)
            counted.setdefault(subject, {})[region_code] = (total, filed, overdue, pending)
    made = counting.made.setdefault(rule_id, {})
    if regions is not None:
        for subject, by_region in counting.kept[rule_id].items():
            kept = {code: totals for code, totals in by_region.items() if code not in regions}
            counted[subject] = kept | counted.get(subject, {})
    made |= counted
    return {subject: _summed(by_region) for subject, by_region in counted.items()}


def evaluate_reviews(params: ReviewParams, run: Run, rule_id: int) -> list[SubjectResult]:
    counties = subject_counties(run.region_code)
    if not counties:
        return []
    by_region = run.region_totals if not run.evidence else None
    # Some regions alone are counted where their others' totals were kept for this rule.
    regions = by_region.regions if by_region is not None and rule_id in by_region.kept else None
    now = run.now
    cmap = county_map([c.code for c in counties])
    span = periods("year", run.year)[0]
    days: sa.ColumnClause[int] = sa.literal_column(str(params.days))
    # Each review is due `days` after its drill ended (or was completed, if later). The rows carry that
    # moment; the deadline itself, a date computation per row, is worked out only where a review was filed.
    due_from = later_of(Drill.ends_at, Drill.completed_at)
    # The drills the reader may count, part by part (see access.compliance_drill_parts): a county's year of
    # drills is then read from the index by region and start alone on PostgreSQL.
    parts = [
        sa.select(
            cmap.c.county_code.label("subject"),
            cmap.c.county_no,
            Drill.id.label("drill_id"),
            Drill.region_code,
            due_from.label("due_from"),
            Review.submitted_at,
        )
        .join(cmap, cmap.c.region_code == scanned(Drill.region_code))
        .outerjoin(Review, Review.drill_id == Drill.id)
        .where(
            scanned(Drill.status) == DrillStatus.COMPLETED,
            scanned(Drill.starts_at) >= span.start,
            scanned(Drill.starts_at) < span.end,
            part,
            *([] if regions is None else [Drill.region_code.in_(sorted(regions))]),
        )
        for part in access.compliance_drill_parts(run.actor, now)
    ]
    inner = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery()
    late = timedelta(days=params.days)
    # A CASE, not an AND, so that a deadline is worked out only where a review was filed: SQLite evaluates both
    # sides of an AND, and a deadline there is a strftime per drill (a fifth of the listing's time).
    filed = sa.case(
        (inner.c.submitted_at.is_(None), sa.false()),
        else_=inner.c.submitted_at <= add_days(inner.c.due_from, days),
    )
    overdue = sa.and_(sa.not_(filed), inner.c.due_from < now - late)
    pending = sa.and_(inner.c.submitted_at.is_(None), inner.c.due_from >= now - late)
    aggregates = {
        "total": sa.func.count(inner.c.drill_id),
        "filed_count": sa.func.count(sa.case((filed, inner.c.drill_id))),
        "overdue": sa.func.count(sa.case((overdue, inner.c.drill_id))),
        "next_due_from": sa.func.min(sa.case((pending, inner.c.due_from))),
    }
    totals: dict[str, Any]
    listed: dict[str, list[Any]] = {}
    if by_region is not None:
        totals = _totals_by_region(inner, aggregates, rule_id, by_region, regions)
    else:
        totals, listed = _county_lists(
            inner,
            filed,
            [inner.c.due_from, inner.c.drill_id],
            [inner.c.drill_id, inner.c.due_from, filed.label("filed")],
            aggregates,
            listing=run.evidence,
            bounds=ListBounds(
                [span.start + timedelta(days=days) for days in (2, 8, 32, 128)],
                ("total", "filed_count"),
                datetime.max.replace(tzinfo=timezone.utc),
            ),
        )
    titles = _drill_titles([i.drill_id for items in listed.values() for i in items if i.filed])
    results = []
    for subject in county_subjects(counties):
        row = totals.get(subject.id)
        items = listed.get(subject.id, [])
        evidence: tuple[Evidence, ...] = tuple(
            {
                "type": "drill",
                "id": i.drill_id,
                "title": titles[i.drill_id],
                "review_due": (aware(i.due_from) + late).isoformat(),
            }
            for i in items
            if i.filed
        )
        slot = Slot(
            span.label,
            span.start,
            span.end,
            required=row.total if row else 0,
            achieved=row.filed_count if row else 0,
            evidence=evidence,
        )
        if row and row.overdue:
            slot.end = now  # a review past its deadline is missed for good
        elif row and row.next_due_from is not None:
            slot.end = aware(row.next_due_from) + late
        results.append(
            finish(
                subject,
                [slot],
                now,
                params.warning,
                missing=[f"review:drill-{i.drill_id}" for i in items if not i.filed],
            )
        )
    return results


# --- corrective actions: none past due and not verified -------------------------------------------


def evaluate_actions(params: ActionParams, run: Run) -> list[SubjectResult]:
    counties = subject_counties(run.region_code)
    if not counties:
        return []
    cmap = county_map([c.code for c in counties])
    today = local_today(run.now)
    soon = today + params.warning
    inner = (
        sa.select(
            cmap.c.county_code.label("subject"),
            cmap.c.county_no,
            CorrectiveAction.id.label("action_id"),
            CorrectiveAction.description,
            CorrectiveAction.due_on,
            CorrectiveAction.status,
            Finding.summary,
        )
        .join(Finding, Finding.id == CorrectiveAction.finding_id)
        .join(cmap, cmap.c.region_code == Finding.region_code)
        .where(CorrectiveAction.due_on <= date(run.year, 12, 31))
    ).subquery()
    verified = inner.c.status == ActionStatus.VERIFIED
    overdue = sa.and_(sa.not_(verified), inner.c.due_on < today)
    due_soon = sa.and_(sa.not_(verified), inner.c.due_on >= today, inner.c.due_on <= soon)
    totals, listed = _county_lists(
        inner,
        verified,
        [inner.c.due_on, inner.c.action_id],
        [inner.c.action_id, inner.c.summary, inner.c.due_on, verified.label("verified"), overdue.label("overdue")],
        {
            "due": sa.func.count(sa.case((inner.c.due_on < today, inner.c.action_id))),
            "closed": sa.func.count(sa.case((sa.and_(verified, inner.c.due_on < today), inner.c.action_id))),
            "overdue_count": sa.func.count(sa.case((overdue, inner.c.action_id))),
            "due_soon": sa.func.count(sa.case((due_soon, inner.c.action_id))),
        },
        listing=run.evidence,
    )
    results = []
    for county in counties:
        row = totals.get(county.code)
        evidence: list[Evidence] = [
            {"type": "corrective_action", "id": i.action_id, "summary": i.summary, "due_on": i.due_on.isoformat()}
            for i in listed.get(county.code, [])
            if i.verified
        ]
        missing = [
            f"corrective_action:{i.action_id}" for i in listed.get(county.code, []) if not i.verified and i.overdue
        ]
        if row and row.overdue_count:
            status = ComplianceStatus.MISSED
        elif row and row.due_soon:
            status = ComplianceStatus.AT_RISK
        else:
            status = ComplianceStatus.MET
        results.append(
            SubjectResult(
                "region",
                county.code,
                county.name,
                county.code,
                status,
                row.due if row else 0,
                row.closed if row else 0,
                evidence,
                missing,
                [],
            )
        )
    return results


# --- outreach: observance-day campaigns and six-into coverage -------------------------------------


def _outreach_slots(
    run: Run, kind: OutreachKind, slot_column: sa.ColumnElement[Any]
) -> tuple[list[Region], dict[tuple[str, Any], Any]]:
    """Activities of `kind` per county and slot (`slot_column`), counted as held (up to today) or planned."""
    counties = subject_counties(run.region_code)
    if not counties:
        return counties, {}
    cmap = county_map([c.code for c in counties])
    inner = (
        sa.select(
            cmap.c.county_code.label("subject"),
            OutreachActivity.id,
            OutreachActivity.held_on,
            slot_column.label("slot"),
        )
        .join(cmap, cmap.c.region_code == OutreachActivity.region_code)
        .where(OutreachActivity.kind == kind)
    ).subquery()
    held = inner.c.held_on <= local_today(run.now)
    rows = db.session.execute(
        sa.select(
            inner.c.subject,
            inner.c.slot,
            sa.func.count(sa.case((held, inner.c.id))).label("done"),
            sa.func.count(sa.case((sa.not_(held), inner.c.id))).label("planned"),
            sa.func.min(sa.case((held, inner.c.id))).label("done_id"),
            sa.func.min(sa.case((sa.not_(held), inner.c.id))).label("planned_id"),
        )
        .where(inner.c.slot.isnot(None))
        .group_by(inner.c.subject, inner.c.slot)
    )
    return counties, {(r.subject, r.slot): r for r in rows}


def _outreach_evidence(activity_id: int, label: str, titles: dict[int, str]) -> Evidence:
    return {"type": "outreach", "id": activity_id, "slot": label, "title": titles.get(activity_id, "")}


def _outreach_results(
    counties: list[Region],
    cells: dict[tuple[str, Any], Any],
    slot_defs: Sequence[tuple[Any, str, datetime, datetime]],
    run: Run,
    warning: timedelta,
) -> list[SubjectResult]:
    titles = _activity_titles(cells)
    results = []
    for subject in county_subjects(counties):
        slots = []
        for slot_key, label, start, end in slot_defs:
            slot = Slot(label, start, end)
            row = cells.get((subject.id, slot_key))
            if row is not None:
                slot.achieved, slot.planned = row.done, row.planned
                if row.done_id is not None:
                    slot.evidence = (_outreach_evidence(row.done_id, label, titles),)
                if row.planned_id is not None:
                    slot.planned_evidence = (_outreach_evidence(row.planned_id, label, titles),)
            slots.append(slot)
        results.append(finish(subject, slots, run.now, warning))
    return results


def _activity_titles(cells: dict[tuple[str, Any], Any]) -> dict[int, str]:
    ids = {i for r in cells.values() for i in (r.done_id, r.planned_id) if i is not None}
    if not ids:
        return {}
    return dict(
        db.session.execute(sa.select(OutreachActivity.id, OutreachActivity.title).where(OutreachActivity.id.in_(ids)))
        .tuples()
        .all()
    )


def evaluate_observance(params: ObservanceParams, run: Run) -> list[SubjectResult]:
    days = [ObservanceDay(d) for d in params.days]
    spans = []
    for day in days:
        month, dom = day.month_day
        centre = date(run.year, month, dom)
        window = timedelta(days=params.window_days)
        spans.append(Period(day.value, centre - window, centre + window))
    if not spans:
        return []
    matches_day = [
        sa.and_(
            OutreachActivity.held_on >= p.first_day,
            OutreachActivity.held_on <= p.last_day,
            OutreachActivity.observance_day == d,
        )
        for d, p in zip(days, spans, strict=True)
    ]
    slot_column = sa.case(*[(clause, index) for index, clause in enumerate(matches_day)], else_=sa.null())
    counties, cells = _outreach_slots(run, OutreachKind.OBSERVANCE_CAMPAIGN, slot_column)
    slot_defs = [(index, p.label, p.start, p.end) for index, p in enumerate(spans)]
    return _outreach_results(counties, cells, slot_defs, run, params.warning)


def evaluate_six_into(params: SixIntoParams, run: Run) -> list[SubjectResult]:
    span = periods("year", run.year)[0]
    in_year = sa.and_(
        OutreachActivity.held_on >= span.first_day,
        OutreachActivity.held_on <= span.last_day,
        OutreachActivity.setting.in_(params.settings),
    )
    slot_column = sa.case((in_year, OutreachActivity.setting), else_=sa.null())
    counties, cells = _outreach_slots(run, OutreachKind.SIX_INTO, slot_column)
    cells = {(subject, getattr(slot, "value", slot)): row for (subject, slot), row in cells.items()}
    slot_defs = [(s, s, span.start, span.end) for s in params.settings]
    return _outreach_results(counties, cells, slot_defs, run, params.warning)
