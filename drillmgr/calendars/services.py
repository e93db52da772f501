"""Calendar feeds: which feeds a user may have, their signed links, and serving them cheaply.

A calendar program polls its feeds again and again and most polls change nothing. So a poll first
asks one index-only question about the whole drills table (count, highest id, latest change); when
that and the clock show nothing new, the feed kept in this worker's memory is current. Otherwise one
aggregate question about the drills this feed would show (count, sums and maxima of ids, versions and
times) gives the feed's version (recorded in calendar_feed_versions), and the feed's bytes of that
version are taken from the shared store (drillmgr.cache.store: Redis or the database), where any
worker on any machine may have put them. Only then is anything rendered, and then only the events of
drills changed since: every drill's VEVENT is kept in the shared store too, tagged with its version.
"""
import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import Signer
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import joinedload, lazyload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.accounts.services import rotate_feed_secret
from drillmgr.audit import services as audit
from drillmgr.calendars import ical
from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.calendars.models import FeedVersion
from drillmgr.compliance.periods import REPORT_DEADLINES
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus, ObservanceDay
from drillmgr.errors import Forbidden, NotFound
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.regions.services import counties
from drillmgr.validation import parse_id

PUBLIC, ME, ORG, REGION = "public", "me", "org", "region"
CANCELLED_KEPT = timedelta(days=90)
YEARS_BEFORE, YEARS_AFTER = 1, 2
LOAD_CHUNK = 500
SIGNATURE_SALT = "drillmgr.calendar-feed"
STAMP_TRUSTED_FOR = timedelta(minutes=5)


class ByteLRU:
    """A thread-safe least-recently-used map whose size is bounded by the bytes it holds."""

    def __init__(self, max_bytes: int, weigh: Callable[[Any], int]):
        self.max_bytes = max_bytes
        self._weigh = weigh
        self._items: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
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
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: datetime
    current_since: datetime  # the earliest If-Modified-Since that proves a copy current


LOCAL_FEED_BYTES = 32 * 1024 * 1024  # per worker; the shared store holds every feed for every worker
SHARED_FEED_MAX_BYTES = 64 * 1024 * 1024  # a bigger feed is rendered from its shared events each time


def _local_feeds() -> ByteLRU:
    """This app's (this worker's) feeds kept in memory, bounded by their bytes."""
    app = current_app._get_current_object()
    kept = app.extensions.get("drillmgr_feeds")
    if kept is None:
        kept = app.extensions["drillmgr_feeds"] = ByteLRU(LOCAL_FEED_BYTES, lambda cached: len(cached.rendered.body))
    return kept


def clear_local_caches() -> None:
    """Forgets what this worker keeps in memory, as a freshly started worker has nothing."""
    _local_feeds().clear()


@dataclass(frozen=True)
class Feed:
    """One feed as its owner may see it; `identity` is everything but the drills that shapes its bytes."""

    kind: str
    target: str
    owner: User | None = field(compare=False)
    name: str
    description: str
    drills: sa.ColumnElement = field(compare=False)
    observances: bool
    deadline_region: tuple[str, str] | None
    style: ical.EventStyle

    @property
    def identity(self) -> tuple:
        owner = self.owner
        scope = (owner.id, owner.role.value, owner.region_code, owner.org_id) if owner else None
        return (self.kind, self.target, scope, self.name, self.description, self.observances,
                self.deadline_region, self.style)


@dataclass(frozen=True)
class FeedState:
    """The cheap validator of a feed at a moment: computed with one aggregate query, no rendering."""

    key: tuple
    last_modified: datetime
    current_since: datetime
    years: tuple[int, int]
    validator: str = ""  # the digest of `key`, as recorded in calendar_feed_versions
    regions: int | None = None  # the regions' generation read with it (region names are in the events)


@dataclass(frozen=True)
class FeedAnswer:
    status: int
    etag: str | None
    last_modified: datetime
    body: bytes = b""


