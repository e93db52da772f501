"""Where every worker and every machine keeps what is expensive to make: rendered calendar events and
feeds, kept compliance results.

Redis when DRILLMGR_CACHE_REDIS_URL (or REDIS_URL) is set, else the database's `cache_entries` table,
so that the SQLite default on one machine and several machines on one PostgreSQL share it too. A value
lives in a named slot with a tag (the version of the data it was made from); readers ask for the tag
they expect and take nothing else, so a value made from older data is never served, whichever worker
stored it. Slots are overwritten, so their number is bounded by what is cached (drills × event styles,
feed links, compliance views); the table is also pruned to DRILLMGR_CACHE_MAX_BYTES, and Redis values
expire after DRILLMGR_CACHE_TTL_SECONDS (and obey the server's maxmemory policy).
"""
import logging
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from drillmgr.cache.models import CacheEntry
from drillmgr.db import utcnow
from drillmgr.extensions import db

log = logging.getLogger(__name__)
CHUNK = 500


class DatabaseStore:
    name = "database"

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, bytes]]:
        found = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            found.update((key, (tag, bytes(value))) for key, tag, value in db.session.execute(
                sa.select(CacheEntry.key, CacheEntry.tag, CacheEntry.value).where(CacheEntry.key.in_(chunk))))
        return found

    def put_many(self, items: dict[str, tuple[str, bytes]], now: datetime | None = None) -> None:
        """Stores and commits (the caller's session must hold nothing it would not commit)."""
        if not items:
            return
        now = now or utcnow()
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[db.session.get_bind().dialect.name]
        ordered = sorted(items)  # the same lock order in every worker: no deadlock between two writers
        try:
            for start in range(0, len(ordered), CHUNK):
                rows = [{"key": key, "tag": items[key][0], "value": items[key][1], "size": len(items[key][1]),
                         "stored_at": now} for key in ordered[start:start + CHUNK]]
                statement = insert(CacheEntry).values(rows)
                db.session.execute(statement.on_conflict_do_update(
                    index_elements=[CacheEntry.key],
                    set_={"tag": statement.excluded.tag, "value": statement.excluded.value,
                          "size": statement.excluded.size, "stored_at": statement.excluded.stored_at}))
            db.session.commit()
        except sa.exc.OperationalError:  # a lock wait too long, a busy SQLite file: the cache can wait
            db.session.rollback()
            log.warning("cache: could not store %d values", len(items), exc_info=True)

    def delete(self, keys: list[str]) -> None:
        db.session.execute(sa.delete(CacheEntry).where(CacheEntry.key.in_(keys)))
        db.session.commit()

    def prune(self, max_bytes: int) -> int:
        """Drops the least recently stored values beyond `max_bytes` in all; returns how many."""
        running = sa.func.sum(CacheEntry.size).over(order_by=(CacheEntry.stored_at.desc(), CacheEntry.key))
        ranked = sa.select(CacheEntry.key, running.label("running")).subquery()
        result = db.session.execute(sa.delete(CacheEntry).where(
            CacheEntry.key.in_(sa.select(ranked.c.key).where(ranked.c.running > max_bytes))))
        db.session.commit()
        return result.rowcount or 0

    def clear(self) -> None:
        db.session.execute(sa.delete(CacheEntry))
        db.session.commit()


class RedisStore:
    name = "redis"

    def __init__(self, url: str, prefix: str, ttl_seconds: int):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self.ttl = ttl_seconds

    def _key(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, bytes]]:
        found = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            for key, raw in zip(chunk, self.client.mget([self._key(k) for k in chunk]), strict=True):
                if raw is not None:
                    tag, _sep, value = raw.partition(b"\n")
                    found[key] = (tag.decode(), value)
        return found

    def put_many(self, items: dict[str, tuple[str, bytes]], now: datetime | None = None) -> None:
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


def store():
    """The app's shared store (one Redis client per process and URL)."""
    app = current_app._get_current_object()
    kept = app.extensions.get("drillmgr_cache")
    if kept is None:
        url = app.config.get("CACHE_REDIS_URL")
        kept = (RedisStore(url, app.config["CACHE_PREFIX"], app.config["CACHE_TTL_SECONDS"])
                if url else DatabaseStore())
        app.extensions["drillmgr_cache"] = kept
    return kept


def get(key: str, tag: str) -> bytes | None:
    """The value in `key` when it was made from the data version `tag`, else None."""
    found = store().get_many([key]).get(key)
    return found[1] if found is not None and found[0] == tag else None


def put(key: str, tag: str, value: bytes) -> None:
    store().put_many({key: (tag, value)})


def prune() -> int:
    return store().prune(current_app.config["CACHE_MAX_BYTES"])
