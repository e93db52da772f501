"""Kept compliance results: what the dashboards and the API read instead of evaluating on every view.

A result of evaluate() for a year, a region, what the reader may know of (double-blind drills not yet
started) and with or without evidence is kept in the shared store (drillmgr.cache.store: Redis or the
database, the same for every worker and machine), tagged with the generations it was made under
(drillmgr.cache.generations): the whole `compliance` one and one per county, raised in the same
transaction as every change of a drill, review, finding, action, organisation, region, rule or outreach
record that can alter that county's statuses. A region's results are kept county by county, so that the
first view after a change evaluates again only the counties the change touched, and keeps them for
everyone; and within a county, where the change reached a few units alone (a drill's organiser and
participants), only the county's own rules and those units' are evaluated again, the rest of the kept
result standing. What only the clock changes is foreseen: each kept value holds until when it stays true (the next
local midnight, on which every period, warning window of whole days and "today" turns; the next deadline of an
after-action review; for a reader who may not count every drill, the next start of a double-blind drill), and is
evaluated again from then on. A write that goes around the app raises no generation: a kept value is evaluated
again after COMPLIANCE_KEPT_SECONDS even so.

Values are pickled and signed with SECRET_KEY (HMAC-SHA256): a value that does not verify is ignored.
"""

import hashlib
import hmac
import logging
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app


from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.compliance.evaluation import evaluate, no_garbage_collection
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.results import (
    SUBJECT_ID,
    Packed,
    RuleResult,
    SubjectResult,
    next_change,
    pack_results,
    unpack_results,
)
from drillmgr.compliance.rules import ensure_rules, params_of
from drillmgr.compliance.subjects import subject_counties
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import RegionLevel
from drillmgr.extensions import db
from drillmgr.localtime import local_midnight, local_today
from drillmgr.regions.models import Region

log = logging.getLogger(__name__)
FORMAT = "5"  # raised whenever what is pickled changes shape
Kept = TypeVar("Kept")


def _reader(actor: access.Actor, now: datetime) -> str:
    """Which drills `actor` may count: all of them where access lets them count every drill or no
    double-blind drill has started yet; otherwise what they may count is theirs alone."""
    if access.counts_every_drill(actor):
        return "all"
    secret = db.session.scalar(sa.select(sa.exists().where(access.secret_clause(now))))
    if not secret:
        return "all"
    assert isinstance(actor, User)  # access limits users alone
    return f"user-{actor.id}-{actor.role.value}-{actor.region_code or ''}-{actor.org_id or ''}"


def _signature(payload: bytes) -> bytes:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), payload, hashlib.sha256).digest()


Stored = tuple[datetime, datetime, Any]  # when a value was made, until when the clock leaves it true, the value


def _pack(stored: Stored) -> bytes:
    payload = pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL)
    return _signature(payload) + payload


def _unpack(packed: bytes) -> Stored | None:
    signature, payload = packed[:32], packed[32:]
    if not hmac.compare_digest(signature, _signature(payload)):
        return None
    with no_garbage_collection():  # tens of thousands of small objects: see evaluation.no_garbage_collection
        stored: Stored = pickle.loads(payload)  # noqa: S301 — signed by this installation's key
    return stored


@dataclass
class _Building:
    until: datetime  # the earliest moment at which the clock alone changes what is being built


_building: ContextVar[_Building | None] = ContextVar("compliance_building", default=None)


def _note(until: datetime) -> None:
    """What is being built is made from something that stays true until `until`."""
    building = _building.get()
    if building is not None and until < building.until:
        building.until = until


@contextmanager
def _built(reader: str, now: datetime) -> Iterator[_Building]:
    """Gathers until when what is built within stays true: the earliest of what it was made from (evaluations,
    kept values read) and of the clock's own turns for `reader`. What encloses it holds no longer."""
    building = _Building(_clock_turns(reader, now))
    token = _building.set(building)
    try:
        yield building
    finally:
        _building.reset(token)
    _note(building.until)


def _clock_turns(reader: str, now: datetime) -> datetime:
    """The next moment after `now` at which the clock alone may change what compliance shows to `reader`,
    whatever the results: local midnight (periods and warning windows are whole days; corrective actions and
    outreach are due or held by the day), and for a reader who may not count every drill the start of the
    next double-blind drill, which then counts for them."""
    turn = local_midnight(local_today(now) + timedelta(days=1))
    if reader != "all":
        start = db.session.scalar(sa.select(sa.func.min(Drill.starts_at)).where(access.secret_clause(now)))
        if start is not None:
            turn = min(turn, start)
    return turn


