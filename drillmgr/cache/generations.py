"""Generation counters: raised in the same transaction as every change of the data a kept value is
made from, so a value kept under an older generation is never served, by any worker or machine.

Every flush that adds, changes or deletes a row of a table compliance reads (anything but the tables
in UNRELATED) raises a compliance generation: `compliance:<county>` for each county whose subjects the
change can alter (drillmgr.compliance.touched), or the whole `compliance` one when it cannot be placed
in counties (a rule, a region, a drill held for the prefecture, any bulk INSERT/UPDATE/DELETE through
the session). Every change of a region (a name shown in feeds) raises the `regions` one, and every change of
a checklist run or template, a unit or a region the `readiness` one. Writes that go
around the session (raw SQL on a bare connection) are not seen: the app makes none.

Beside a county's rise, the commit notes which units' unit rules its changes may alter (a CountyChange),
unless they may alter any unit's: so a county's kept result can be brought up to date by evaluating its own
rules and those few units' again (drillmgr.compliance.kept).

The generations are raised when the unit commits, all at once and in one order, so that two units that
touch the same counties never wait for each other in opposite orders (a deadlock).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from drillmgr.cache.models import CacheGeneration, CountyChange
from drillmgr.compliance import touched
from drillmgr.extensions import db

COMPLIANCE = "compliance"
REGIONS = "regions"
READINESS = "readiness"
# Tables the readiness figures are made from (units with a standing checklist, and who completed it this term).
READINESS_TABLES = frozenset({"checklist_runs", "checklist_templates", "organisations", "regions"})
# Tables whose changes never change a compliance status.
UNRELATED = frozenset(
    {
        "api_tokens",
        "attachments",
        "audit_log",
        "cache_entries",
        "cache_generations",
        "calendar_feed_versions",
        "checklist_answers",
        "checklist_items",
        "checklist_runs",
        "checklist_templates",
        "compliance_changes",
        "compliance_snapshots",
        "idempotency_keys",
        "job_runs",
        "notifications",
        "outbox_mail",
        "scheduler_leases",
        "users",
    }
)


PENDING = "drillmgr_generations_pending"  # in Session.info: {name: by how much to raise it when the unit commits}
READ = "drillmgr_generations_read"  # in Session.info: pending names read since they were last raised
PLACES = "drillmgr_generations_places"  # in Session.info: where the flush's rows were before it
Units = dict[str, set[int] | None]
UNITS = "drillmgr_generations_units"  # in Session.info: {county: the units its changes reach, None: every unit}
HELD = "drillmgr_generations_held"  # in Session.info: {county: the regions its changes are held in}


def county(code: str) -> str:
    """The generation of one county's compliance (its own and its units' statuses)."""
    return f"{COMPLIANCE}:{code}"


def _raise(connection: sa.Connection, steps: dict[str, int]) -> dict[str, int]:
    """Raises each generation by its steps; what they are now."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(CacheGeneration).values([{"name": name, "value": steps[name]} for name in sorted(steps)])
    raised = connection.execute(
        statement.on_conflict_do_update(
            index_elements=[CacheGeneration.name], set_={"value": CacheGeneration.value + statement.excluded.value}
        ).returning(CacheGeneration.name, CacheGeneration.value)
    )
    return dict(raised.tuples().all())


def _note_units(session: Session, reach: touched.Reach) -> None:
    assert reach.counties is not None
    noted: Units = session.info.setdefault(UNITS, {})
    held: dict[str, set[str]] = session.info.setdefault(HELD, {})
    for code in reach.counties:
        before = noted.get(code, set())
        noted[code] = None if before is None or reach.units is None else before | reach.units
        held[code] = held.get(code, set()) | reach.regions


def _note_changes(
    connection: sa.Connection, steps: dict[str, int], raised: dict[str, int], units: Units, held: dict[str, set[str]]
) -> None:
    """A CountyChange for each county raised whose changes reached some units only."""
    rows = [
        {
            "county_code": code,
            "generation_from": raised[name] - steps[name],
            "generation_to": raised[name],
            "org_ids": sorted(orgs),
            "region_codes": sorted(held.get(code, ())),
        }
        for code, orgs in units.items()
        if orgs is not None and (name := county(code)) in raised
    ]
    if rows:
        connection.execute(sa.insert(CountyChange), rows)


def _relevant(table_name: str | None) -> bool:
    return table_name is not None and table_name not in UNRELATED


def _table(obj: object) -> str | None:
    return getattr(getattr(obj, "__table__", None), "name", None)


