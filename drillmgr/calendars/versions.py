"""A feed's cheap validator: one aggregate question about the drills it would show (count, sums and maxima of
ids, versions and times) gives its version without rendering anything, and the version recorded in
calendar_feed_versions gives every worker the same Last-Modified."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from drillmgr.cache import generations
from drillmgr.calendars import ical
from drillmgr.calendars.feeds import (
    CANCELLED_KEPT,
    YEARS_BEFORE,
    Feed,
    cancelled_moment,
    feed_filters,
    feed_years,
    shown_clause,
)
from drillmgr.calendars.models import FeedVersion
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation


@dataclass(frozen=True)
class FeedState:
    """The cheap validator of a feed at a moment: computed with one aggregate query, no rendering."""

    key: tuple[object, ...]
    last_modified: datetime
    current_since: datetime
    years: tuple[int, int]
    validator: str = ""  # the digest of `key`, as recorded in calendar_feed_versions
    regions: int | None = None  # the regions' generation read with it (region names are in the events)


def feed_state(feed: Feed, now: datetime | None = None) -> FeedState:
    now = now or utcnow()
    years = feed_years(now, feed.style.tzid)
    shown = shown_clause(now)
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
            sa.func.max(
                sa.case((sa.and_(shown, Drill.double_blind.is_(True), Drill.starts_at <= now), Drill.starts_at))
            ),
            sa.func.max(sa.case((sa.not_(shown), cancelled_moment()))),
            generations.value_of(generations.REGIONS),  # a region renamed: its name is in the events
        )
        .select_from(Drill)
        .outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .where(*feed_filters(feed, now, years))
    ).one()
    count, max_id, id_sum, version_sum, drill_changed, org_changed, blind_start, left_at, regions = row
    moments = [
        ical.year_start(years[0] + YEARS_BEFORE, feed.style.tzid),
        drill_changed,
        org_changed,
        blind_start,
        left_at + CANCELLED_KEPT if left_at else None,
        feed.owner.updated_at if feed.owner else None,
    ]
    shown_since = min(max(m for m in moments if m is not None), now)
    validator = (count, max_id, int(id_sum or 0), int(version_sum or 0), drill_changed, org_changed, regions or 0)
    key = (feed.identity, years, validator)
    last_modified, current_since = _recorded_version(feed, key, shown_since, now)
    return FeedState(
        key=key,
        last_modified=last_modified,
        current_since=current_since,
        years=years,
        validator=_validator(key),
        regions=regions or 0,
    )


def _validator(key: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()


def _recorded_version(
    feed: Feed, key: tuple[object, ...], shown_since: datetime, now: datetime
) -> tuple[datetime, datetime]:
    """Last-Modified of the feed and the earliest If-Modified-Since that proves a copy current.

    A feed seen for the first time was last modified by the latest change its reader may see. Any
    later change, even one no visible row shows (a drill leaving the feed), makes it modified at the
    moment it is first served: never later than now, and later than any date a client holds, so that
    If-Modified-Since answers 200 after every change. Recorded in the database for every worker, with the
    request's (or job's) unit of work.
    """
    name = feed.slot_name
    validator = _validator(key)
    recorded = db.session.execute(
        sa.select(FeedVersion.validator, FeedVersion.last_modified, FeedVersion.current_since).where(
            FeedVersion.feed == name
        )
    ).one_or_none()
    if recorded is not None and recorded.validator == validator:
        return recorded.last_modified, recorded.current_since
    if recorded is None:
        last_modified = current_since = shown_since.replace(microsecond=0)
        inserts: dict[str, Callable[..., postgresql.Insert | sqlite.Insert]] = {
            "postgresql": postgresql.insert,
            "sqlite": sqlite.insert,
        }
        insert = inserts[db.session.get_bind().dialect.name]
        inserted = db.session.execute(
            insert(FeedVersion)
            .values(feed=name, validator=validator, last_modified=last_modified, current_since=current_since)
            .on_conflict_do_nothing()
        )
        # SQLAlchemy 2.0 types Session.execute() as Result; an INSERT's is a CursorResult, which has rowcount.
        if not inserted.rowcount:  # type: ignore[attr-defined]  # another worker recorded it first
            return _recorded_version(feed, key, shown_since, now)
        return last_modified, current_since
    last_modified = max(now.replace(microsecond=0), recorded.last_modified)
    # The copy served before may carry the same date, and HTTP dates have whole seconds.
    current_since = last_modified + timedelta(seconds=1) if last_modified == recorded.last_modified else last_modified
    db.session.execute(
        sa.update(FeedVersion)
        .where(FeedVersion.feed == name, FeedVersion.validator == recorded.validator)
        .values(validator=validator, last_modified=last_modified, current_since=current_since)
    )
    return last_modified, current_since
