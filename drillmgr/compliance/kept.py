"""Kept compliance results: what the dashboards and the API read instead of evaluating on every view.

A result of evaluate() for a year, a region, what the reader may know of (double-blind drills not yet started)
and with or without evidence is kept in the shared store (drillmgr.cache.store: Redis or the database, the
same for every worker and machine), tagged with the generations it was made under
(drillmgr.cache.generations): the whole `compliance` one and one per county, raised in the same transaction as
every change of a drill, review, finding, action, organisation, region, rule or outreach record that can alter
that county's statuses. A region's results are kept county by county, so that the first view after a change
evaluates again only the counties the change touched, and keeps them for everyone; and within a county, where
the change reached a few units alone (a drill's organiser and participants), only the county's own rules and
those units' are evaluated again, the rest of the kept result standing: a county is kept as a small head (see
CountyHead), which takes those units, and its units' full results apart, which are not written again. What
only the clock changes is foreseen: each kept value holds until when it stays true (the next local midnight,
on which every period, warning window of whole days and "today" turns; the next deadline of an after-action
review; for a reader who may not count every drill, the next start of a double-blind drill), and is evaluated
again from then on. A write that goes around the app raises no generation: a kept value is evaluated again
after COMPLIANCE_KEPT_SECONDS even so.

Values are pickled and signed with SECRET_KEY (HMAC-SHA256): a value that does not verify is ignored.
"""

import hashlib
import hmac
import logging
import pickle
import secrets
from collections.abc import Callable, Collection, Iterator
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
    STATUS,
    SUBJECT_ID,
    Packed,
    RuleResult,
    SubjectResult,
    next_change,
    pack_results,
    unpack_results,
)
from drillmgr.compliance.rules import ensure_rules, params_of
from drillmgr.compliance.subjects import RegionTotals, Totals, subject_counties
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import ComplianceStatus, RegionLevel
from drillmgr.extensions import db
from drillmgr.localtime import local_midnight, local_today
from drillmgr.regions.models import Region
from drillmgr.validation import parse_whole_number

log = logging.getLogger(__name__)
FORMAT = "7"  # raised whenever what is pickled changes shape
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


def _pack(value: object) -> bytes:
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _signature(payload) + payload


def _unpack(packed: bytes) -> Any:
    """What _pack() packed; None if it does not verify."""
    signature, payload = packed[:32], packed[32:]
    if not hmac.compare_digest(signature, _signature(payload)):
        return None
    with no_garbage_collection():  # tens of thousands of small objects: see evaluation.no_garbage_collection
        return pickle.loads(payload)  # noqa: S301 — signed by this installation's key


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
        unpacked: Stored | None = _unpack(packed)
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
UnitRows = dict[int, list[Packed]]  # one county's unit rules: (rule id: its units' results, packed)
NEWER_LIMIT = 500  # units evaluated again that a head holds before its county's unit rows are written anew


@dataclass(frozen=True, slots=True)
class CountyHead:
    """What is kept of one county's results, as every view reads it: each county rule's results and each
    unit rule's status per unit. The units' full results are kept apart under `rows_slot`, written once and
    read only by what lists units; the units evaluated again since are held here, in `newer`. So that
    bringing a county up to date after a change reads and writes the few units it reached, not all of them
    (at national scale a county's units' results are 30 MB: 3.5 s to read and write again)."""

    rule_ids: tuple[int, ...]
    county_rows: dict[int, list[Packed]]
    statuses: dict[int, dict[str, ComplianceStatus]]  # unit rule id: {unit id: its status}
    rows_slot: str
    rows_tag: str  # the rows of this head: another head's, written since to the same slot, are not
    newer: dict[int, dict[str, Packed]]  # unit rule id: {unit id: its result evaluated since the rows}
    # review rule id: {region code: its totals}, where the rule was counted region by region (without evidence),
    # so that after a change only the regions it reached are counted again (subjects.RegionTotals)
    region_totals: dict[int, dict[str, Totals]]

    def unit_count(self) -> int:
        return sum(len(units) for units in self.statuses.values())

    def newer_count(self) -> int:
        return sum(len(units) for units in self.newer.values())