# --- which feed --------------------------------------------------------------------------------

def _config(name: str):
    return current_app.config[name]


def _style(alarms: bool, locale: str) -> ical.EventStyle:
    return ical.EventStyle(tzid=_config("TIMEZONE"), host=_config("HOST"), alarms=alarms,
                           locale=locale)


def _locale_of(user: User | None) -> str:
    if user is not None and user.locale is not None and user.locale in _config("LANGUAGES"):
        return user.locale
    return _config("BABEL_DEFAULT_LOCALE")


def public_feed(region_code: str | None = None) -> Feed:
    """Observance days and the public drills, of the whole prefecture or of one county."""
    locale = _locale_of(None)
    drills = access.feed_region_drills(region_code) if region_code else sa.true()
    with force_locale(locale):
        if region_code:
            region = db.session.get(Region, region_code)
            if region is None:
                raise NotFound(_("No such region."))
            name = _("%(region)s earthquake drills (public)", region=region.name)
        else:
            name = _("Tacheng earthquake drills and observance days (public)")
        description = _("Public earthquake drills and the earthquake-safety observance days.")
    return Feed(PUBLIC, region_code or "", None, name, description, drills, True, None, _style(False, locale))


def _owner_feed(owner: User, kind: str, target: str) -> Feed:
    locale = _locale_of(owner)
    deadline_region = None
    with force_locale(locale):
        if kind == ME:
            name = _("My drills (%(user)s)", user=owner.display_name or owner.username)
            drills = access.feed_own_drills(owner)
        elif kind == ORG:
            org = db.session.get(Organisation, int(target)) if target.isdigit() else None
            if org is None:
                raise NotFound(_("No such organisation."))
            if not access.can_subscribe_org(owner, org):
                raise Forbidden(_("This link's owner may no longer see this organisation."))
            name = _("Drills of %(org)s", org=org.name)
            drills = access.feed_org_drills(org.id)
        else:
            region = db.session.get(Region, target)
            if region is None:
                raise NotFound(_("No such region."))
            if not access.can_subscribe_region(owner, region.code):
                raise Forbidden(_("This link's owner may no longer see this region."))
            name = _("Drills in %(region)s", region=region.name)
            drills = access.feed_region_drills(region.code)
            if access.feed_shows_report_deadlines(owner):
                deadline_region = (region.code, region.name)
        description = _("Earthquake drills from the Tacheng drill manager, as %(user)s may see them.",
                        user=owner.display_name or owner.username)
    return Feed(kind, target, owner, name, description, drills, False, deadline_region,
                _style(owner.feed_alarms, locale))


# --- signed links (Indico's pattern: a per-user secret signs what the link is for) ---------------

def _signer(user: User) -> Signer:
    key = f"{_config('SECRET_KEY')}\x00{user.feed_secret}"
    return Signer(key, salt=SIGNATURE_SALT, digest_method=hashlib.sha256)


def _signed_message(user_id: int, kind: str, target: str) -> bytes:
    return f"{user_id}:{kind}:{target}".encode()


def feed_token(user: User, kind: str, target: str = "") -> str:
    signature = _signer(user).get_signature(_signed_message(user.id, kind, target)).decode()
    return f"{user.id}.{signature}"


def feed_for_token(kind: str, target: str, token: str | None) -> Feed:
    """The feed a signed link stands for; refused when the link was altered, rotated or its owner left."""
    user_id, _dot, signature = (token or "").partition(".")
    user = db.session.get(User, parse_id(user_id)) if parse_id(user_id) and signature else None
    if user is None or not user.active or not _signer(user).verify_signature(
            _signed_message(user.id, kind, target), signature.encode()):
        raise Forbidden(_("This calendar link is not valid (it may have been replaced by a new one)."))
    return _owner_feed(user, kind, target)


