"""Serving feeds cheaply: the checks made before any rendering.

A calendar program polls its feeds again and again and most polls change nothing. So a poll first asks one
index-only question about the whole drills table (count, highest id, latest change); when that and the clock
show nothing new, the feed kept in this worker's memory is current. Otherwise the feed's own validator
(drillmgr.calendars.versions) gives its version, and the feed's bytes of that version are taken from the shared
store (drillmgr.cache.store: Redis or the database), where any worker on any machine may have put them. Only
then is anything rendered (drillmgr.calendars.events). What a poll records (the feed's version, the rendered
feed and events in the database store) is committed with the request's unit of work, or not at all.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from drillmgr.access import services as access
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.calendars import ical
from drillmgr.calendars.events import RenderedFeed, render_feed
from drillmgr.calendars.feeds import CANCELLED_KEPT, Feed, cancelled_moment
from drillmgr.calendars.versions import FeedState, feed_state
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation

STAMP_TRUSTED_FOR = timedelta(minutes=5)
LOCAL_FEED_BYTES = 32 * 1024 * 1024  # per worker; the shared store holds every feed for every worker
SHARED_FEED_MAX_BYTES = 64 * 1024 * 1024  # a bigger feed is rendered from its shared events each time
ETAG_LENGTH = 64  # a SHA-256 in hex, stored before the feed's bytes

K = TypeVar("K")
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """A thread-safe least-recently-used map whose size is bounded by the bytes it holds."""

    def __init__(self, max_bytes: int, weigh: Callable[[V], int]):
        self.max_bytes = max_bytes
        self._weigh = weigh
        self._items: OrderedDict[K, V] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        size = self._weigh(value)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= self._weigh(old)
            self._items[key] = value
            self._bytes += size
            while self._bytes > self.max_bytes:
                _key, evicted = self._items.popitem(last=False)
                self._bytes -= self._weigh(evicted)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class CachedFeed:
    rendered: RenderedFeed
    state_key: tuple[object, ...]
    stamp: tuple[object, ...]
    valid_until: datetime


@dataclass(frozen=True)
class FeedAnswer:
    status: int
    etag: str | None
    last_modified: datetime
    body: bytes = b""


LocalFeeds = ByteLRU[tuple[object, ...], CachedFeed]


def _local_feeds() -> LocalFeeds:
    """This app's (this worker's) feeds kept in memory, bounded by their bytes."""
    extensions = current_app.extensions
    kept: LocalFeeds | None = extensions.get("drillmgr_feeds")
    if kept is None:
        kept = extensions["drillmgr_feeds"] = LocalFeeds(LOCAL_FEED_BYTES, lambda cached: len(cached.rendered.body))
    return kept


def clear_local_caches() -> None:
    """Forgets what this worker keeps in memory, as a freshly started worker has nothing."""
    _local_feeds().clear()


def data_stamp(feed: Feed) -> tuple[object, ...]:
    """Changes whenever a drill, an organisation or a region changes (and the feed's owner): every change of
    a drill sets its updated_at, a new drill raises the highest id, a deleted one lowers the count.
    Index-only, so it costs the same for any number of drills."""
    row = db.session.execute(
        sa.select(
            sa.select(sa.func.count()).select_from(Drill).scalar_subquery(),
            sa.select(sa.func.max(Drill.id)).scalar_subquery(),
            sa.select(sa.func.max(Drill.updated_at)).scalar_subquery(),
            sa.select(sa.func.max(Organisation.updated_at)).scalar_subquery(),
            generations.value_of(generations.REGIONS),
        )
    ).one()
    return (*row, feed.owner.updated_at if feed.owner else None)


def next_time_change(now: datetime, tzid: str) -> datetime:
    """The next moment at which the clock alone may change some feed: a double-blind drill starts,
    a cancelled drill's 90 days end, or a new year moves the feed's window. Capped, so that a change
    committed late with an earlier updated_at than the stamp's is caught by the feed's own validator
    (which sums versions) within minutes."""
    cancelled = cancelled_moment()
    blind_start, last_cancelled = db.session.execute(
        sa.select(
            sa.select(sa.func.min(Drill.starts_at)).where(access.secret_clause(now)).scalar_subquery(),
            sa.select(sa.func.min(cancelled))
            .where(Drill.status == DrillStatus.CANCELLED, cancelled >= now - CANCELLED_KEPT)
            .scalar_subquery(),
        )
    ).one()
    new_year = ical.local_midnight(date(now.astimezone(ZoneInfo(tzid)).year + 1, 1, 1), tzid)
    moments = (
        blind_start,
        last_cancelled + CANCELLED_KEPT if last_cancelled else None,
        new_year,
        now + STAMP_TRUSTED_FOR,
    )
    return min(m for m in moments if m)


def _shared_feed_slot(feed: Feed) -> str:
    return f"feed:{feed.slot_name}"


def _keep_locally(
    feed: Feed, rendered: RenderedFeed, state_key: tuple[object, ...], stamp: tuple[object, ...], now: datetime
) -> CachedFeed:
    cached = CachedFeed(rendered, state_key, stamp, next_time_change(now, feed.style.tzid))
    _local_feeds().put(feed.identity, cached)
    return cached


def _revalidate(feed: Feed, now: datetime, stamp: tuple[object, ...]) -> CachedFeed | FeedState:
    """The cached feed if it is still current, else the feed's state to render from.

    Nothing changed anywhere and no clock-driven change due: current, after one small query.
    Otherwise the feed's own validator decides (one aggregate query over its drills).
    """
    cached = _local_feeds().get(feed.identity)
    if cached is not None and cached.stamp == stamp and now < cached.valid_until:
        return cached
    state = feed_state(feed, now)
    if cached is not None and cached.state_key == state.key:
        # The recorded dates, not the kept ones: the feed may have changed and changed back meanwhile.
        rendered = replace(cached.rendered, last_modified=state.last_modified, current_since=state.current_since)
        return _keep_locally(feed, rendered, state.key, stamp, now)
    kept = shared.get(_shared_feed_slot(feed), state.validator)
    if kept is not None:  # rendered by another worker (or this one before it restarted)
        rendered = RenderedFeed(
            body=kept[ETAG_LENGTH:],
            etag=kept[:ETAG_LENGTH].decode(),
            last_modified=state.last_modified,
            current_since=state.current_since,
        )
        return _keep_locally(feed, rendered, state.key, stamp, now)
    return state


def _render_and_keep(feed: Feed, state: FeedState, stamp: tuple[object, ...], now: datetime) -> RenderedFeed:
    to_store: shared.Items = {}
    rendered = render_feed(feed, state, to_store, now)
    _keep_locally(feed, rendered, state.key, stamp, now)
    if state.validator and len(rendered.body) <= SHARED_FEED_MAX_BYTES:
        to_store[_shared_feed_slot(feed)] = (state.validator, rendered.etag.encode() + rendered.body)
    shared.store().put_many(to_store, now)  # the new events and the feed, for every worker, in one write
    return rendered


def _current(feed: Feed, known: CachedFeed | FeedState, stamp: tuple[object, ...], now: datetime) -> RenderedFeed:
    if isinstance(known, CachedFeed):
        return known.rendered
    return _render_and_keep(feed, known, stamp, now)


def current_feed(feed: Feed, now: datetime | None = None) -> RenderedFeed:
    """The feed as of now, from memory when nothing it shows has changed."""
    now = now or utcnow()
    stamp = data_stamp(feed)  # before reading the drills, so a change made meanwhile is seen next time
    return _current(feed, _revalidate(feed, now, stamp), stamp, now)


def answer(
    feed: Feed,
    etag_matches: Callable[[str], bool] | None = None,
    modified_since: datetime | None = None,
    now: datetime | None = None,
) -> FeedAnswer:
    """A poll: 304 when the client's copy is current, decided before rendering whenever possible.

    `etag_matches` tests the client's If-None-Match (None when it sent none); `modified_since` is
    its If-Modified-Since, used only without If-None-Match, as RFC 9110 says, and ignored when it is
    later than now: no answer gave that date (RFC 2616 §14.25 calls it invalid).
    """
    now = now or utcnow()
    stamp = data_stamp(feed)
    known = _revalidate(feed, now, stamp)
    cached = known if isinstance(known, CachedFeed) else None
    dated = known.rendered if isinstance(known, CachedFeed) else known
    last_modified, current_since = dated.last_modified, dated.current_since
    if etag_matches is not None:
        if cached is not None and etag_matches(cached.rendered.etag):
            return FeedAnswer(304, cached.rendered.etag, last_modified)
    elif modified_since is not None and current_since <= modified_since <= now:
        return FeedAnswer(304, cached.rendered.etag if cached else None, last_modified)
    rendered = _current(feed, known, stamp, now)
    if etag_matches is not None and etag_matches(rendered.etag):
        return FeedAnswer(304, rendered.etag, last_modified)
    return FeedAnswer(200, rendered.etag, last_modified, rendered.body)
