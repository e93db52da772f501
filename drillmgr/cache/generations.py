"""Generation counters: raised in the same transaction as every change of the data a kept value is
made from, so a value kept under an older generation is never served, by any worker or machine.

Every flush that adds, changes or deletes a row of a table compliance reads (anything but the tables
in UNRELATED) raises a compliance generation: `compliance:<county>` for each county whose subjects the
change can alter (drillmgr.compliance.touched), or the whole `compliance` one when it cannot be placed
in counties (a rule, a region, a drill held for the prefecture, any bulk INSERT/UPDATE/DELETE through
the session). Every change of a region (a name shown in feeds) raises the `regions` one, and every change of
a checklist run or template, a unit or a region the `readiness` one. Writes that go
around the session (raw SQL on a bare connection) are not seen: the app makes none.

The generations are raised when the unit commits, all at once and in one order, so that two units that
touch the same counties never wait for each other in opposite orders (a deadlock).
"""

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from drillmgr.cache.models import CacheGeneration
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


def county(code: str) -> str:
    """The generation of one county's compliance (its own and its units' statuses)."""
    return f"{COMPLIANCE}:{code}"


def _raise(connection: sa.Connection, steps: dict[str, int]) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(CacheGeneration).values([{"name": name, "value": steps[name]} for name in sorted(steps)])
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[CacheGeneration.name], set_={"value": CacheGeneration.value + statement.excluded.value}
        )
    )


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
        counties = touched.counties(session.connection(), places)
        _pend(session, [COMPLIANCE] if counties is None else [county(code) for code in counties])
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
    if steps:
        _raise(session.connection(), steps)


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        session.info.pop(READ, None)


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