def _feed_path(kind: str, target: str) -> str:
    adapter = current_app.url_map.bind("localhost")
    endpoint, values = {PUBLIC: ("calendars.public_feed", {}), ME: ("calendars.me_feed", {}),
                        ORG: ("calendars.org_feed", {"org_id": target}),
                        REGION: ("calendars.region_feed", {"code": target})}[kind]
    return adapter.build(endpoint, values)


def _base_url(request_root: str | None) -> str:
    """The configured address, else the one the request came to (`request_root`: the port `make run`
    was given, the host and scheme a trusted proxy forwarded)."""
    if request_root and _config("LINKS_FROM_REQUEST"):
        return request_root.rstrip("/") + "/"
    return _config("BASE_URL").rstrip("/") + "/"


def _link(base_url: str, user: User | None, kind: str, target: str = "") -> dict:
    url = urljoin(base_url, _feed_path(kind, target).lstrip("/"))
    if user is not None:
        url += "?" + urlencode({"token": feed_token(user, kind, target)})
    scheme, _sep, rest = url.partition("://")
    return {"url": url, "webcal": f"webcal://{rest}"}


def feed_links(user: User, request_root: str | None = None) -> dict:
    """The user's feed links, each as its https (or http) URL and its one-click webcal:// form.

    `request_root`: the address the asking request came to, used unless DRILLMGR_BASE_URL is set."""
    base_url = _base_url(request_root)
    links = {"public": _link(base_url, None, PUBLIC), "me": _link(base_url, user, ME)}
    if user.org_id:
        links["org"] = _link(base_url, user, ORG, str(user.org_id))
    region_code = access.feed_home_region(user)
    if region_code:
        links["region"] = _link(base_url, user, REGION, region_code)
    return links


def rotate_links(user: User, request_root: str | None = None) -> dict:
    """A new feed secret: every old link of the user stops working at once."""
    rotate_feed_secret(user)
    return feed_links(user, request_root)


def set_feed_alarms(user: User, enabled: bool) -> None:
    if user.feed_alarms == enabled:
        return
    before = {"feed_alarms": user.feed_alarms}
    user.feed_alarms = enabled
    audit.record(user, "user.feed_alarms", "user", user.id, before, {"feed_alarms": enabled})
    db.session.commit()


# --- what a feed holds, and its cheap validator ---------------------------------------------------

def _years(now: datetime, tzid: str) -> tuple[int, int]:
    year = now.astimezone(ZoneInfo(tzid)).year
    return year - YEARS_BEFORE, year + YEARS_AFTER


def _filters(feed: Feed, now: datetime, years: tuple[int, int]) -> list:
    tzid = feed.style.tzid
    return [
        access.drill_clause(feed.owner, now) if feed.owner else access.public_drill_clause(now),
        feed.drills,
        Drill.starts_at >= ical.local_midnight(date(years[0], 1, 1), tzid),
        Drill.starts_at < ical.local_midnight(date(years[1] + 1, 1, 1), tzid),
    ]


def _shown(now: datetime) -> sa.ColumnElement[bool]:
    """A cancelled drill stays in feeds, marked cancelled, for 90 days after its cancellation."""
    return sa.or_(Drill.status != DrillStatus.CANCELLED,
                  sa.func.coalesce(Drill.cancelled_at, Drill.updated_at) >= now - CANCELLED_KEPT)