def _evaluated(year: int, region_code: str | None, now: datetime, **how: Any) -> list[RuleResult]:
    """evaluate(), noting until when its results stay true (a review's deadline, a period's turn)."""
    results = evaluate(year, region_code, now=now, **how)
    change = next_change(results, now)
    if change is not None:
        _note(change)
    return results


def slot_of(year: int, region_code: str | None, reader: str, evidence: bool) -> str:
    return f"compliance:{year}:{region_code or '*'}:{reader}:{'evidence' if evidence else 'ids'}"


def counties_of(region_code: str | None) -> tuple[list[str], bool]:
    """The counties a region's compliance covers, and whether it covers them whole (it is one of them, or
    above them) rather than a part of one (a township's units)."""
    codes = [county.code for county in subject_counties(region_code)]
    region = db.session.get(Region, region_code) if region_code is not None else None
    return codes, region is None or region.level in (RegionLevel.PREFECTURE, RegionLevel.COUNTY)


def _generation_tag(counties: list[str]) -> str:
    """The version of what compliance reads in `counties`: the whole generation and each county's."""
    names = [generations.COMPLIANCE, *(generations.county(code) for code in counties)]
    numbers = ",".join(str(value) for value in generations.values(names))
    return f"{FORMAT}-{hashlib.blake2b(numbers.encode(), digest_size=12).hexdigest()}"


def _fresh(packed: bytes | None, now: datetime, fresh_for: timedelta | None = None) -> Stored | None:
    """When the value was made, until when it holds and the value, if it verifies, loads, still holds at `now`
    and is less than `fresh_for` old (by default COMPLIANCE_KEPT_SECONDS); noted as a part of what is being
    built."""
    if packed is None:
        return None
    try:
        unpacked = _unpack(packed)
    except Exception:  # noqa: BLE001 — a value from an older version of the code: build again
        log.warning("compliance: ignoring a kept value that does not load", exc_info=True)
        return None
    fresh_for = fresh_for or timedelta(seconds=current_app.config["COMPLIANCE_KEPT_SECONDS"])
    if unpacked is None or not unpacked[0] <= now < min(unpacked[1], unpacked[0] + fresh_for):
        return None
    _note(unpacked[1])
    return unpacked


def _kept(
    slot_of_reader: Callable[[str], str],
    region_code: str | None,
    actor: access.Actor,
    now: datetime,
    build: Callable[[], tuple[Kept, datetime]],
    to_stored: Callable[[Kept], object] = lambda value: value,
    from_stored: Callable[[Any], Kept | None] = lambda value: value,
) -> tuple[Kept, datetime]:
    """What `build` makes of `region_code`'s compliance data, as kept for every worker under the current
    generations of its counties and for what `actor` may count, and as of when (`build` says: a value made
    from kept statuses is as old as they are); built now (and kept) when nothing current is kept."""
    tag = _generation_tag(counties_of(region_code)[0])  # read before the data: a change meanwhile raises it again
    reader = _reader(actor, now)
    slot = slot_of_reader(reader)
    unpacked = _fresh(shared.get(slot, tag), now)
    value = None if unpacked is None else from_stored(unpacked[2])
    if unpacked is not None and value is not None:
        return value, unpacked[0]
    with _built(reader, now) as building:
        built, as_of = build()
    _keep(slot, tag, (as_of, building.until, to_stored(built)))
    return built, as_of


Part = list[tuple[int, list[Packed]]]  # one county's results: (rule id, its subjects' results, packed)


def by_county(results: list[RuleResult], counties: list[str]) -> dict[str, list[RuleResult]]:
    """Results divided by the county of each subject, rule by rule, in one pass."""
    divided: dict[str, list[RuleResult]] = {code: [] for code in counties}
    for rr in results:
        subjects: dict[str, list[SubjectResult]] = {code: [] for code in counties}
        for result in rr.results:
            subjects[result.county_code].append(result)
        for code in counties:
            divided[code].append(RuleResult(rr.rule, rr.params, subjects[code]))
    return divided


def _evaluate_parts(
    year: int, region_code: str | None, stale: list[str], counties: list[str], now: datetime, **how: Any
) -> dict[str, tuple[Part, datetime]]:
    """The results of the `stale` counties, each apart: county by county when few are stale, else one
    evaluation of the whole region, divided."""
    if len(stale) * 2 <= len(counties):
        evaluated = {code: _evaluated(year, code, now, **how) for code in stale}
    else:
        evaluated = by_county(_evaluated(year, region_code, now, **how), counties)
    return {code: (_part(results), now) for code, results in evaluated.items()}


def _part(results: list[RuleResult]) -> Part:
    return [(rr.rule.id, pack_results(rr.results)) for rr in results]


Patch = Callable[[dict[str, tuple[Kept, set[int]]]], dict[str, Kept]]