def _head_of(results: list[RuleResult], rows_slot: str, region_totals: dict[int, dict[str, Totals]]) -> CountyHead:
    """A county's head for its `results` (and the totals they were counted from region by region), its units'
    results written to `rows_slot`."""
    county_rows: dict[int, list[Packed]] = {}
    statuses: dict[int, dict[str, ComplianceStatus]] = {}
    rows: UnitRows = {}
    for rr in results:
        packed = pack_results(rr.results)
        if rr.params.by_org:
            rows[rr.rule.id] = packed
            statuses[rr.rule.id] = {row[SUBJECT_ID]: row[STATUS] for row in packed}
        else:
            county_rows[rr.rule.id] = packed
    head = CountyHead(
        tuple(rr.rule.id for rr in results), county_rows, statuses, rows_slot, secrets.token_hex(8), {}, region_totals
    )
    _keep_rows(head, rows)
    return head


# The unit rows written while kept_evaluate() reads, by their tag: taken from here rather than read back
# from the store and unpickled.
_rows_written: ContextVar[dict[str, UnitRows] | None] = ContextVar("compliance_rows_written", default=None)


def _keep_rows(head: CountyHead, rows: UnitRows) -> None:
    written = _rows_written.get()
    if written is not None:
        written[head.rows_tag] = rows
    try:
        shared.put(head.rows_slot, head.rows_tag, _pack(rows))
    except Exception:  # noqa: BLE001 — never fail a view for the cache's sake; the head then reads as stale
        log.warning("compliance: could not keep a county's unit results", exc_info=True)


def _read_rows(heads: list[CountyHead]) -> list[UnitRows | None]:
    """Each head's units' results, as kept (None where they are gone or do not verify)."""
    written = _rows_written.get() or {}
    found = shared.store().get_many([head.rows_slot for head in heads if head.rows_tag not in written])
    read: list[UnitRows | None] = []
    for head in heads:
        if head.rows_tag in written:
            read.append(written[head.rows_tag])
            continue
        tag, packed = found.get(head.rows_slot, ("", b""))
        try:
            read.append(_unpack(packed) if tag == head.rows_tag else None)
        except Exception:  # noqa: BLE001 — a value from an older version of the code: build again
            read.append(None)
    return read


def _part_of(head: CountyHead, rows: UnitRows) -> Part:
    """The county's results as one evaluation gave them: its units' rows in their order, the newer in place."""
    part: Part = []
    for rule_id in head.rule_ids:
        if rule_id in head.county_rows:
            part.append((rule_id, head.county_rows[rule_id]))
            continue
        newer = head.newer.get(rule_id)
        part.append((rule_id, [newer.get(row[SUBJECT_ID], row) for row in rows[rule_id]] if newer else rows[rule_id]))
    return part


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


def _evaluate_heads(
    year: int,
    region_code: str | None,
    stale: list[str],
    counties: list[str],
    rows_slot: Callable[[str], str],
    now: datetime,
    **how: Any,
) -> dict[str, tuple[CountyHead, datetime]]:
    """The results of the `stale` counties, each apart, their units' results written to `rows_slot` of the
    county: county by county when few are stale, else one evaluation of the whole region, divided."""
    counting = None if how["evidence"] else RegionTotals()
    if len(stale) * 2 <= len(counties):
        evaluated = {code: _evaluated(year, code, now, region_totals=counting, **how) for code in stale}
    else:
        evaluated = by_county(_evaluated(year, region_code, now, region_totals=counting, **how), counties)
    return {
        code: (_head_of(results, rows_slot(code), _totals_of(counting, code)), now)
        for code, results in evaluated.items()
    }


def _totals_of(counting: RegionTotals | None, code: str) -> dict[int, dict[str, Totals]]:
    """What `counting` counted of county `code`, region by region, per rule."""
    if counting is None:
        return {}
    return {rule_id: by_county.get(code, {}) for rule_id, by_county in counting.made.items()}


def _part(results: list[RuleResult]) -> Part:
    return [(rr.rule.id, pack_results(rr.results)) for rr in results]


Patch = Callable[[dict[str, tuple[Kept, generations.Reached]]], dict[str, Kept]]
Build = Callable[[list[str], str], dict[str, tuple[Kept, datetime]]]


def _number_behind(tag: str, whole: int, number: int) -> int | None:
    """The county generation a kept value's `tag` names, if it is older than `number` under the same
    whole generation and format."""
    form, _dash, rest = tag.partition("-")
    kept_whole, _dash, kept_number = rest.partition("-")
    kept = parse_whole_number(kept_number)
    if form != FORMAT or kept_whole != str(whole) or kept is None or kept >= number:
        return None
    return kept


