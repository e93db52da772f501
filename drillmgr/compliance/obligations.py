"""What a unit owes, and which units (or counties) of a region stand where on one rule.

Both are read from evaluate(): a unit's page evaluates the unit rules for that one unit; a rule's
list evaluates that one rule for the whole region, by the engine's set-based queries (no query per
unit). The review-timeliness gaps are listed drill by drill, one page at a time.
"""

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.compliance.labels import evidence_description, join_list, missing_label, slot_last_day, slot_period_name
from drillmgr.compliance.periods import periods
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.results import RANK, RuleResult, SubjectResult
from drillmgr.compliance.rule_params import DrillParams, ReviewParams
from drillmgr.compliance.rules import get_rule, params_of
from drillmgr.compliance.subjects import subtree_list
from drillmgr.compliance.sheets import Column, Document, Table, cell
from drillmgr.compliance.sqlfuncs import add_days, aware, later_of, scanned
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import ComplianceStatus, DrillStatus
from drillmgr.extensions import db
from drillmgr.findings.models import Review
from drillmgr.localtime import local_today
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

# The breakdown a matrix cell and a list show: a unit whose remaining periods are not due yet is
# on track as far as it can be (it has met every period so far).
BREAKDOWN = (ComplianceStatus.MET, ComplianceStatus.ON_TRACK, ComplianceStatus.AT_RISK, ComplianceStatus.MISSED)
SORTS = ("status", "name", "due")
REVIEW_PAGE_SIZE = 50
Row = dict[str, Any]


def breakdown_status(status: ComplianceStatus) -> ComplianceStatus:
    return ComplianceStatus.ON_TRACK if status is ComplianceStatus.NOT_DUE else status


def breakdown(counts: Mapping[ComplianceStatus, int]) -> dict[ComplianceStatus, int]:
    """Counts per status (a Counter of ComplianceStatus), folded into BREAKDOWN."""
    folded = {status: 0 for status in BREAKDOWN}
    for status, n in counts.items():
        folded[breakdown_status(status)] += n
    return folded


def reasons_text(rule_result: RuleResult, result: SubjectResult) -> str:
    if isinstance(rule_result.params, ReviewParams):
        outstanding = result.required - result.achieved
        return (
            _("%(n)d of %(total)d reviews outstanding or late", n=outstanding, total=result.required)
            if outstanding
            else ""
        )
    return join_list(dict.fromkeys(missing_label(code) for code in result.reasons), clauses=True)


# --- a unit's obligations -------------------------------------------------------------------------


@dataclass
class Obligation:
    rule: RuleResult
    result: SubjectResult
    evidence_rule: str  # what counts as evidence
    next_due: date | None  # the last day of the next period still to be met
    next_period: str | None
    missing: list[str]  # periods (or links) still lacking, that are due or overdue


@dataclass
class UnitObligations:
    year: int
    org: Organisation
    obligations: list[Obligation]


def _obligation(rule_result: RuleResult, result: SubjectResult, now: datetime) -> Obligation:
    upcoming = sorted(
        (s for s in result.slots if s.status is not ComplianceStatus.MET and s.end > now), key=lambda s: s.end
    )
    due = [s for s in result.slots if s.status in (ComplianceStatus.MISSED, ComplianceStatus.AT_RISK)]
    missing = [missing_label(m) for s in due for m in (s.missing or [s.label])]
    assert isinstance(rule_result.params, DrillParams)  # the unit rules are drill rules
    return Obligation(
        rule_result,
        result,
        evidence_description(rule_result.params),
        slot_last_day(upcoming[0]) if upcoming else None,
        slot_period_name(upcoming[0]) if upcoming else None,
        missing,
    )


def unit_obligations(user: User, year: int, org_id: int, now: datetime | None = None) -> UnitObligations:
    """Every unit rule that applies to the unit, as `user` may know of it (a secret double-blind drill
    the user is no insider of neither counts nor shows)."""
    now = now or utcnow()
    org = db.session.get(Organisation, org_id)
    if org is None:
        access.not_found(_("No such organisation."))
    access.require(access.can_view_unit_obligations(user, org))
    results = evaluate(year, actor=user, now=now, org_ids=[org.id])
    obligations = [_obligation(rr, r, now) for rr in results for r in rr.results if r.subject_id == str(org.id)]
    return UnitObligations(year, org, obligations)


# --- a rule's subjects, by status ------------------------------------------------------------------


@dataclass
class ListRow:
    result: SubjectResult
    county: str
    reason: str
    fix_by: date | None

    @property
    def status(self) -> ComplianceStatus:
        return breakdown_status(self.result.status)


