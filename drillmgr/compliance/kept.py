"""Kept compliance results: what the dashboards and the API read instead of evaluating on every view.

A result of evaluate() for a year, a region, what the reader may know of (double-blind drills not yet
started) and with or without evidence is kept in the shared store (drillmgr.cache.store: Redis or the
database, the same for every worker and machine), tagged with the `compliance` generation it was made
under. That generation is raised in the same transaction as every change of a drill, review, finding,
action, organisation, region, rule or outreach record (drillmgr.cache.generations), so a kept result is
never read after such a change: the first view after it evaluates again and keeps the new result for
everyone. What only the clock changes (a period ending, a warning window opening, a secret drill
starting) is seen within COMPLIANCE_KEPT_SECONDS (60 s), after which the result is evaluated again.

Values are pickled and signed with SECRET_KEY (HMAC-SHA256): a value that does not verify is ignored.
"""

import hashlib
import hmac
import logging
import pickle
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app


from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.results import RuleResult, SubjectResult
from drillmgr.compliance.rules import ensure_rules, params_of
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.extensions import db

log = logging.getLogger(__name__)
FORMAT = "1"  # raised whenever what is pickled changes shape


def _reader(actor: access.Actor, now: datetime) -> str:
    """Which drills `actor` may count: all of them where access lets them count every drill or no
    double-blind drill has started yet; otherwise what they may count is theirs alone."""
    if access.counts_every_drill(actor):
        return "all"
    secret = db.session.scalar(sa.select(sa.exists().where(Drill.double_blind.is_(True), Drill.starts_at > now)))
    if not secret:
        return "all"
    assert isinstance(actor, User)  # access limits users alone
    return f"user-{actor.id}-{actor.role.value}-{actor.region_code or ''}-{actor.org_id or ''}"


def _signature(payload: bytes) -> bytes:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), payload, hashlib.sha256).digest()


def _pack(now: datetime, results: list[RuleResult]) -> bytes:
    payload = pickle.dumps((now, [(rr.rule.id, rr.results) for rr in results]), protocol=pickle.HIGHEST_PROTOCOL)
    return _signature(payload) + payload


def _unpack(value: bytes, rules: list[ComplianceRule]) -> tuple[datetime, list[RuleResult]] | None:
    signature, payload = value[:32], value[32:]
    if not hmac.compare_digest(signature, _signature(payload)):
        return None
    computed_at: datetime
    kept: list[tuple[int, list[SubjectResult]]]
    computed_at, kept = pickle.loads(payload)  # noqa: S301 — signed by this installation's key
    by_id = {rule.id: rule for rule in rules}
    if any(rule_id not in by_id for rule_id, _results in kept):
        return None
    return computed_at, [RuleResult(by_id[rule_id], params_of(by_id[rule_id]), results) for rule_id, results in kept]


def slot_of(year: int, region_code: str | None, reader: str, evidence: bool) -> str:
    return f"compliance:{year}:{region_code or '*'}:{reader}:{'evidence' if evidence else 'ids'}"


def kept_evaluate(
    year: int,
    region_code: str | None = None,
    *,
    actor: access.Actor,
    now: datetime | None = None,
    evidence: bool = True,
) -> tuple[list[RuleResult], datetime]:
    """evaluate()'s results as kept for every worker, and the moment they were evaluated ("as of");
    evaluated now (and kept) when nothing current is kept."""
    now = now or utcnow()
    rules = ensure_rules(year)  # a year's first use writes its rules (a change): before the generation is read
    generation = generations.current()  # read before the data: a change committed meanwhile raises it again
    reader = _reader(actor, now)
    slot, tag = slot_of(year, region_code, reader, evidence), f"{FORMAT}-{generation}"
    fresh_for = timedelta(seconds=current_app.config["COMPLIANCE_KEPT_SECONDS"])
    value = shared.get(slot, tag)
    if value is not None:
        try:
            unpacked = _unpack(value, rules)
        except Exception:  # noqa: BLE001 — a value from an older version of the code: evaluate again
            log.warning("compliance: ignoring a kept value that does not load", exc_info=True)
            unpacked = None
        if unpacked is not None and unpacked[0] <= now < unpacked[0] + fresh_for:
            return unpacked[1], unpacked[0]
    results = evaluate(year, region_code, actor=actor, now=now, evidence=evidence)
    _keep(slot, tag, now, results)
    return results, now


def _keep(slot: str, tag: str, now: datetime, results: list[RuleResult]) -> None:
    try:
        packed = _pack(now, results)
    except Exception:  # noqa: BLE001 — never fail a view for the cache's sake
        log.warning("compliance: could not keep a result", exc_info=True)
        return
    shared.put(slot, tag, packed)
