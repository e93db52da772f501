"""Rendering a feed's bytes: only the events of drills changed since any worker last rendered them are built
(by the pure functions of drillmgr.calendars.ical); every drill's VEVENT is kept in the shared store
(drillmgr.cache.store), tagged with the version of the drill, its organiser and the regions' names."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import sqlalchemy as sa
from flask_babel import force_locale
from icalendar import Event
from sqlalchemy.orm import joinedload, lazyload

from drillmgr.cache import generations
from drillmgr.cache import store as shared
from drillmgr.calendars import ical
from drillmgr.calendars.feeds import YEARS_BEFORE, Feed, feed_filters, shown_clause
from drillmgr.calendars.versions import FeedState
from drillmgr.compliance.periods import REPORT_DEADLINES
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import ObservanceDay
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation

LOAD_CHUNK = 500


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: datetime
    current_since: datetime  # the earliest If-Modified-Since that proves a copy current


def _load_drills(ids: list[int]) -> list[Drill]:
    """Full drills with what their events need, in one query per chunk of ids, never one per drill."""
    drills: list[Drill] = []
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start : start + LOAD_CHUNK]
        drills += (
            db.session.scalars(
                sa.select(Drill)
                .where(Drill.id.in_(chunk))
                .options(
                    joinedload(Drill.organizer_org),
                    joinedload(Drill.organizer_region),
                    joinedload(Drill.region),
                    lazyload(Drill.focus_rows),
                    lazyload(Drill.participants),
                    lazyload(Drill.evaluators),
                )
            )
            .unique()
            .all()
        )
    return drills


def _style_digest(style: ical.EventStyle) -> str:
    return hashlib.sha256(repr(style).encode()).hexdigest()[:16]


def _event_slot(drill_id: int, style_digest: str) -> str:
    return f"event:{drill_id}:{style_digest}"


def _event_tags(feed: Feed, now: datetime, years: tuple[int, int], regions: int | None) -> dict[int, str]:
    """The version tag of each drill the feed shows, in the feed's order. Change times are compared as the
    database's text, which is all a tag needs."""
    rows = db.session.execute(
        sa.select(
            Drill.id,
            Drill.version,
            sa.cast(Drill.updated_at, sa.String).label("drill_changed"),
            sa.cast(Organisation.updated_at, sa.String).label("organiser_changed"),
        )
        .outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .where(*feed_filters(feed, now, years), shown_clause(now))
        .order_by(Drill.starts_at, Drill.id)
    ).all()
    if regions is None:  # region names are in the events too
        regions = generations.current(generations.REGIONS)
    return {row[0]: hashlib.sha256(f"{row[1]}|{row[2]}|{row[3]}|{regions}".encode()).hexdigest()[:32] for row in rows}


def drill_events(
    feed: Feed, now: datetime, years: tuple[int, int], to_store: shared.Items, regions: int | None = None
) -> list[bytes]:
    """The feed's VEVENTs in order; each is taken from the shared store when its drill (and organiser) is
    unchanged since any worker rendered it. The events rendered here are added to `to_store`, for the caller
    to store with the feed in one write, for every other worker."""
    style = feed.style
    tags = _event_tags(feed, now, years, regions)
    digest = _style_digest(style)
    kept = shared.store().get_many([_event_slot(drill_id, digest) for drill_id in tags])
    events: dict[int, bytes | None] = {}
    for drill_id, tag in tags.items():
        found = kept.get(_event_slot(drill_id, digest))
        events[drill_id] = found[1] if found is not None and found[0] == tag else None
    missing = [drill_id for drill_id, data in events.items() if data is None]
    if missing:
        with force_locale(style.locale):
            for drill in _load_drills(missing):
                rendered = events[drill.id] = ical.drill_event(drill, style).to_ical()
                to_store[_event_slot(drill.id, digest)] = (tags[drill.id], rendered)
    return [data for data in events.values() if data is not None]


@lru_cache(maxsize=16)
def _timezone_bytes(tzid: str, first_year: int, last_year: int) -> bytes:
    data: bytes = ical.short_timezone(tzid, first_year, last_year).to_ical()
    return data


def _calendar_events(feed: Feed, years: tuple[int, int]) -> list[bytes]:
    host = feed.style.host
    stamp = ical.year_start(years[0] + YEARS_BEFORE, feed.style.tzid)
    events: list[Event] = []
    for year in range(years[0], years[1] + 1):
        if feed.observances:
            events += [ical.observance_event(day, year, host, stamp) for day in ObservanceDay]
        if feed.deadline_region:
            code, name = feed.deadline_region
            events += [
                ical.report_deadline_event(year, month, dom, code, name, host, stamp) for month, dom in REPORT_DEADLINES
            ]
    return [event.to_ical() for event in events]


def render_feed(feed: Feed, state: FeedState, to_store: shared.Items, now: datetime | None = None) -> RenderedFeed:
    """The feed's bytes; only the events of drills changed since they were last rendered are built."""
    now = now or utcnow()
    with force_locale(feed.style.locale):
        head = ical.head_bytes(ical.calendar_head(feed.name, feed.description, feed.style.tzid))
        parts = [head, _timezone_bytes(feed.style.tzid, *state.years), *_calendar_events(feed, state.years)]
    parts += drill_events(feed, now, state.years, to_store, state.regions)
    parts.append(ical.CALENDAR_END)
    body = b"".join(parts)
    return RenderedFeed(
        body=body,
        etag=hashlib.sha256(body).hexdigest(),
        last_modified=state.last_modified,
        current_since=state.current_since,
    )