def kept_per_county(
    slot_of_county: Callable[[str, str], str],
    counties: list[str],
    actor: access.Actor,
    now: datetime,
    build: Build[Kept],
    fresh_for: timedelta | None = None,
    patch: Patch[Kept] | None = None,
    again: Collection[str] = (),
) -> tuple[list[Kept], datetime]:
    """One value per county (in `counties`' order), each kept under the whole generation and its own
    county's, per what `actor` may count, read together; `build` makes those of the stale counties it is
    given (it may make more), each with the moment it is as of, given the reader (see _reader). As of the
    oldest of them. A kept value is read until the clock changes it and while it is less than `fresh_for`
    old (by default COMPLIANCE_KEPT_SECONDS). `patch` brings a county's value kept
    before changes that reached a few of its units alone up to date, given what they reached (it leaves out
    what it cannot); the value is then as old as it was. The counties in `again` are built whatever is kept."""
    whole, *numbers = generations.values([generations.COMPLIANCE, *(generations.county(code) for code in counties)])
    reader = _reader(actor, now)
    slots = {code: slot_of_county(code, reader) for code in counties}
    number_of = dict(zip(counties, numbers, strict=True))
    tags = {code: f"{FORMAT}-{whole}-{number}" for code, number in number_of.items()}
    found = shared.store().get_many(list(slots.values()))
    kept: dict[str, Stored] = {}
    behind: dict[str, tuple[int, Stored]] = {}
    for code, slot in slots.items():
        tag, stored = found.get(slot, ("", b"")) if code not in again else ("", b"")
        older = _number_behind(tag, whole, number_of[code]) if patch is not None else None
        fresh = _fresh(stored, now, fresh_for) if tag == tags[code] or older is not None else None
        if fresh is not None and older is None:
            kept[code] = fresh
        elif fresh is not None and older is not None:
            behind[code] = (older, fresh)
    if behind and patch is not None:
        reached = generations.changes_since({code: (older, number_of[code]) for code, (older, _) in behind.items()})
        with _built(reader, now) as building:
            patched = patch({code: (behind[code][1][2], found) for code, found in reached.items()})
        for code, value in patched.items():
            made_at, until, _old = behind[code][1]
            kept[code] = (made_at, min(until, building.until), value)
            _keep(slots[code], tags[code], kept[code])
    stale = [code for code in counties if code not in kept]
    if stale:
        with _built(reader, now) as building:
            built = build(stale, reader)
        for code, (value, made_at) in built.items():
            kept[code] = (made_at, building.until, value)
            _keep(slots[code], tags[code], kept[code])
    as_of = min((made_at for made_at, _until, _value in kept.values()), default=now)
    return [kept[code][2] for code in counties], as_of


def kept_heads(
    year: int,
    region_code: str | None,
    *,
    actor: access.Actor,
    now: datetime,
    evidence: bool,
    again: Collection[str] = (),
) -> tuple[list[CountyHead], datetime]:
    """The kept heads of the counties `region_code` covers whole (see counties_of), brought up to date:
    every county's own rules' results and its units' statuses, without its units' full results; those of
    the counties in `again` evaluated anew."""
    counties, _whole = counties_of(region_code)
    return kept_per_county(
        _slots(year, evidence),
        counties,
        actor,
        now,
        _head_builder(year, region_code, counties, now, actor=actor, evidence=evidence),
        patch=_patcher(year, now, actor=actor, evidence=evidence),
        again=again,
    )


def _head_builder(
    year: int, region_code: str | None, counties: list[str], now: datetime, *, actor: access.Actor, evidence: bool
) -> Build[CountyHead]:
    """Makes the heads of the stale counties of `region_code` for a reader, their units' results written beside
    their heads' slots."""
    slots = _slots(year, evidence)
    how = {"actor": actor, "evidence": evidence}

    def build(stale: list[str], reader: str) -> dict[str, tuple[CountyHead, datetime]]:
        return _evaluate_heads(
            year, region_code, stale, counties, lambda code: f"{slots(code, reader)}:rows", now, **how
        )

    return build


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
        token = _rows_written.set({})
        try:
            joined, as_of = _kept_whole(year, region_code, counties, by_id, actor=actor, now=now, evidence=evidence)
        finally:
            _rows_written.reset(token)
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