def feed_state(feed: Feed, now: datetime | None = None) -> FeedState:
    now = now or utcnow()
    years = _years(now, feed.style.tzid)
    shown = _shown(now)
    cancelled_moment = sa.func.coalesce(Drill.cancelled_at, Drill.updated_at)
    row = db.session.execute(
        sa.select(
            sa.func.count(sa.case((shown, Drill.id))),
            sa.func.max(sa.case((shown, Drill.id))),
            sa.func.sum(sa.case((shown, Drill.id), else_=0)),
            sa.func.sum(sa.case((shown, Drill.version), else_=0)),
            sa.func.max(sa.case((shown, Drill.updated_at))),
            sa.func.max(sa.case((shown, Organisation.updated_at))),
            # Moments the feed changed without any row changing: a double-blind drill starting (only
            # a start already past: an insider sees the drill before), a cancelled drill leaving.
            sa.func.max(sa.case((sa.and_(shown, Drill.double_blind.is_(True), Drill.starts_at <= now),
                                 Drill.starts_at))),
            sa.func.max(sa.case((sa.not_(shown), cancelled_moment))),
            generations.value_of(generations.REGIONS),  # a region renamed: its name is in the events
        ).select_from(Drill).outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .where(*_filters(feed, now, years))
    ).one()
    count, max_id, id_sum, version_sum, drill_changed, org_changed, blind_start, left_at, regions = row
    moments = [ical.year_start(years[0] + YEARS_BEFORE, feed.style.tzid), drill_changed, org_changed, blind_start,
               left_at + CANCELLED_KEPT if left_at else None, feed.owner.updated_at if feed.owner else None]
    shown_since = min(max(m for m in moments if m is not None), now)
    validator = (count, max_id, int(id_sum or 0), int(version_sum or 0), drill_changed, org_changed, regions or 0)
    key = (feed.identity, years, validator)
    last_modified, current_since = _recorded_version(feed, key, shown_since, now)
    return FeedState(key=key, last_modified=last_modified, current_since=current_since, years=years,
                     validator=_validator(key), regions=regions or 0)


def _validator(key: tuple) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()


def _feed_name(feed: Feed) -> str:
    return f"{feed.kind}:{feed.target}:{feed.owner.id if feed.owner else ''}"


def _recorded_version(feed: Feed, key: tuple, shown_since: datetime, now: datetime) -> tuple[datetime, datetime]:
    """Last-Modified of the feed and the earliest If-Modified-Since that proves a copy current.

    A feed seen for the first time was last modified by the latest change its reader may see. Any
    later change, even one no visible row shows (a drill leaving the feed), makes it modified at the
    moment it is first served: never later than now, and later than any date a client holds, so that
    If-Modified-Since answers 200 after every change. Recorded in the database, for every worker.
    """
    name = _feed_name(feed)
    validator = _validator(key)
    recorded = db.session.execute(
        sa.select(FeedVersion.validator, FeedVersion.last_modified, FeedVersion.current_since)
        .where(FeedVersion.feed == name)
    ).one_or_none()
    if recorded is not None and recorded.validator == validator:
        return recorded.last_modified, recorded.current_since
    if recorded is None:
        last_modified = current_since = shown_since.replace(microsecond=0)
        inserts: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
            "postgresql": postgresql.insert, "sqlite": sqlite.insert}
        insert = inserts[db.session.get_bind().dialect.name]
        inserted = db.session.execute(
            insert(FeedVersion).values(feed=name, validator=validator, last_modified=last_modified,
                                       current_since=current_since).on_conflict_do_nothing())
        # SQLAlchemy 2.0 types Session.execute() as Result; an INSERT's is a CursorResult, which has rowcount.
        if not inserted.rowcount:  # type: ignore[attr-defined]  # another worker recorded it first
            return _recorded_version(feed, key, shown_since, now)
    else:
        last_modified = max(now.replace(microsecond=0), recorded.last_modified)
        # The copy served before may carry the same date, and HTTP dates have whole seconds.
        current_since = last_modified + timedelta(seconds=1) if last_modified == recorded.last_modified \
            else last_modified
        db.session.execute(
            sa.update(FeedVersion)
            .where(FeedVersion.feed == name, FeedVersion.validator == recorded.validator)
            .values(validator=validator, last_modified=last_modified, current_since=current_since)
        )
    db.session.commit()
    return last_modified, current_since


# --- rendering ----------------------------------------------------------------------------------

