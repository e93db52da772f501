"""Helpers for the calendar feed tests: reading feeds with icalendar, and changing drills as the drills
feature does (reschedule: new times, SEQUENCE and version up; cancel: status and cancelled_at)."""

from datetime import datetime, timedelta

import icalendar
import pytest

from drillmgr.calendars import serving
from drillmgr.db import utcnow
from drillmgr.enums import DrillStatus
from drillmgr.extensions import db


@pytest.fixture(autouse=True)
def _empty_feed_caches():
    serving.clear_local_caches()
    yield


def signed_feed(user, kind: str, target: str = "", selection=None):
    """The feed of the user's signed link of `kind`, with the filter `selection` (None: the feed's default), read
    as a poll of the link reads it (from its token and query arguments)."""
    from drillmgr.calendars import feeds, filters, links

    arguments = filters.filter_arguments(feeds.default_filter(kind), selection) if selection is not None else {}
    return links.feed_for_token(kind, target, links.feed_token(user, kind, target, selection), arguments)


def body_of(feed, now: datetime | None = None) -> bytes:
    answer = serving.answer(feed, now=now)
    assert answer.status == 200
    return answer.body


def parse(body: bytes) -> icalendar.Calendar:
    cal = icalendar.Calendar.from_ical(body)
    for component in cal.walk():
        assert component.errors == [], (component.name, component.errors)
    return cal


def events(body: bytes) -> dict[str, icalendar.Event]:
    return {str(event["UID"]): event for event in parse(body).walk("VEVENT")}


def drill_uid(drill) -> str:
    return f"drill-{drill.id}@drillmgr.test"


def touch(drill, **changes) -> None:
    for name, value in changes.items():
        setattr(drill, name, value)
    drill.version += 1
    drill.updated_at = utcnow()
    db.session.commit()


def reschedule(drill, days: float) -> None:
    touch(
        drill,
        starts_at=drill.starts_at + timedelta(days=days),
        ends_at=drill.ends_at + timedelta(days=days),
        sequence=drill.sequence + 1,
    )


def cancel(drill, when: datetime | None = None) -> None:
    touch(drill, status=DrillStatus.CANCELLED, cancelled_at=when or utcnow(), cancel_reason="天气原因，改期")


def zh(text) -> str:
    """A lazy label as the feeds show it (they are in Chinese unless their owner chose English)."""
    from flask_babel import force_locale

    with force_locale("zh_CN"):
        return str(text)


def unfolded(body: bytes) -> str:
    return body.replace(b"\r\n ", b"").decode()