@dataclass
class RuleList:
    year: int
    region: Region
    rule: RuleResult
    rows: list[ListRow]
    counts: dict[ComplianceStatus, int]
    status: ComplianceStatus | None
    sort: str

    @property
    def by_org(self) -> bool:
        return self.rule.subject == "org"

    def document(self) -> Document:
        table = Table(
            "subjects",
            self.rule.short_title,
            [
                Column(_("Unit") if self.by_org else _("County / city")),
                Column(_("County / city")),
                Column(_("Status")),
                Column(_("Reason")),
                Column(_("To be put right by")),
            ],
            [
                [
                    cell(row.result.name),
                    cell(row.county),
                    cell(str(row.result.status.label), tone=row.result.status.value),
                    cell(row.reason),
                    cell(row.fix_by.isoformat() if row.fix_by else None),
                ]
                for row in self.rows
            ],
            empty=_("No unit in this list."),
        )
        return Document(
            _("%(rule)s — %(region)s, %(year)d", rule=self.rule.title, region=self.region.name, year=self.year), [table]
        )

    def filename(self) -> str:
        return f"drillmgr-{self.rule.key}-{self.region.code}-{self.year}.xlsx"


def _sort_key(sort: str) -> Callable[[ListRow], tuple[Any, ...]]:
    if sort == "name":
        return lambda row: (row.result.name, row.result.subject_id)
    if sort == "due":
        return lambda row: (row.fix_by is None, row.fix_by or date.max, row.result.name)
    return lambda row: (RANK[row.result.status], row.fix_by or date.max, row.result.name)


def rule_list(
    user: User,
    year: int,
    region_code: str,
    rule_key: str,
    status: ComplianceStatus | None = None,
    sort: str = "status",
    now: datetime | None = None,
) -> RuleList:
    """The subjects of one rule in a region, with the reason for their status and the date by which it
    must be put right; `status` keeps one group of BREAKDOWN."""
    now = now or utcnow()
    region = db.session.get(Region, region_code)
    if region is None:
        access.not_found(_("No such region."))
    access.require(access.can_view_compliance(user, region_code))
    rule = get_rule(year, rule_key)
    if rule is None or not rule.enabled:
        access.not_found(_("No such rule."))
    (rule_result,) = evaluate(year, region_code, actor=user, now=now, rule_keys=[rule_key], evidence=False)
    names = {
        code: name
        for code, name in db.session.execute(
            sa.select(Region.code, Region.name).where(Region.code.in_({r.county_code for r in rule_result.results}))
        )
    }
    rows = [
        ListRow(r, names.get(r.county_code, r.county_code), reasons_text(rule_result, r), r.fix_by)
        for r in rule_result.results
    ]
    counts = breakdown(Counter(row.result.status for row in rows))
    if status is not None:
        rows = [row for row in rows if row.status is breakdown_status(status)]
    rows.sort(key=_sort_key(sort if sort in SORTS else "status"))
    return RuleList(year, region, rule_result, rows, counts, status, sort if sort in SORTS else "status")


# --- review timeliness: the drills whose review is late --------------------------------------------


@dataclass
class ReviewGap:
    drill_id: int
    title: str
    unit: str
    org_id: int | None
    deadline: date
    submitted_on: date | None


@dataclass
class ReviewGaps:
    year: int
    region: Region
    total: int
    page: int
    per_page: int
    items: list[ReviewGap]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def review_gaps(
    user: User,
    year: int,
    region_code: str,
    page: int = 1,
    per_page: int = REVIEW_PAGE_SIZE,
    now: datetime | None = None,
) -> ReviewGaps:
    """Completed drills of the year in the region whose after-action review was not submitted by its
    deadline (the after-action-filed rule's days after the drill ended), deadline past, oldest first."""
    now = now or utcnow()
    region = db.session.get(Region, region_code)
    if region is None:
        access.not_found(_("No such region."))
    access.require(access.can_view_compliance(user, region_code))
    rule = get_rule(year, "after-action-filed")
    params = params_of(rule) if rule else ReviewParams()
    assert isinstance(params, ReviewParams)
    days: sa.ColumnClause[int] = sa.literal_column(str(params.days))
    span = periods("year", year)[0]
    deadline = add_days(later_of(Drill.ends_at, Drill.completed_at), days)
    unit = sa.func.coalesce(Organisation.name, Region.name)
    late = sa.or_(Review.submitted_at.is_(None), Review.submitted_at > deadline)
    query = (
        sa.select(
            Drill.id,
            Drill.title,
            unit.label("unit"),
            Drill.organizer_org_id,
            deadline.label("deadline"),
            Review.submitted_at,
        )
        .outerjoin(Review, Review.drill_id == Drill.id)
        .outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .outerjoin(Region, Region.code == Drill.organizer_region_code)
        .where(
            scanned(Drill.status) == DrillStatus.COMPLETED,
            scanned(Drill.starts_at) >= span.start,
            scanned(Drill.starts_at) < span.end,
            Drill.region_code.in_(subtree_list(region_code)),
            access.compliance_drill_clause(user, now),
            late,
            deadline < now,
        )
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = db.session.execute(query.order_by(deadline, Drill.id).limit(per_page).offset((page - 1) * per_page))
    items = [
        ReviewGap(
            r.id,
            r.title,
            r.unit or "",
            r.organizer_org_id,
            local_today(aware(r.deadline)),
            local_today(aware(r.submitted_at)) if r.submitted_at else None,
        )
        for r in rows
    ]
    return ReviewGaps(year, region, total, page, per_page, items)
