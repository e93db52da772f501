"""What the coordinators' dashboard shows: the county × rule matrix, a county's units, the key-county
panel, overdue corrective actions and completion over the months. Built from the kept results of
evaluate() (drillmgr.compliance.kept: evaluated once after a change, for every worker) plus a few
aggregate queries."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate
from drillmgr.checklists.readiness import readiness_summary, term_bounds
from drillmgr.cache.generations import Reached
from drillmgr.compliance.kept import CountyHead, counties_of, kept_evaluate, kept_heads, kept_per_county, kept_value
from drillmgr.compliance.obligations import breakdown
from drillmgr.compliance.periods import periods
from drillmgr.compliance.results import RANK, STATUS, RuleResult, SubjectResult, combine, unpack_results
from drillmgr.compliance.rule_params import DrillParams
from drillmgr.compliance.rules import ensure_rules, params_of
from drillmgr.compliance.subjects import subject_counties, subtree_list
from drillmgr.compliance.sheets import Cell as SheetCell
from drillmgr.compliance.sheets import Column, Document, Table, cell
from drillmgr.compliance.sqlfuncs import aware, scanned
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import ActionStatus, ComplianceStatus, DrillForm, DrillScope, DrillStatus, Focus
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.localtime import local_midnight, local_today
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

OVERDUE_LIMIT = 50
Row = dict[str, Any]


@dataclass
class Cell:
    status: ComplianceStatus | None  # None: the rule has no subject in this county
    counts: Counter[ComplianceStatus] = field(default_factory=Counter)  # statuses of the county's units, for unit rules

    @property
    def total(self) -> int:
        return sum(self.counts.values())


Cells = dict[tuple[str, str], Cell]  # (county code, rule key) -> Cell
Tally = list[tuple[str, dict[str, Counter[ComplianceStatus]]]]  # per rule (its key): each county's subjects' statuses
KeyResults = dict[tuple[str, str], SubjectResult]  # (county code, rule key) -> the county's result, for key rules
MonthCounts = dict[str, Counter[tuple[int, DrillStatus]]]  # region code -> (month index, status) -> its drills
KEY_RULES = ("key-county-comprehensive-live", "key-county-double-blind-tabletop")


@dataclass(frozen=True, slots=True)
class PanelCounty:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class PanelDrill:
    """A key county's live drill or double-blind tabletop as its panel lists it."""

    id: int
    title: str
    starts_at: datetime
    status: DrillStatus
    form: DrillForm
    focus: tuple[Focus, ...]


@dataclass(frozen=True, slots=True)
class OverdueAction:
    id: int
    due_on: date
    status: ActionStatus
    summary: str
    drill_id: int | None
    region_name: str


@dataclass(frozen=True, slots=True)
class Panels:
    """What the dashboard shows, made from the statuses and the same data and kept with them: plain data,
    no translated text, so that it serves every reader and language."""

    cells: Cells
    totals: Counter[ComplianceStatus]
    key_panel: list[Row]
    overdue_count: int
    overdue: list[OverdueAction]
    months: list[Row]
    # The drills the months count, region by region: after a change, only the regions it reached are counted again.
    month_counts: MonthCounts = field(default_factory=dict)


@dataclass
class Dashboard:
    year: int
    region: Region | None
    rules: list[RuleResult]
    counties: list[Region]
    cells: Cells
    matrix: Document  # the matrix as the page, the workbook and the JSON show it: a row per county
    key_panel: list[Row]
    overdue_count: int
    overdue: list[OverdueAction]
    months: list[Row]
    totals: Counter[ComplianceStatus]
    readiness: Row  # county code -> readiness_summary row (units with a standing checklist, ready this term)
    term: tuple[date, date]
    as_of: datetime | None = None  # when the statuses shown were evaluated