def _number_behind(tag: str, whole: int, number: int) -> int | None:
    """The county generation a kept value's `tag` names, if it is older than `number` under the same
    whole generation and format."""
    form, _dash, rest = tag.partition("-")
    kept_whole, _dash, kept_number = rest.partition("-")
    if form != FORMAT or kept_whole != str(whole) or not kept_number.isdigit() or int(kept_number) >= number:
        return None
    return int(kept_number)


def kept_per_county(
    slot_of_county: Callable[[str, str], str],
    counties: list[str],
    actor: access.Actor,
    now: datetime,
    build: Callable[[list[str]], dict[str, tuple[Kept, datetime]]],
    fresh_for: timedelta | None = None,
    patch: Patch[Kept] | None = None,
) -> tuple[list[Kept], datetime]:
    """One value per county (in `counties`' order), each kept under the whole generation and its own
    county's, per what `actor` may count, read together; `build` makes those of the stale counties it is
    given (it may make more), each with the moment it is as of. As of the oldest of them. A kept value is
    read until the clock changes it and while it is less than `fresh_for` old (by default
    COMPLIANCE_KEPT_SECONDS). `patch` brings a county's value kept
    before changes that reached a few of its units alone up to date, given those units (it leaves out what
    it cannot); the value is then as old as it was."""
    whole, *numbers = generations.values([generations.COMPLIANCE, *(generations.county(code) for code in counties)])
    reader = _reader(actor, now)
    slots = {code: slot_of_county(code, reader) for code in counties}
    number_of = dict(zip(counties, numbers, strict=True))
    tags = {code: f"{FORMAT}-{whole}-{number}" for code, number in number_of.items()}
    found = shared.store().get_many(list(slots.values()))
    kept: dict[str, Stored] = {}
    behind: dict[str, tuple[int, Stored]] = {}
    for code, slot in slots.items():
        tag, stored = found.get(slot, ("", b""))
        older = _number_behind(tag, whole, number_of[code]) if patch is not None else None
        fresh = _fresh(stored, now, fresh_for) if tag == tags[code] or older is not None else None
        if fresh is not None and older is None:
            kept[code] = fresh
        elif fresh is not None and older is not None:
            behind[code] = (older, fresh)
    if behind and patch is not None:
        reached = generations.units_changed({code: (older, number_of[code]) for code, (older, _) in behind.items()})
        with _built(reader, now) as building:
            patched = patch({code: (behind[code][1][2], units) for code, units in reached.items()})
        for code, value in patched.items():
            made_at, until, _old = behind[code][1]
            kept[code] = (made_at, min(until, building.until), value)
            _keep(slots[code], tags[code], kept[code])
    stale = [code for code in counties if code not in kept]
    if stale:
        with _built(reader, now) as building:
            built = build(stale)
        for code, (value, made_at) in built.items():
            kept[code] = (made_at, building.until, value)
            _keep(slots[code], tags[code], kept[code])
    as_of = min((made_at for made_at, _until, _value in kept.values()), default=now)
    return [kept[code][2] for code in counties], as_of


def kept_evaluate(
    year: int,
    region_code: str | None = None,
    *,
    actor: access.Actor,
    now: datetime | None = None,
    evidence: bool = True,
) -> tuple[list[RuleResult], datetime]:
    """evaluate()'s results as kept for every worker, and the moment they were evaluated ("as of");
    evaluated now (and kept) when nothing current is kept. A region's results are its counties' kept
    apart, so that after a change only the counties it touched are evaluated again."""
    now = now or utcnow()
    rules = ensure_rules(year)  # a year's first use writes its rules (a change): before the generation is read
    by_id = {rule.id: rule for rule in rules}
    counties, whole = counties_of(region_code)
    if whole:
        parts, as_of = kept_per_county(
            _slots(year, evidence),
            counties,
            actor,
            now,
            lambda stale: _evaluate_parts(year, region_code, stale, counties, now, actor=actor, evidence=evidence),
            patch=_patcher(year, now, actor=actor, evidence=evidence),
        )
        joined = _joined(parts, by_id)
        if joined is not None:
            return joined, as_of
        return _evaluated(year, region_code, now, actor=actor, evidence=evidence), now

    def from_stored(kept: Part) -> list[RuleResult] | None:
        return _joined([kept], by_id)

    return _kept(
        lambda reader: slot_of(year, region_code, reader, evidence),
        region_code,
        actor,
        now,
        lambda: (_evaluated(year, region_code, now, actor=actor, evidence=evidence), now),
        _part,
        from_stored,
    )


