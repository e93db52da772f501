"""Who compliance is evaluated for (the counties of a region, the units of some kinds in it) and the
set-based pieces every evaluator joins on: county of a region code, period of a timestamp."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, aliased

from drillmgr.access import services as access
from drillmgr.compliance.periods import Period
from drillmgr.compliance.rule_params import DrillParams
from drillmgr.compliance.results import SubjectOf
from drillmgr.enums import OrgKind, RegionLevel
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region


Totals = tuple[int, int, int, datetime | None]  # a review rule's over a region's drills: see county_rules.ReviewTotals
ByRegion = dict[int, dict[str, dict[str, Totals]]]  # rule id -> county code -> region code -> totals


@dataclass
class RegionTotals:
    """A county rule's totals region by region (the regions its drills are held in), kept with its result so
    that after a change only the regions the change reached are counted again (drillmgr.compliance.kept).
    `kept` is what was counted before; with `regions`, only those regions' drills are counted and the others'
    totals taken from `kept`; `made` receives what the run counted and took."""

    kept: ByRegion = field(default_factory=dict)
    regions: frozenset[str] | None = None
    made: ByRegion = field(default_factory=dict)


@dataclass
class Run:
    """What the rules of one evaluate() call share: the year, the region (None: all), the moment, the actor
    whose view of the drills counts (access.compliance_drill_clause), and aggregates rules may reuse."""

    year: int
    region_code: str | None
    now: datetime
    actor: access.Actor
    evidence: bool = True
    org_ids: tuple[int, ...] | None = None  # evaluate the unit rules of these units alone
    unit_kinds: Sequence[str] = ()  # the kinds of unit the run's unit rules count, all of them together
    unit_rules: Sequence[DrillParams] = ()  # the run's unit rules over whole months, evaluated together
    region_totals: RegionTotals | None = None  # count review rules' totals region by region (without evidence)
    aggregates: dict[tuple[Any, ...], Any] = field(default_factory=dict)


def _region_path(region_code: str) -> str | None:
    return db.session.scalar(sa.select(Region.path).where(Region.code == region_code))


def subject_counties(region_code: str | None, key_only: bool = False) -> list[Region]:
    """The counties a region's compliance covers: those inside it, or the one containing it."""
    query = sa.select(Region).where(Region.level == RegionLevel.COUNTY).order_by(Region.code)
    if region_code is not None:
        path = _region_path(region_code)
        query = query.where(
            sa.or_(Region.path.startswith(path, autoescape=True), sa.literal(path).startswith(Region.path))
        )
    if key_only:
        query = query.where(Region.key_county.is_(True))
    return list(db.session.scalars(query))


def county_subjects(counties: list[Region]) -> list[SubjectOf]:
    return [SubjectOf("region", c.code, c.name, c.code) for c in counties]


def county_map(county_codes: Sequence[str]) -> sa.CTE | sa.Subquery:
    """A table of every region code under (or at) one of `county_codes`, with its county and the county's
    place in `county_codes` (`county_no`: a number sorts and partitions faster than a code compared as text).

    Computed once, so that drills join it on an equality. PostgreSQL takes a path-prefix join for a couple of
    rows, and at national scale then read a key-county rule's drills once per region through two indexes, past
    the statement timeout: for it the table is worked out here and sent as VALUES, whose size it knows, in the
    statement itself rather than as a CTE, which would keep it from reading the drills with parallel workers (the
    reviews' statements took 1.3 and 1.1 s at national scale instead of 0.9 and 0.6 s). SQLite, given those
    VALUES, scans the drills once per region instead: it keeps the prefix join, materialised, which it plans well.
    """
    number = {code: index for index, code in enumerate(county_codes)}
    if db.engine.dialect.name == "sqlite":
        county = aliased(Region)
        return (
            sa.select(
                Region.code.label("region_code"),
                county.code.label("county_code"),
                (sa.case(number, value=county.code) if number else sa.null()).label("county_no"),
            )
            .join(county, Region.path.startswith(county.path))
            .where(county.code.in_(county_codes))
            .cte("county_map")
            .prefix_with("MATERIALIZED")
        )
    rows = [
        (code, county, number[county])
        for code, path in db.session.execute(sa.select(Region.code, Region.path)).tuples()
        for county in path.strip("/").split("/")
        if county in number
    ]
    return _values_table(rows).subquery("county_map")


def _values_table(rows: list[tuple[str, str, int]]) -> sa.TextualSelect:
    """`rows` as a VALUES list written out as text: an sa.values() of literals is built and compiled again
    for every statement (15 ms for Tacheng's 169 regions, nine times an evaluation), whereas a statement
    around the same text is compiled once and then found in SQLAlchemy's cache."""
    quoted = sa.String().literal_processor(db.engine.dialect)  # type: ignore[no-untyped-call]
    assert quoted is not None
    # No region: one row that matches nothing (an empty VALUES list is not SQL).
    listed = ", ".join(f"({quoted(code)}, {quoted(county)}, {int(no)})" for code, county, no in rows)
    return sa.text(
        f"SELECT * FROM (VALUES {listed or '(NULL, NULL, NULL)'}) AS listed (region_code, county_code, county_no)"
    ).columns(
        sa.column("region_code", sa.String),
        sa.column("county_code", sa.String),
        sa.column("county_no", sa.Integer),
    )


def subtree_list(region_code: str) -> list[str]:
    """The codes of a region's subtree, as a list: PostgreSQL estimates an IN list well, whereas a
    prefix match on a path it takes for one row, and then walks the drills region by region."""
    return list(db.session.scalars(access.subtree_codes(region_code)))


def org_scope(region_code: str | None) -> sa.ColumnElement[bool]:
    if region_code is None:
        return sa.true()
    return Organisation.region_code.in_(subtree_list(region_code))


def subject_orgs(
    region_code: str | None, kinds: Sequence[str], county_codes: Sequence[str], org_ids: Sequence[int] | None = None
) -> list[tuple[str, SubjectOf]]:
    """The units of `kinds` in scope (only `org_ids`, if given), each with its kind, in one query."""
    cmap = county_map(county_codes)
    query = (
        sa.select(Organisation.kind, Organisation.id, Organisation.name, cmap.c.county_code)
        .join(cmap, cmap.c.region_code == Organisation.region_code)
        .where(Organisation.kind.in_([OrgKind(k) for k in kinds]), org_scope(region_code))
        .order_by(cmap.c.county_code, Organisation.name, Organisation.id)
    )
    if org_ids is not None:
        query = query.where(Organisation.id.in_(org_ids))
    rows = db.session.connection().execute(query).tuples().all()  # plain rows at once: 500,000 at national scale
    return [(kind.value, SubjectOf("org", str(i), name, county)) for kind, i, name, county in rows]


def period_index(column: QueryableAttribute[datetime], spans: Sequence[Period]) -> sa.Case[int]:
    """The index of the period a timestamp falls in, as a CASE over the periods' UTC bounds."""
    whens = [(sa.and_(column >= p.start, column < p.end), index) for index, p in enumerate(spans)]
    return sa.case(*whens, else_=sa.null())