def default_region(user: User) -> str:
    """The region a user's dashboard opens on: their own, or the top of the tree for admins."""
    home = access.compliance_home_region(user)
    if home:
        return home
    top = db.session.scalar(sa.select(Region.code).where(Region.parent_code.is_(None)).order_by(Region.code))
    assert top is not None  # the migrations add the prefecture (b7c1e5a2d9f0)
    return top


def _tally(results: list[RuleResult]) -> Tally:
    tally: Tally = []
    for rule_result in results:
        per_county: dict[str, Counter[ComplianceStatus]] = {}
        for r in rule_result.results:
            per_county.setdefault(r.county_code, Counter())[r.status] += 1
        tally.append((rule_result.key, per_county))
    return tally


def _matrix(tally: Tally, counties: list[Region]) -> tuple[Cells, Counter[ComplianceStatus]]:
    cells: Cells = {}
    totals: Counter[ComplianceStatus] = Counter()
    for key, per_county in tally:
        for counts in per_county.values():
            totals.update(counts)
        for county in counties:
            found = per_county.get(county.code)
            cells[(county.code, key)] = Cell(combine(found) if found else None, found or Counter())
    return cells, totals


def matrix_document(
    year: int, region: Region, results: list[RuleResult], counties: list[Region], cells: Cells
) -> Document:
    """The county × rule matrix; a unit rule's cell counts the county's units met · on track · at risk ·
    missed (units whose remaining periods are not due yet count as on track)."""

    def status_cell(rule_result: RuleResult, county: Region) -> SheetCell:
        found = cells[(county.code, rule_result.key)]
        if found.status is None:
            return cell(None)
        if rule_result.subject == "org":
            counts = breakdown(found.counts)
            return cell(
                _(
                    "%(status)s %(met)d · %(on_track)d · %(at_risk)d · %(missed)d",
                    status=found.status.label,
                    met=counts[ComplianceStatus.MET],
                    on_track=counts[ComplianceStatus.ON_TRACK],
                    at_risk=counts[ComplianceStatus.AT_RISK],
                    missed=counts[ComplianceStatus.MISSED],
                ),
                tone=found.status.value,
            )
        return cell(str(found.status.label), tone=found.status.value)

    table = Table(
        "matrix",
        _("Compliance matrix"),
        [Column(_("County / city")), Column(_("Key county")), *(Column(rr.short_title) for rr in results)],
        [
            [
                cell(county.name),
                cell(_("yes") if county.key_county else None),
                *(status_cell(rr, county) for rr in results),
            ]
            for county in counties
        ],
        empty=_("No county in this region."),
    )
    return Document(_("Compliance %(year)d — %(region)s", year=year, region=region.name), [table])


def compliance_matrix(year: int, region: Region, results: list[RuleResult]) -> Document:
    counties = subject_counties(region.code)
    return matrix_document(year, region, results, counties, _matrix(_tally(results), counties)[0])


def matrix_for(user: User, year: int, region_code: str, now: datetime | None = None) -> Document:
    """The dashboard's matrix alone, for its workbook."""
    access.require(access.can_view_compliance(user, region_code))
    region = db.session.get(Region, region_code)
    if region is None:
        access.not_found()
    results, _as_of = kept_evaluate(year, region_code, actor=user, now=now or utcnow(), evidence=False)
    return compliance_matrix(year, region, results)


def matrix_filename(region_code: str, year: int) -> str:
    return f"drillmgr-compliance-{region_code}-{year}.xlsx"


def _key_results(results: list[RuleResult]) -> KeyResults:
    return {(r.subject_id, rr.key): r for rr in results for r in rr.results if rr.key in KEY_RULES}


def _required_focus(year: int) -> list[str]:
    """The focus areas a key county's comprehensive live drill must cover under `year`'s rules."""
    rule = next((rule for rule in ensure_rules(year) if rule.enabled and rule.key == KEY_RULES[0]), None)
    params = params_of(rule) if rule is not None else None
    return list(params.required_focus) if isinstance(params, DrillParams) else []