def _load_drills(ids: list[int]) -> list[Drill]:
    """Full drills with what their events need, in one query per chunk of ids, never one per drill."""
    drills: list[Drill] = []
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start:start + LOAD_CHUNK]
        drills += db.session.scalars(
            sa.select(Drill).where(Drill.id.in_(chunk)).options(
                joinedload(Drill.organizer_org), joinedload(Drill.organizer_region), joinedload(Drill.region),
                lazyload(Drill.focus_rows), lazyload(Drill.participants), lazyload(Drill.evaluators))
        ).unique().all()
    return drills


def _style_digest(style: ical.EventStyle) -> str:
    return hashlib.sha256(repr(style).encode()).hexdigest()[:16]


def _event_slot(drill_id: int, style_digest: str) -> str:
    return f"event:{drill_id}:{style_digest}"


def _drill_events(feed: Feed, now: datetime, years: tuple[int, int], to_store: dict | None = None,
                  regions: int | None = None) -> list[bytes]:
    """The feed's VEVENTs in order; each is taken from the shared store when its drill (and
    organiser) is unchanged since any worker rendered it. Change times are compared as the database's
    text, which is all a tag needs. The events rendered here are stored for every other worker (into
    `to_store`, for the caller to store with the feed in one write, when given)."""
    style = feed.style
    rows = db.session.execute(
        sa.select(Drill.id, Drill.version, sa.cast(Drill.updated_at, sa.String).label("drill_changed"),
                  sa.cast(Organisation.updated_at, sa.String).label("organiser_changed"))
        .outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .where(*_filters(feed, now, years), _shown(now))
        .order_by(Drill.starts_at, Drill.id)
    ).all()
    digest = _style_digest(style)
    if regions is None:  # region names are in the events too
        regions = generations.current(generations.REGIONS)
    tags = {row[0]: hashlib.sha256(f"{row[1]}|{row[2]}|{row[3]}|{regions}".encode()).hexdigest()[:32]
            for row in rows}
    kept = shared.store().get_many([_event_slot(drill_id, digest) for drill_id in tags])
    events = {}
    for drill_id, tag in tags.items():
        found = kept.get(_event_slot(drill_id, digest))
        events[drill_id] = found[1] if found is not None and found[0] == tag else None
    missing = [drill_id for drill_id, data in events.items() if data is None]
    if missing:
        rendered = {}
        with force_locale(style.locale):
            for drill in _load_drills(missing):
                events[drill.id] = ical.drill_event(drill, style).to_ical()
                rendered[_event_slot(drill.id, digest)] = (tags[drill.id], events[drill.id])
        if to_store is None:
            shared.store().put_many(rendered, now)
        else:
            to_store.update(rendered)
    return [events[drill_id] for drill_id in tags if events[drill_id] is not None]


@lru_cache(maxsize=16)
def _timezone_bytes(tzid: str, first_year: int, last_year: int) -> bytes:
    return ical.short_timezone(tzid, first_year, last_year).to_ical()


def _calendar_events(feed: Feed, years: tuple[int, int]) -> list[bytes]:
    host = feed.style.host
    stamp = ical.year_start(years[0] + YEARS_BEFORE, feed.style.tzid)
    events = []
    for year in range(years[0], years[1] + 1):
        if feed.observances:
            events += [ical.observance_event(day, year, host, stamp) for day in ObservanceDay]
        if feed.deadline_region:
            code, name = feed.deadline_region
            events += [ical.report_deadline_event(year, month, dom, code, name, host, stamp)
                       for month, dom in REPORT_DEADLINES]
    return [event.to_ical() for event in events]


