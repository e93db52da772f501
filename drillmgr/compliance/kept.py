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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app


from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.compliance.evaluation import evaluate, no_garbage_collection
from drillmgr.compliance.results import RuleResult, SubjectResult
from drillmgr.compliance.rules import ensure_rules, params_of
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.extensions import db

log = logging.getLogger(__name__)
FORMAT = "2"  # raised whenever what is pickled changes shape
Kept = TypeVar("Kept")


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


def _pack(now: datetime, value: object) -> bytes:
    payload = pickle.dumps((now, value), protocol=pickle.HIGHEST_PROTOCOL)
    return _signature(payload) + payload


def _unpack(packed: bytes) -> tuple[datetime, Any] | None:
    signature, payload = packed[:32], packed[32:]
    if not hmac.compare_digest(signature, _signature(payload)):
        return None
    computed_at: datetime
    with no_garbage_collection():  # tens of thousands of small objects: see evaluation.no_garbage_collection
        computed_at, value = pickle.loads(payload)  # noqa: S301 — signed by this installation's key
    return computed_at, value


def slot_of(year: int, region_code: str | None, reader: str, evidence: bool) -> str:
    return f"compliance:{year}:{region_code or '*'}:{reader}:{'evidence' if evidence else 'ids'}"


def _kept(
    slot_of_reader: Callable[[str], str],
    actor: access.Actor,
    now: datetime,
    build: Callable[[], tuple[Kept, datetime]],
    to_stored: Callable[[Kept], object] = lambda value: value,
    from_stored: Callable[[Any], Kept | None] = lambda value: value,
) -> tuple[Kept, datetime]:
    """What `build` makes, as kept for every worker under the current `compliance` generation and for what
    `actor` may count, and as of when (`build` says: a value made from kept statuses is as old as they
    are); built now (and kept) when nothing current is kept."""
    generation = generations.current()  # read before the data: a change committed meanwhile raises it again
    slot, tag = slot_of_reader(_reader(actor, now)), f"{FORMAT}-{generation}"
    fresh_for = timedelta(seconds=current_app.config["COMPLIANCE_KEPT_SECONDS"])
    packed = shared.get(slot, tag)
    if packed is not None:
        try:
            unpacked = _unpack(packed)
            value = None if unpacked is None else from_stored(unpacked[1])
        except Exception:  # noqa: BLE001 — a value from an older version of the code: build again
            log.warning("compliance: ignoring a kept value that does not load", exc_info=True)
            unpacked = value = None
        if unpacked is not None and value is not None and unpacked[0] <= now < unpacked[0] + fresh_for:
            return value, unpacked[0]
    built, as_of = build()
    _keep(slot, tag, as_of, to_stored(built))
    return built, as_of


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
    by_id = {rule.id: rule for rule in rules}

    def from_stored(kept: list[tuple[int, list[SubjectResult]]]) -> list[RuleResult] | None:
        if any(rule_id not in by_id for rule_id, _results in kept):
            return None
        return [RuleResult(by_id[rule_id], params_of(by_id[rule_id]), results) for rule_id, results in kept]

    return _kept(
        lambda reader: slot_of(year, region_code, reader, evidence),
        actor,
        now,
        lambda: (evaluate(year, region_code, actor=actor, now=now, evidence=evidence), now),
        lambda results: [(rr.rule.id, rr.results) for rr in results],
        from_stored,
    )


def kept_value(
    name: str, *, actor: access.Actor, now: datetime, build: Callable[[], tuple[Kept, datetime]]
) -> tuple[Kept, datetime]:
    """Another value made from what compliance reads (a dashboard's panels), kept the same way as the
    statuses: for every worker, under the `compliance` generation, per what `actor` may count. `name` says
    what it is and for which year and region; `build` makes plain data (dataclasses, no ORM objects, no
    translated text) and says as of when."""
    return _kept(lambda reader: f"{name}:{reader}", actor, now, build)


def _keep(slot: str, tag: str, now: datetime, value: object) -> None:
    try:
        packed = _pack(now, value)
    except Exception:  # noqa: BLE001 — never fail a view for the cache's sake
        log.warning("compliance: could not keep a result", exc_info=True)
        return
    shared.put(slot, tag, packed)