def _key_panel(user: User, year: int, counties: list[Region], status: KeyResults, now: datetime) -> list[Row]:
    keys = [c for c in counties if c.key_county]
    if not keys:
        return []
    (span,) = periods("year", year)
    required = _required_focus(year)
    panel = []
    for county in keys:
        subtree = subtree_list(county.code)
        drills = [
            PanelDrill(d.id, d.title, d.starts_at, d.status, d.form, tuple(d.focus))
            for d in db.session.scalars(
                sa.select(Drill)
                .where(
                    Drill.region_code.in_(subtree),
                    Drill.starts_at >= span.start,
                    Drill.starts_at < span.end,
                    Drill.status != DrillStatus.CANCELLED,
                    access.drill_clause(user, now),
                    sa.or_(
                        sa.and_(Drill.form == DrillForm.LIVE, Drill.scope == DrillScope.COMPREHENSIVE),
                        sa.and_(Drill.form == DrillForm.TABLETOP, Drill.double_blind.is_(True)),
                    ),
                )
                .order_by(Drill.starts_at)
            )
        ]
        panel.append(
            {
                "county": PanelCounty(county.code, county.name),
                "live": [d for d in drills if d.form == DrillForm.LIVE],
                "lacking": {
                    d.id: [Focus(f) for f in required if f not in {x.value for x in d.focus}]
                    for d in drills
                    if d.form == DrillForm.LIVE and not set(required) <= {x.value for x in d.focus}
                },
                "tabletops": [d for d in drills if d.form == DrillForm.TABLETOP],
                "live_result": status.get((county.code, KEY_RULES[0])),
                "tabletop_result": status.get((county.code, KEY_RULES[1])),
            }
        )
    return panel


def overdue_actions(
    region_codes: list[str], today: date, limit: int = OVERDUE_LIMIT
) -> tuple[int, list[OverdueAction]]:
    """Corrective actions due before today and not verified, in these regions: how many, and the first few."""
    where = sa.and_(
        Finding.region_code.in_(region_codes),
        CorrectiveAction.due_on < today,
        CorrectiveAction.status != ActionStatus.VERIFIED,
    )
    count = db.session.execute(
        sa.select(sa.func.count())
        .select_from(CorrectiveAction)
        .join(Finding, Finding.id == CorrectiveAction.finding_id)
        .where(where)
    ).scalar_one()
    rows = [
        OverdueAction(*row)
        for row in db.session.execute(
            sa.select(
                CorrectiveAction.id,
                CorrectiveAction.due_on,
                CorrectiveAction.status,
                Finding.summary,
                Finding.drill_id,
                Region.name.label("region_name"),
            )
            .join(Finding, Finding.id == CorrectiveAction.finding_id)
            .join(Region, Region.code == Finding.region_code)
            .where(where)
            .order_by(CorrectiveAction.due_on, CorrectiveAction.id)
            .limit(limit)
        )
    ]
    return count, rows


def monthly_completion(user: User, region_codes: list[str], year: int, now: datetime) -> list[Row]:
    """Completed and still-planned drills per month of `year` (Beijing months) in these regions, that
    compliance counts for `user` (see month_counts)."""
    return month_rows(month_counts(user, region_codes, year, now), year)