def refresh(year: int, now: datetime) -> int:
    """Evaluates again, as the scheduler does every half minute, each county whose statuses as kept for
    those who count every drill (with and without evidence) are missing, made from older data, past the
    moment the clock changes them, or half as old as COMPLIANCE_KEPT_SECONDS: so that views seldom evaluate
    anything themselves. How many it evaluated.
    Notes of changes older than any kept result that is still served are forgotten."""
    ensure_rules(year)
    counties, _whole = counties_of(None)
    kept_for = timedelta(seconds=current_app.config["COMPLIANCE_KEPT_SECONDS"])
    generations.prune_changes(now - 2 * kept_for)
    fresh_for = kept_for / 2
    evaluated: list[str] = []
    for evidence in (False, True):
        kept_per_county(
            _slots(year, evidence),
            counties,
            access.SYSTEM,
            now,
            _evaluator(year, counties, now, evidence, evaluated),
            fresh_for,
            _patcher(year, now, actor=access.SYSTEM, evidence=evidence),
        )
    return len(evaluated)


def _patcher(year: int, now: datetime, **how: Any) -> Patch[Part]:
    """Brings kept county results up to date after changes that reached a few units: the county's own
    rules and those units' unit rules are evaluated again, and replace theirs in the kept result."""

    def patch(behind: dict[str, tuple[Part, set[int]]]) -> dict[str, Part]:
        county_rules = [rule.key for rule in ensure_rules(year) if rule.enabled and not params_of(rule).by_org]
        patched = {}
        for code, (part, units) in behind.items():
            fresh = _evaluated(year, code, now, rule_keys=county_rules, **how)
            if units:
                fresh += _evaluated(year, code, now, org_ids=sorted(units), **how)
            spliced = _spliced(part, fresh)
            if spliced is not None:
                patched[code] = spliced
        return patched

    return patch


def _spliced(part: Part, fresh: list[RuleResult]) -> Part | None:
    """`part` with the results of `fresh` in place of its own: a county rule's whole, a unit rule's for the
    units evaluated again. None if they do not fit it (a rule or a unit it does not have)."""
    new = {rr.rule.id: rr for rr in fresh}
    spliced: Part = []
    for rule_id, results in part:
        rr = new.pop(rule_id, None)
        if rr is None:
            spliced.append((rule_id, results))
        elif not rr.params.by_org:
            spliced.append((rule_id, pack_results(rr.results)))
        else:
            by_unit = {row[SUBJECT_ID]: row for row in pack_results(rr.results)}
            spliced.append((rule_id, [by_unit.pop(row[SUBJECT_ID], row) for row in results]))
            if by_unit:
                return None
    return None if new else spliced


def _slots(year: int, evidence: bool) -> Callable[[str, str], str]:
    return lambda code, reader: slot_of(year, code, reader, evidence)


def _evaluator(
    year: int, counties: list[str], now: datetime, evidence: bool, evaluated: list[str]
) -> Callable[[list[str]], dict[str, tuple[Part, datetime]]]:
    """What refresh() evaluates the stale counties with, as the system; noting them in `evaluated`."""

    def build(stale: list[str]) -> dict[str, tuple[Part, datetime]]:
        evaluated.extend(stale)
        return _evaluate_parts(year, None, stale, counties, now, actor=access.SYSTEM, evidence=evidence)

    return build


def _joined(parts: list[Part], by_id: dict[int, ComplianceRule]) -> list[RuleResult] | None:
    """The counties' results as one evaluation's: rule by rule, county after county (evaluate's order);
    None if they were not made under the same rules."""
    if not parts:
        return []
    joined = []
    rule_ids = [rule_id for rule_id, _results in parts[0]]
    if any([rule_id for rule_id, _results in part] != rule_ids for part in parts):
        return None
    for index, rule_id in enumerate(rule_ids):
        rule = by_id.get(rule_id)
        if rule is None:
            return None
        with no_garbage_collection():
            results = [result for part in parts for result in unpack_results(part[index][1])]
        joined.append(RuleResult(rule, params_of(rule), results))
    return joined


def kept_value(
    name: str,
    *,
    region_code: str | None,
    actor: access.Actor,
    now: datetime,
    build: Callable[[], tuple[Kept, datetime]],
) -> tuple[Kept, datetime]:
    """Another value made from what compliance reads of `region_code` (a dashboard's panels), kept the same
    way as the statuses: for every worker, under its counties' generations, per what `actor` may count.
    `name` says what it is and for which year and region; `build` makes plain data (dataclasses, no ORM
    objects, no translated text) and says as of when."""
    return _kept(lambda reader: f"{name}:{reader}", region_code, actor, now, build)


def _keep(slot: str, tag: str, stored: Stored) -> None:
    try:
        packed = _pack(stored)
    except Exception:  # noqa: BLE001 — never fail a view for the cache's sake
        log.warning("compliance: could not keep a result", exc_info=True)
        return
    shared.put(slot, tag, packed)