def render_feed(feed: Feed, state: FeedState, now: datetime | None = None,
                to_store: dict | None = None) -> RenderedFeed:
    """The feed's bytes; only the events of drills changed since they were last rendered are built."""
    now = now or utcnow()
    with force_locale(feed.style.locale):
        head = ical.head_bytes(ical.calendar_head(feed.name, feed.description, feed.style.tzid))
        parts = [head, _timezone_bytes(feed.style.tzid, *state.years),
                 *_calendar_events(feed, state.years)]
    parts += _drill_events(feed, now, state.years, to_store, state.regions)
    parts.append(ical.CALENDAR_END)
    body = b"".join(parts)
    return RenderedFeed(body=body, etag=hashlib.sha256(body).hexdigest(), last_modified=state.last_modified,
                        current_since=state.current_since)


# --- serving: the cheap checks before any rendering ------------------------------------------------

def data_stamp(owner: User | None) -> tuple:
    """Changes whenever a drill, an organisation or a region changes: every change of a drill sets its
    updated_at, a new drill raises the highest id, a deleted one lowers the count. Index-only, so it
    costs the same for any number of drills."""
    row = db.session.execute(sa.select(
        sa.select(sa.func.count()).select_from(Drill).scalar_subquery(),
        sa.select(sa.func.max(Drill.id)).scalar_subquery(),
        sa.select(sa.func.max(Drill.updated_at)).scalar_subquery(),
        sa.select(sa.func.max(Organisation.updated_at)).scalar_subquery(),
        generations.value_of(generations.REGIONS),
    )).one()
    return (*row, owner.updated_at if owner else None)


def next_time_change(now: datetime, tzid: str) -> datetime:
    """The next moment at which the clock alone may change some feed: a double-blind drill starts,
    a cancelled drill's 90 days end, or a new year moves the feed's window. Capped, so that a change
    committed late with an earlier updated_at than the stamp's is caught by the feed's own validator
    (which sums versions) within minutes."""
    cancelled_moment = sa.func.coalesce(Drill.cancelled_at, Drill.updated_at)
    blind_start, cancelled = db.session.execute(sa.select(
        sa.select(sa.func.min(Drill.starts_at)).where(Drill.double_blind.is_(True), Drill.starts_at > now)
        .scalar_subquery(),
        sa.select(sa.func.min(cancelled_moment)).where(
            Drill.status == DrillStatus.CANCELLED, cancelled_moment >= now - CANCELLED_KEPT).scalar_subquery(),
    )).one()
    new_year = ical.local_midnight(date(now.astimezone(ZoneInfo(tzid)).year + 1, 1, 1), tzid)
    moments = (blind_start, cancelled + CANCELLED_KEPT if cancelled else None, new_year, now + STAMP_TRUSTED_FOR)
    return min(m for m in moments if m)


@dataclass(frozen=True)
class CachedFeed:
    rendered: RenderedFeed
    state_key: tuple
    stamp: tuple
    valid_until: datetime


def _revalidate(feed: Feed, now: datetime, stamp: tuple) -> tuple[CachedFeed | None, FeedState | None]:
    """The cached feed if it is still current, else None and the feed's state to render from.

    Nothing changed anywhere and no clock-driven change due: current, after one small query.
    Otherwise the feed's own validator decides (one aggregate query over its drills).
    """
    local = _local_feeds()
    cached = local.get(feed.identity)
    if cached is not None and cached.stamp == stamp and now < cached.valid_until:
        return cached, None
    state = feed_state(feed, now)
    if cached is not None and cached.state_key == state.key:
        # The recorded dates, not the kept ones: the feed may have changed and changed back meanwhile.
        rendered = replace(cached.rendered, last_modified=state.last_modified, current_since=state.current_since)
        cached = replace(cached, rendered=rendered, stamp=stamp, valid_until=next_time_change(now, feed.style.tzid))
        local.put(feed.identity, cached)
        return cached, None
    kept = shared.get(_shared_feed_slot(feed), state.validator)
    if kept is not None:  # rendered by another worker (or this one before it restarted)
        etag, body = kept[:64].decode(), kept[64:]
        rendered = RenderedFeed(body=body, etag=etag, last_modified=state.last_modified,
                                current_since=state.current_since)
        cached = CachedFeed(rendered, state.key, stamp, next_time_change(now, feed.style.tzid))
        local.put(feed.identity, cached)
        return cached, None
    return None, state