def month_counts(user: User, region_codes: list[str], year: int, now: datetime) -> MonthCounts:
    """The drills of each month of `year` (Beijing months) held in each of these regions, not cancelled, by
    status, that compliance counts for `user`: one grouped query over the drills they may count, part by part
    (see access.compliance_drill_parts)."""
    if not region_codes:
        return {}
    months = periods("month", year, range(1, 13))
    index = sa.case(
        *[(sa.and_(Drill.starts_at >= p.start, Drill.starts_at < p.end), i) for i, p in enumerate(months)],
        else_=sa.null(),
    )
    parts = [
        sa.select(Drill.region_code, index.label("m"), Drill.status).where(
            scanned(Drill.region_code).in_(region_codes),
            scanned(Drill.starts_at) >= months[0].start,
            scanned(Drill.starts_at) < months[-1].end,
            Drill.status != DrillStatus.CANCELLED,
            part,
        )
        for part in access.compliance_drill_parts(user, now)
    ]
    inner = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery()
    grouped = sa.select(inner.c.region_code, inner.c.m, inner.c.status, sa.func.count()).group_by(
        inner.c.region_code, inner.c.m, inner.c.status
    )
    counts: MonthCounts = {}
    for region_code, m, status, n in db.session.execute(grouped):
        counts.setdefault(region_code, Counter())[(m, status)] += n
    return counts


def month_rows(counts: MonthCounts, year: int) -> list[Row]:
    """The twelve months of `year`'s chart, from the counts of its regions."""
    total: Counter[tuple[int, DrillStatus]] = sum(counts.values(), Counter())
    months = periods("month", year, range(1, 13))
    return [
        {
            "month": i + 1,
            "first_day": months[i].first_day,
            "completed": total[(i, DrillStatus.COMPLETED)],
            "planned": total[(i, DrillStatus.PLANNED)],
        }
        for i in range(12)
    ]


def panels_of(
    user: User,
    year: int,
    counties: list[Region],
    region_codes: list[str],
    results: list[RuleResult],
    today: date,
    now: datetime,
) -> Panels:
    """The panels of `counties` (their matrix rows and key-county panels, from `results`) and of the drills
    and actions held in `region_codes`."""
    counts = month_counts(user, region_codes, year, now)
    return _panels(user, year, counties, region_codes, _tally(results), _key_results(results), counts, today, now)


def _panels(
    user: User,
    year: int,
    counties: list[Region],
    region_codes: list[str],
    tally: Tally,
    key_results: KeyResults,
    counts: MonthCounts,
    today: date,
    now: datetime,
) -> Panels:
    cells, totals = _matrix(tally, counties)
    count, overdue = overdue_actions(region_codes, today)
    key_panel = _key_panel(user, year, counties, key_results, now)
    return Panels(cells, totals, key_panel, count, overdue, month_rows(counts, year), counts)


def _head_tally(head: CountyHead, county_code: str, keys: dict[int, str]) -> tuple[Tally, KeyResults] | None:
    """A county's tally and key results read from its kept head, without its units' results; None if the
    head was made under other rules than `keys` (rule id: key)."""
    tally: Tally = []
    key_results: KeyResults = {}
    for rule_id in head.rule_ids:
        key = keys.get(rule_id)
        if key is None:
            return None
        statuses = (
            [row[STATUS] for row in head.county_rows[rule_id]]
            if rule_id in head.county_rows
            else head.statuses[rule_id].values()
        )
        counts = Counter(statuses)
        tally.append((key, {county_code: counts} if counts else {}))
        if key in KEY_RULES:
            key_results |= {(r.subject_id, key): r for r in unpack_results(head.county_rows.get(rule_id, []))}
    return tally, key_results


def _outside_counties(region_code: str, county_codes: list[str]) -> list[str]:
    """The regions of `region_code`'s subtree in none of its counties (the prefecture itself)."""
    path = db.session.scalar(sa.select(Region.path).where(Region.code == region_code))
    assert path is not None
    counties = set(county_codes)
    rows = db.session.execute(sa.select(Region.code, Region.path).where(Region.path.startswith(path, autoescape=True)))
    return [code for code, found in rows if not counties.intersection(found.strip("/").split("/"))]