def _kept_whole(
    year: int,
    region_code: str | None,
    counties: list[str],
    by_id: dict[int, ComplianceRule],
    *,
    actor: access.Actor,
    now: datetime,
    evidence: bool,
) -> tuple[list[RuleResult] | None, datetime]:
    """The kept results of `counties`, which `region_code` covers whole: their heads, and their units' rows;
    None if they were not made under the rules of `by_id`."""
    heads, as_of = kept_heads(year, region_code, actor=actor, now=now, evidence=evidence)
    rows = _read_rows(heads)
    gone = [code for code, found in zip(counties, rows, strict=True) if found is None]
    if gone:  # pruned from the store before their heads: evaluated again, and kept
        heads, as_of = kept_heads(year, region_code, actor=actor, now=now, evidence=evidence, again=gone)
        rows = _read_rows(heads)
    parts = [_part_of(head, found) for head, found in zip(heads, rows, strict=True) if found is not None]
    return (_joined(parts, by_id) if len(parts) == len(heads) else None), as_of


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


def _patcher(year: int, now: datetime, **how: Any) -> Patch[CountyHead]:
    """Brings kept county heads up to date after changes that reached a few units: the county's own
    rules and those units' unit rules are evaluated again, and replace theirs in the head; where the head
    kept a rule's totals region by region, only the regions the changes reached are counted again."""

    def patch(behind: dict[str, tuple[CountyHead, generations.Reached]]) -> dict[str, CountyHead]:
        county_rules = [rule.key for rule in ensure_rules(year) if rule.enabled and not params_of(rule).by_org]
        patched = {}
        for code, (head, reached) in behind.items():
            counting = _recounting(head, code, reached.regions) if not how["evidence"] else None
            fresh = _evaluated(year, code, now, rule_keys=county_rules, region_totals=counting, **how)
            if reached.units:
                fresh += _evaluated(year, code, now, org_ids=sorted(reached.units), **how)
            spliced = _spliced(head, fresh, _totals_of(counting, code))
            if spliced is not None and spliced.newer_count() > max(NEWER_LIMIT, spliced.unit_count() // 20):
                spliced = _with_rows_rewritten(spliced)
            if spliced is not None:
                patched[code] = spliced
        return patched

    return patch


def _recounting(head: CountyHead, code: str, regions: set[str] | None) -> RegionTotals:
    """What counts a county's totals region by region again: only `regions` (None: all), the others' as the
    head kept them."""
    if regions is None:
        return RegionTotals()
    kept = {rule_id: {code: by_region} for rule_id, by_region in head.region_totals.items()}
    return RegionTotals(kept, frozenset(regions))


def _spliced(
    head: CountyHead, fresh: list[RuleResult], region_totals: dict[int, dict[str, Totals]]
) -> CountyHead | None:
    """`head` with the results of `fresh` (counted from `region_totals`) in place of its own: a county rule's
    whole, a unit rule's for the units evaluated again. None if they do not fit it (a rule or a unit it does
    not have)."""
    county_rows = dict(head.county_rows)
    statuses = dict(head.statuses)
    newer = dict(head.newer)
    for rr in fresh:
        rule_id, packed = rr.rule.id, pack_results(rr.results)
        if not rr.params.by_org:
            if rule_id not in county_rows:
                return None
            county_rows[rule_id] = packed
            continue
        known = head.statuses.get(rule_id)
        if known is None or any(row[SUBJECT_ID] not in known for row in packed):
            return None
        statuses[rule_id] = known | {row[SUBJECT_ID]: row[STATUS] for row in packed}
        newer[rule_id] = head.newer.get(rule_id, {}) | {row[SUBJECT_ID]: row for row in packed}
    return CountyHead(head.rule_ids, county_rows, statuses, head.rows_slot, head.rows_tag, newer, region_totals)


def _with_rows_rewritten(head: CountyHead) -> CountyHead | None:
    """`head` with its newer units' results written into its county's unit rows (None if those are gone)."""
    (rows,) = _read_rows([head])
    if rows is None:
        return None
    part = dict(_part_of(head, rows))
    written = CountyHead(
        head.rule_ids, head.county_rows, head.statuses, head.rows_slot, secrets.token_hex(8), {}, head.region_totals
    )
    _keep_rows(written, {rule_id: part[rule_id] for rule_id in rows})
    return written


def _slots(year: int, evidence: bool) -> Callable[[str, str], str]:
    return lambda code, reader: slot_of(year, code, reader, evidence)


def _evaluator(
    year: int, counties: list[str], now: datetime, evidence: bool, evaluated: list[str]
) -> Build[CountyHead]:
    """What refresh() evaluates the stale counties with, as the system; noting them in `evaluated`."""
    build = _head_builder(year, None, counties, now, actor=access.SYSTEM, evidence=evidence)

    def noted(stale: list[str], reader: str) -> dict[str, tuple[CountyHead, datetime]]:
        evaluated.extend(stale)
        return build(stale, reader)

    return noted


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
