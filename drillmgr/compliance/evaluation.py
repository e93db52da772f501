"""The compliance engine: every rule of a year, for every subject, with one status and its evidence.

Each rule is evaluated by a few set-based queries: drills (or activities, reviews, actions) are
aggregated in SQL, grouped by subject (a county, or a unit) and period; Python only turns the
aggregated rows into statuses (results.py). Nothing here issues a query per unit or per drill.
Drill rules are in drill_rules.py, the others in county_rules.py; a rule's typed parameters in
rule_params.py.
"""

import gc
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime

from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.compliance.county_rules import evaluate_actions, evaluate_observance, evaluate_reviews, evaluate_six_into
from drillmgr.compliance.drill_rules import evaluate_drills, over_unit_months
from drillmgr.compliance.results import RuleResult, SubjectResult
from drillmgr.compliance.rule_params import (
    ActionParams,
    DrillParams,
    ObservanceParams,
    ReviewParams,
    RuleParams,
    SixIntoParams,
)
from drillmgr.compliance.rules import ensure_rules, params_of
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.subjects import RegionTotals, Run
from drillmgr.db import utcnow
from drillmgr.extensions import db
from drillmgr.regions.models import Region


def _evaluate_rule(rule: ComplianceRule, params: RuleParams, run: Run) -> list[SubjectResult]:
    if isinstance(params, DrillParams):
        return evaluate_drills(params, run)
    if isinstance(params, ReviewParams):
        return evaluate_reviews(params, run, rule.id)
    if isinstance(params, ActionParams):
        return evaluate_actions(params, run)
    if isinstance(params, ObservanceParams):
        return evaluate_observance(params, run)
    assert isinstance(params, SixIntoParams)
    return evaluate_six_into(params, run)


def evaluate(
    year: int,
    region_code: str | None = None,
    *,
    actor: access.Actor,
    now: datetime | None = None,
    rule_keys: Collection[str] | None = None,
    evidence: bool = True,
    org_ids: Collection[int] | None = None,
    region_totals: RegionTotals | None = None,
) -> list[RuleResult]:
    """Every enabled rule of `year` for every subject in `region_code` (None: all), as seen at `now`.

    `actor` limits which drills count to what they may know of (see access.compliance_drill_clause;
    jobs and commands pass access.SYSTEM). Without `evidence`, results carry statuses, counts and
    missing items but evidence only as ids (what the dashboard matrix needs). With `org_ids`, only the
    unit rules are evaluated, for those units alone. With `region_totals` (and without evidence), review rules
    count their totals region by region, and put them there (see subjects.RegionTotals).
    """
    now = now or utcnow()
    if region_code is not None and db.session.get(Region, region_code) is None:
        access.not_found(_("No such region."))
    chosen = [
        (rule, params_of(rule))
        for rule in ensure_rules(year)
        if rule.enabled and (rule_keys is None or rule.key in rule_keys)
    ]
    chosen = [(rule, params) for rule, params in chosen if org_ids is None or params.by_org]
    # Drill rules over units share one aggregate: it need not count units that no rule is about.
    unit_kinds = sorted({k for _, p in chosen if isinstance(p, DrillParams) and p.by_org for k in p.org_kinds})
    unit_rules = [p for _, p in chosen if isinstance(p, DrillParams) and over_unit_months(p)]
    units = None if org_ids is None else tuple(org_ids)
    run = Run(
        year,
        region_code,
        now,
        actor,
        evidence=evidence,
        org_ids=units,
        unit_kinds=unit_kinds,
        unit_rules=unit_rules,
        region_totals=region_totals,
    )
    with no_garbage_collection():
        return [RuleResult(rule, params, _evaluate_rule(rule, params, run)) for rule, params in chosen]


@contextmanager
def no_garbage_collection() -> Iterator[None]:
    """An evaluation allocates tens of thousands of small acyclic objects; the cyclic collector, run
    over the whole application's objects each time, would take longer than the evaluation itself.

    On the way out, what was allocated is moved to the oldest generation unexamined (freezing and at once
    unfreezing moves the collector's lists whole): else the first young collection after it would walk every
    result it made (1.6 s of 4 million objects at national scale). Garbage among them, if any, is still
    found by the next full collection. Not where something else froze objects: unfreezing would free them too."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
