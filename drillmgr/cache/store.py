"""Where every worker and every machine keeps what is expensive to make: rendered calendar events and
feeds, kept compliance results.

Redis when DRILLMGR_CACHE_REDIS_URL (or REDIS_URL) is set, else the database's `cache_entries` table,
so that the SQLite default on one machine and several machines on one PostgreSQL share it too. A value
lives in a named slot with a tag (the version of the data it was made from); readers ask for the tag
they expect and take nothing else, so a value made from older data is never served, whichever worker
stored it. Slots are overwritten, so their number is bounded by what is cached (drills × event styles,
feed links, compliance views); the table is also pruned to DRILLMGR_CACHE_MAX_BYTES, and Redis values
expire after DRILLMGR_CACHE_TTL_SECONDS (and obey the server's maxmemory policy).

Writes belong to the unit of work (drillmgr.unit_of_work) that makes them: the request, job or command commits
them with everything else, or they are never seen.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, SessionTransaction

from drillmgr.cache.models import CacheEntry
from drillmgr.db import utcnow
from drillmgr.extensions import db

log = logging.getLogger(__name__)
CHUNK = 500
PENDING = "drillmgr_cache_pending"  # in Session.info: the Redis writes waiting for the unit's commit

Items = dict[str, tuple[str, bytes]]  # slot: (tag, value)


class Store(Protocol):
    name: str

    def get_many(self, keys: list[str]) -> Items: ...

    def put_many(self, items: Items, now: datetime | None = None) -> None: ...

    def delete(self, keys: list[str]) -> None: ...

    def prune(self, max_bytes: int) -> int: ...

    def clear(self) -> None: ...


def _chunks(keys: list[str]) -> list[list[str]]:
    return [keys[start : start + CHUNK] for start in range(0, len(keys), CHUNK)]


class DatabaseStore:
    """Values in the `cache_entries` table, written in the current unit of work: kept if it commits, gone if
    it rolls back (so a value made from data that was never committed is never served)."""

    name = "database"

    def get_many(self, keys: list[str]) -> Items:
        found: Items = {}
        for chunk in _chunks(keys):
            found.update(
                (key, (tag, bytes(value)))
                for key, tag, value in db.session.execute(
                    sa.select(CacheEntry.key, CacheEntry.tag, CacheEntry.value).where(CacheEntry.key.in_(chunk))
                )
            )
        return found

    def put_many(self, items: Items, now: datetime | None = None) -> None:
        """Stores within a savepoint of the unit of work: a write that fails (a lock wait too long, a busy
        SQLite file) is given up without harming the rest of the unit."""
        if not items:
            return
        now = now or utcnow()
        inserts: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
            "postgresql": postgresql.insert,
            "sqlite": sqlite.insert,
        }
        insert = inserts[db.session.get_bind().dialect.name]
        ordered = sorted(items)  # the same lock order in every worker: no deadlock between two writers
        try:
            with db.session.begin_nested():
                for chunk in _chunks(ordered):
                    rows = [
                        {
                            "key": key,
                            "tag": items[key][0],
                            "value": items[key][1],
                            "size": len(items[key][1]),
                            "stored_at": now,
                        }
                        for key in chunk
                    ]
                    statement = insert(CacheEntry).values(rows)
                    db.session.execute(
                        statement.on_conflict_do_update(
                            index_elements=[CacheEntry.key],
                            set_={
                                "tag": statement.excluded.tag,
                                "value": statement.excluded.value,
                                "size": statement.excluded.size,
                                "stored_at": statement.excluded.stored_at,
                            },
                        )
                    )
        except sa.exc.OperationalError:  # the cache can wait
            log.warning("cache: could not store %d values", len(items), exc_info=True)

    def delete(self, keys: list[str]) -> None:
        db.session.execute(sa.delete(CacheEntry).where(CacheEntry.key.in_(keys)))

    def prune(self, max_bytes: int) -> int:
        """Drops the least recently stored values beyond `max_bytes` in all; returns how many."""
        running = sa.func.sum(CacheEntry.size).over(order_by=(CacheEntry.stored_at.desc(), CacheEntry.key))
        ranked = sa.select(CacheEntry.key, running.label("running")).subquery()
        result = db.session.execute(
            sa.delete(CacheEntry).where(CacheEntry.key.in_(sa.select(ranked.c.key).where(ranked.c.running > max_bytes)))
        )
        # SQLAlchemy 2.0 types Session.execute() as Result; a DML statement's is a CursorResult, which has rowcount.
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def clear(self) -> None:
        db.session.execute(sa.delete(CacheEntry))


class RedisStore:
    """Values in Redis. Redis has no part in the database's transaction, so a write waits for the unit of work
    to commit (and is dropped if it rolls back): a value made from data that was never committed, tagged with
    a generation the next committed change will raise to again, is never served."""

    name = "redis"

    def __init__(self, url: str, prefix: str, ttl_seconds: int):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.ttl = ttl_seconds

    def _key(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    def get_many(self, keys: list[str]) -> Items:
        """The values of `keys`; those the current unit of work wrote as it wrote them, as the database store
        reads its own writes."""
        pending = self._pending()
        found: Items = {key: pending[key] for key in keys if key in pending}
        for chunk in _chunks([key for key in keys if key not in pending]):
            for key, raw in zip(chunk, self.client.mget([self._key(k) for k in chunk]), strict=True):
                if isinstance(raw, bytes):
                    tag, _sep, value = raw.partition(b"\n")
                    found[key] = (tag.decode(), value)
        return found

    def _pending(self) -> Items:
        written: Items = {}
        for redis_store, items in db.session.info.get(PENDING, []):
            if redis_store is self:
                written |= items
        return written

    def put_many(self, items: Items, now: datetime | None = None) -> None:
        """Writes when the current unit of work commits."""
        if items:
            db.session.info.setdefault(PENDING, []).append((self, dict(items)))

    def write(self, items: Items) -> None:
        pipe = self.client.pipeline(transaction=False)
        for count, (key, (tag, value)) in enumerate(items.items(), 1):
            pipe.set(self._key(key), tag.encode() + b"\n" + value, ex=self.ttl)
            if count % CHUNK == 0:
                pipe.execute()
        pipe.execute()

    def delete(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(*[self._key(k) for k in keys])

    def prune(self, max_bytes: int) -> int:
        return 0  # values expire, and the server's maxmemory policy bounds the rest

    def clear(self) -> None:
        for found in self.client.scan_iter(match=self._key("*"), count=1000):
            self.client.delete(found)


@sa.event.listens_for(Session, "after_commit")
def _write_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the unit goes on
        return
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    import redis

    for redis_store, items in pending:
        try:
            redis_store.write(items)
        except redis.RedisError:  # the data is committed; the cache can wait
            log.warning("cache: could not store %d values", len(items), exc_info=True)


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    """A unit that ended without committing (rolled back, closed) writes nothing."""
    if transaction.parent is None:
        session.info.pop(PENDING, None)


def store() -> Store:
    """The app's shared store (one Redis client per process and URL)."""
    extensions: dict[str, Any] = current_app.extensions
    kept: Store | None = extensions.get("drillmgr_cache")
    if kept is None:
        config = current_app.config
        url = config.get("CACHE_REDIS_URL")
        kept = RedisStore(url, config["CACHE_PREFIX"], config["CACHE_TTL_SECONDS"]) if url else DatabaseStore()
        extensions["drillmgr_cache"] = kept
    return kept


def get(key: str, tag: str) -> bytes | None:
    """The value in `key` when it was made from the data version `tag`, else None."""
    found = store().get_many([key]).get(key)
    return found[1] if found is not None and found[0] == tag else None


def put(key: str, tag: str, value: bytes) -> None:
    """Stores with the current unit of work."""
    store().put_many({key: (tag, value)})


def prune() -> int:
    return store().prune(current_app.config["CACHE_MAX_BYTES"])