def _region_panels(
    user: User, year: int, region_code: str, counties: list[Region], today: date, now: datetime
) -> tuple[Panels, datetime]:
    """A region's panels joined from its counties' (each kept apart, so that after a change only the
    counties it touched are made again) and from what is held above them; a part of a county at once."""
    codes, whole = counties_of(region_code)
    if not whole:
        results, as_of = kept_evaluate(year, region_code, actor=user, now=now, evidence=False)
        return panels_of(user, year, counties, subtree_list(region_code), results, today, now), as_of
    by_code = {county.code: county for county in counties}

    def heads() -> dict[str, tuple[CountyHead, datetime]]:
        found, heads_as_of = kept_heads(year, region_code, actor=user, now=now, evidence=False)
        return {code: (head, heads_as_of) for code, head in zip(codes, found, strict=True)}

    def county_panels(stale: list[str], _reader: str) -> dict[str, tuple[Panels, datetime]]:
        kept = heads()
        keys = {rule.id: rule.key for rule in ensure_rules(year)}
        made = {}
        for code in stale:
            head, made_at = kept[code]
            read = _head_tally(head, code, keys)
            if read is None:  # the rules changed meanwhile
                results, made_at = kept_evaluate(year, code, actor=user, now=now, evidence=False)
                read = _tally(results), _key_results(results)
            subtree = subtree_list(code)
            counts = month_counts(user, subtree, year, now)
            made[code] = (_panels(user, year, [by_code[code]], subtree, *read, counts, today, now), made_at)
        return made

    def patch(behind: dict[str, tuple[Panels, Reached]]) -> dict[str, Panels]:
        """A county's panels after changes that reached a few of its regions: its months' drills counted again
        in those regions alone, the rest made again from its (brought up to date) head."""
        kept = heads()
        keys = {rule.id: rule.key for rule in ensure_rules(year)}
        patched = {}
        for code, (old, reached) in behind.items():
            read = _head_tally(kept[code][0], code, keys)
            if reached.regions is None or read is None:
                continue
            subtree = subtree_list(code)
            again = [region for region in subtree if region in reached.regions]
            counts = {region: n for region, n in old.month_counts.items() if region not in reached.regions}
            counts |= month_counts(user, again, year, now)
            patched[code] = _panels(user, year, [by_code[code]], subtree, *read, counts, today, now)
        return patched

    pieces, as_of = kept_per_county(
        lambda code, reader: f"dashboard-county:{year}:{code}:{reader}", codes, user, now, county_panels, patch=patch
    )
    outside = _outside_counties(region_code, codes)
    if outside:
        pieces.append(panels_of(user, year, [], outside, [], today, now))
    return _joined(pieces), as_of


def _joined(pieces: list[Panels]) -> Panels:
    months = [dict(row) for row in pieces[0].months]
    for piece in pieces[1:]:
        for row, more in zip(months, piece.months, strict=True):
            row["completed"] += more["completed"]
            row["planned"] += more["planned"]
    overdue = sorted((action for piece in pieces for action in piece.overdue), key=lambda a: (a.due_on, a.id))
    return Panels(
        cells={key: value for piece in pieces for key, value in piece.cells.items()},
        totals=sum((piece.totals for piece in pieces), Counter()),
        key_panel=[row for piece in pieces for row in piece.key_panel],
        overdue_count=sum(piece.overdue_count for piece in pieces),
        overdue=overdue[:OVERDUE_LIMIT],
        months=months,
    )


def build_dashboard(user: User, year: int, region_code: str, now: datetime | None = None) -> Dashboard:
    now = now or utcnow()
    access.require(access.can_view_compliance(user, region_code))
    region = db.session.get(Region, region_code)
    if region is None:
        access.not_found()
    counties = subject_counties(region_code)
    today = local_today(now)
    rules = [RuleResult(rule, params_of(rule), []) for rule in ensure_rules(year) if rule.enabled]  # the heads

    def panels() -> tuple[Panels, datetime]:
        return _region_panels(user, year, region_code, counties, today, now)

    kept, as_of = kept_value(
        f"dashboard:{year}:{region_code}", region_code=region_code, actor=user, now=now, build=panels
    )
    return Dashboard(
        year=year,
        region=region,
        rules=rules,
        counties=counties,
        cells=kept.cells,
        matrix=matrix_document(year, region, rules, counties, kept.cells),
        key_panel=kept.key_panel,
        overdue_count=kept.overdue_count,
        overdue=kept.overdue,
        months=kept.months,
        totals=kept.totals,
        readiness={row["code"]: row for row in readiness_summary(region_code, today)},
        term=term_bounds(today),
        as_of=as_of,
    )