def _pend(session: Session, names: Iterable[str]) -> None:
    """Raises `names` when the unit commits: by one more step for a name read (values()) since it was last
    pended, so that a value kept in this unit before a further change of its own is never served."""
    pending: dict[str, int] = session.info.setdefault(PENDING, {})
    read: set[str] = session.info.setdefault(READ, set())
    for name in names:
        if name not in pending or name in read:
            pending[name] = pending.get(name, 0) + 1
            read.discard(name)


def _relevant_objects(objects: Iterable[object]) -> list[object]:
    return [obj for obj in objects if _relevant(_table(obj))]


@sa.event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    changed = _relevant_objects((*session.dirty, *session.deleted))
    session.info[PLACES] = touched.places_before(session, changed) if changed else touched.Places()


@sa.event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    places = session.info.pop(PLACES, None) or touched.Places(everywhere=True)
    everything = (*session.new, *session.dirty, *session.deleted)
    if _relevant_objects(everything):
        touched.add_places_after(places, _relevant_objects((*session.new, *session.dirty)))
        reach = touched.reach(session.connection(), places)
        if reach.counties is None:
            _pend(session, [COMPLIANCE])
        else:
            _pend(session, [county(code) for code in reach.counties])
            _note_units(session, reach)
    if any(_table(obj) == "regions" for obj in everything):
        _pend(session, [REGIONS])
    if any(_table(obj) in READINESS_TABLES for obj in everything):
        _pend(session, [READINESS])


@sa.event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    _pend(
        state.session,
        ([COMPLIANCE] if _relevant(table) else [])
        + ([REGIONS] if table == "regions" else [])
        + ([READINESS] if table in READINESS_TABLES else []),
    )


@sa.event.listens_for(Session, "before_commit")
def _raise_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the unit goes on
        return
    session.flush()
    steps = session.info.pop(PENDING, None)
    session.info.pop(READ, None)
    units = session.info.pop(UNITS, {})
    held = session.info.pop(HELD, {})
    if steps:
        connection = session.connection()
        _note_changes(connection, steps, _raise(connection, steps), units, held)


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        session.info.pop(READ, None)
        session.info.pop(UNITS, None)
        session.info.pop(HELD, None)


def current(name: str = COMPLIANCE) -> int:
    return values([name])[0]


def values(names: list[str]) -> list[int]:
    """The generations of `names`, in their order (0 for one never raised), in one query; as they will be
    when this unit commits, for a value made in it from its own changes (a value kept under them is never
    served if another unit raised one meanwhile: it then rises further)."""
    rows = db.session.execute(
        sa.select(CacheGeneration.name, CacheGeneration.value).where(CacheGeneration.name.in_(names))
    )
    found = {name: value for name, value in rows}
    pending: dict[str, int] = db.session.info.get(PENDING, {})
    db.session.info.setdefault(READ, set()).update(name for name in names if name in pending)
    return [found.get(name, 0) + pending.get(name, 0) for name in names]


def value_of(name: str) -> sa.ScalarSelect[int]:
    """The generation as a scalar subquery, to read it within another question."""
    return sa.select(CacheGeneration.value).where(CacheGeneration.name == name).scalar_subquery()


@dataclass(frozen=True)
class Reached:
    """What noted changes reached of a county: the units whose unit rules they may alter, and the regions they
    are held in (None: not noted, as by notes made before regions were)."""

    units: set[int]
    regions: set[str] | None


def changes_since(spans: dict[str, tuple[int, int]]) -> dict[str, Reached]:
    """For each county of `spans` whose generation rose from the first number to the second through noted
    changes alone (CountyChange), what those changes reached; a county with a rise not noted (its changes
    reached every unit, or the notes were pruned) is left out."""
    if not spans:
        return {}
    change = CountyChange
    rows = db.session.execute(
        sa.select(change.county_code, change.generation_from, change.generation_to, change.org_ids, change.region_codes)
        .where(
            sa.or_(
                *(
                    sa.and_(change.county_code == code, change.generation_to > low, change.generation_to <= high)
                    for code, (low, high) in spans.items()
                )
            )
        )
        .order_by(change.county_code, change.generation_from)
    ).tuples()
    reached: dict[str, tuple[int, Reached]] = {
        code: (low, Reached(set(), set())) for code, (low, _high) in spans.items()
    }
    for code, low, high, org_ids, region_codes in rows:
        up_to, so_far = reached[code]
        if up_to == low:  # the next rise, with no rise unnoted between
            regions = None if so_far.regions is None or region_codes is None else so_far.regions | set(region_codes)
            reached[code] = (high, Reached(so_far.units | set(org_ids), regions))
    return {code: found for code, (up_to, found) in reached.items() if up_to == spans[code][1]}


def prune_changes(before: datetime) -> int:
    """Forgets the notes of changes made before `before`; how many."""
    removed = db.session.execute(sa.delete(CountyChange).where(CountyChange.made_at < before))
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]  # a DML statement's Result is a CursorResult