def _shared_feed_slot(feed: Feed) -> str:
    return f"feed:{_feed_name(feed)}"


def _render_and_keep(feed: Feed, state: FeedState, stamp: tuple, now: datetime) -> RenderedFeed:
    to_store: dict = {}
    rendered = render_feed(feed, state, now, to_store)
    _local_feeds().put(feed.identity, CachedFeed(rendered, state.key, stamp, next_time_change(now, feed.style.tzid)))
    if state.validator and len(rendered.body) <= SHARED_FEED_MAX_BYTES:
        to_store[_shared_feed_slot(feed)] = (state.validator, rendered.etag.encode() + rendered.body)
    shared.store().put_many(to_store, now)  # the new events and the feed, for every worker, in one write
    return rendered


def current_feed(feed: Feed, now: datetime | None = None) -> RenderedFeed:
    """The feed as of now, from memory when nothing it shows has changed."""
    now = now or utcnow()
    stamp = data_stamp(feed.owner)  # before reading the drills, so a change made meanwhile is seen next time
    cached, state = _revalidate(feed, now, stamp)
    if cached:
        return cached.rendered
    assert state is not None  # _revalidate gives the cached feed or the state to render from
    return _render_and_keep(feed, state, stamp, now)


def answer(feed: Feed, etag_matches: Callable[[str], bool] | None = None,
           modified_since: datetime | None = None, now: datetime | None = None) -> FeedAnswer:
    """A poll: 304 when the client's copy is current, decided before rendering whenever possible.

    `etag_matches` tests the client's If-None-Match (None when it sent none); `modified_since` is
    its If-Modified-Since, used only without If-None-Match, as RFC 9110 says, and ignored when it is
    later than now: no answer gave that date (RFC 2616 §14.25 calls it invalid).
    """
    now = now or utcnow()
    stamp = data_stamp(feed.owner)
    cached, state = _revalidate(feed, now, stamp)
    known = cached.rendered if cached else state
    assert known is not None  # _revalidate gives the cached feed or the state to render from
    last_modified, current_since = known.last_modified, known.current_since
    if etag_matches is not None:
        if cached is not None and etag_matches(cached.rendered.etag):
            return FeedAnswer(304, cached.rendered.etag, last_modified)
    elif modified_since is not None and current_since <= modified_since <= now:
        return FeedAnswer(304, cached.rendered.etag if cached else None, last_modified)
    if cached:
        rendered = cached.rendered
    else:
        assert state is not None  # as above
        rendered = _render_and_keep(feed, state, stamp, now)
    if etag_matches is not None and etag_matches(rendered.etag):
        return FeedAnswer(304, rendered.etag, last_modified)
    return FeedAnswer(200, rendered.etag, last_modified, rendered.body)


# --- static files --------------------------------------------------------------------------------

def _write_if_changed(path: Path, data: bytes) -> bool:
    """Writes atomically (a temporary file in the same folder, then a rename), only when the bytes differ."""
    if path.exists() and path.read_bytes() == data:
        return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def static_file_name(region_code: str | None) -> str:
    return f"public-{region_code}.ics" if region_code else "public.ics"


def publish_static(directory: str | os.PathLike | None = None, now: datetime | None = None) -> list[str]:
    """Writes public.ics and one public-<county code>.ics per county; returns the names of the files
    that changed. Safe to run again and again (the scheduler does)."""
    folder = Path(directory or _config("CALENDAR_DIR"))
    folder.mkdir(parents=True, exist_ok=True)
    now = now or utcnow()
    changed = []
    for region_code in [None, *(county.code for county in counties())]:
        rendered = current_feed(public_feed(region_code), now)
        name = static_file_name(region_code)
        if _write_if_changed(folder / name, rendered.body):
            changed.append(name)
    return changed