def chart_ticks(top: int, steps: int = 4) -> list[int]:
    """Axis ticks from 0 in round steps (1, 2, 5 × 10ⁿ) reaching at least `top`, about `steps` of them."""
    rough = max(top, 1) / steps
    magnitude = 10 ** (len(str(int(rough))) - 1) if rough >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)
    last = -(-max(top, 1) // step) * step
    return list(range(0, last + 1, step))


def unit_readiness(county_code: str, today: date) -> list[Row]:
    """Each unit of the county whose kind has a standing readiness checklist (schools, kindergartens,
    hospitals by default), with its last completed readiness run and whether that falls in this
    term; units not ready first. One grouped query."""
    first, _last = term_bounds(today)
    term_start = local_midnight(first)
    kinds = sa.select(ChecklistTemplate.org_kind).where(
        ChecklistTemplate.active.is_(True), ChecklistTemplate.org_kind.is_not(None)
    )
    last_run = sa.func.max(ChecklistRun.completed_at)
    rows = db.session.execute(
        sa.select(Organisation.id, Organisation.name, Organisation.kind, last_run)
        .outerjoin(
            ChecklistRun,
            sa.and_(
                ChecklistRun.org_id == Organisation.id,
                ChecklistRun.drill_id.is_(None),
                ChecklistRun.completed_at.is_not(None),
            ),
        )
        .where(Organisation.region_code.in_(subtree_list(county_code)), Organisation.kind.in_(kinds))
        .group_by(Organisation.id, Organisation.name, Organisation.kind)
    )
    units = [
        {
            "id": org_id,
            "name": name,
            "kind": kind,
            "last_run": last,
            "ready": last is not None and aware(last) >= term_start,
        }
        for org_id, name, kind, last in rows
    ]
    return sorted(units, key=lambda u: (u["ready"], u["name"]))


@dataclass
class CountyDetail:
    year: int
    county: Region
    county_rules: list[tuple[RuleResult, SubjectResult | None]]  # rule, the county's result
    unit_rules: list[RuleResult]
    units: list[Row]  # {id, name, results: {rule key: SubjectResult}}
    readiness: list[Row]  # unit_readiness
    term: tuple[date, date]
    as_of: datetime | None = None


def county_detail(user: User, year: int, county_code: str, now: datetime | None = None) -> CountyDetail:
    """Each unit of a county under each unit rule, with its slots, beside the county's own rules."""
    now = now or utcnow()
    county = db.session.get(Region, county_code)
    if county is None:
        access.not_found()
    access.require(access.can_view_compliance(user, county_code))
    results, as_of = kept_evaluate(year, county_code, actor=user, now=now)
    county_rules = [
        (rr, next((r for r in rr.results if r.subject_id == county_code), None))
        for rr in results
        if rr.subject == "county"
    ]
    unit_rules = [rr for rr in results if rr.subject == "org"]
    units: dict[str, Row] = {}
    for rr in unit_rules:
        for r in rr.results:
            unit = units.setdefault(r.subject_id, {"id": int(r.subject_id), "name": r.name, "results": {}})
            unit["results"][rr.key] = r
    ordered = sorted(units.values(), key=lambda u: (min(RANK[r.status] for r in u["results"].values()), u["name"]))
    today = local_today(now)
    return CountyDetail(
        year, county, county_rules, unit_rules, ordered, unit_readiness(county_code, today), term_bounds(today), as_of
    )
