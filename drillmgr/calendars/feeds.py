"""Which feeds there are: the public one (the whole prefecture or one county) and those a user owns (their
own drills, their organisation's, their region's), each with what it shows and who may see it.

A feed's drills are always the ones its reader may see (`visible`, decided by access) among the ones it is
about (`drills`), within a window of years around now, cancelled ones kept for 90 days.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.calendars import ical
from drillmgr.calendars.filters import EVERYTHING, KEY_DRILLS, FeedFilter, canonical
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillStatus
from drillmgr.errors import Forbidden, NotFound
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.validation import parse_id

PUBLIC, ME, ORG, REGION = "public", "me", "org", "region"
CANCELLED_KEPT = timedelta(days=90)
YEARS_BEFORE, YEARS_AFTER = 1, 2

T = TypeVar("T")


@dataclass(frozen=True)
class Feed:
    """One feed as its reader may see it; `identity` is everything but the drills that shapes its bytes.

    `owner` is the user whose signed link it is; the public feed has none (anyone may read it)."""

    kind: str
    target: str
    owner: User | None = field(compare=False)
    name: str
    description: str
    drills: sa.ColumnElement[bool] = field(compare=False)
    visible: Callable[[datetime], sa.ColumnElement[bool]] = field(compare=False)
    observances: bool
    deadline_region: tuple[str, str] | None
    style: ical.EventStyle
    selection: FeedFilter = EVERYTHING  # the link's filter (region and organisation feeds)

    @property
    def identity(self) -> tuple[object, ...]:
        owner = self.owner
        scope = (owner.id, owner.role.value, owner.region_code, owner.org_id) if owner else None
        return (
            self.kind,
            self.target,
            scope,
            self.name,
            self.description,
            self.observances,
            self.deadline_region,
            self.style,
            self.selection,
        )

    @property
    def slot_name(self) -> str:
        """The feed link's name in calendar_feed_versions and the shared store: one per filter."""
        name = f"{self.kind}:{self.target}:{self.owner.id if self.owner else ''}"
        selected = canonical(default_filter(self.kind), self.selection)
        if selected:
            name += ":" + hashlib.sha256(selected.encode()).hexdigest()[:32]
        return name


def default_filter(kind: str) -> FeedFilter:
    """A region feed shows its key drills unless its link asks for more; an organisation's, everything."""
    return KEY_DRILLS if kind == REGION else EVERYTHING


def config(name: str) -> Any:
    return current_app.config[name]


def _style(alarms: bool, locale: str) -> ical.EventStyle:
    return ical.EventStyle(tzid=config("TIMEZONE"), host=config("HOST"), alarms=alarms, locale=locale)


def _default_locale() -> str:
    return str(config("BABEL_DEFAULT_LOCALE"))


def _locale_of(user: User) -> str:
    if user.locale is not None and user.locale in config("LANGUAGES"):
        return user.locale
    return _default_locale()


def _found(thing: T | None, missing: str) -> T:
    if thing is None:
        raise NotFound(missing)
    return thing


def _subscribable(thing: T | None, may_subscribe: Callable[[T], bool], missing: str, no_longer: str) -> T:
    """The organisation or region a link names, if it still exists and its owner may still see it."""
    found = _found(thing, missing)
    if not may_subscribe(found):
        raise Forbidden(no_longer)
    return found


def public_feed(region_code: str | None = None) -> Feed:
    """Observance days and the public drills, of the whole prefecture or of one county."""
    locale = _default_locale()
    drills = access.feed_region_drills(region_code) if region_code else sa.true()
    with force_locale(locale):
        if region_code:
            region = _found(db.session.get(Region, region_code), _("No such region."))
            name = _("%(region)s earthquake drills (public)", region=region.name)
        else:
            name = _("Tacheng earthquake drills and observance days (public)")
        description = _("Public earthquake drills and the earthquake-safety observance days.")
    return Feed(
        PUBLIC,
        region_code or "",
        None,
        name,
        description,
        drills,
        access.public_drill_clause,
        True,
        None,
        _style(False, locale),
    )


def owner_feed(owner: User, kind: str, target: str, selection: FeedFilter | None = None) -> Feed:
    """The feed of one of `owner`'s signed links, as `owner` may see it now; `selection` is the link's filter
    (region and organisation feeds; None: the feed's default)."""
    locale = _locale_of(owner)
    selection = EVERYTHING if kind == ME else (selection or default_filter(kind)).normalised()
    deadline_region = None
    with force_locale(locale):
        if kind == ME:
            name = _("My drills (%(user)s)", user=owner.display_name or owner.username)
            drills = access.feed_own_drills(owner)
        elif kind == ORG:
            org = _subscribable(
                db.session.get(Organisation, org_id) if (org_id := parse_id(target)) else None,
                partial(access.can_subscribe_org, owner),
                _("No such organisation."),
                _("This link's owner may no longer see this organisation."),
            )
            name = (
                _("Key drills of %(org)s", org=org.name) if selection.key_only else _("Drills of %(org)s", org=org.name)
            )
            drills = access.feed_org_drills(org.id)
        else:
            region = _subscribable(
                db.session.get(Region, target),
                lambda region: access.can_subscribe_region(owner, region.code),
                _("No such region."),
                _("This link's owner may no longer see this region."),
            )
            name = (
                _("Key drills in %(region)s", region=region.name)
                if selection.key_only
                else _("Drills in %(region)s", region=region.name)
            )
            drills = access.feed_region_drills(region.code)
            if access.feed_shows_report_deadlines(owner):
                deadline_region = (region.code, region.name)
        description = _(
            "Earthquake drills from the Tacheng drill manager, as %(user)s may see them.",
            user=owner.display_name or owner.username,
        )
    if selection != EVERYTHING:
        drills = sa.and_(drills, selection.clause(owner))
    return Feed(
        kind,
        target,
        owner,
        name,
        description,
        drills,
        partial(access.drill_clause, owner),
        False,
        deadline_region,
        _style(owner.feed_alarms, locale),
        selection,
    )


# --- what a feed holds ---------------------------------------------------------------------------


def feed_years(now: datetime, tzid: str) -> tuple[int, int]:
    """The first and last year a feed shows at `now`."""
    year = now.astimezone(ZoneInfo(tzid)).year
    return year - YEARS_BEFORE, year + YEARS_AFTER


def feed_filters(feed: Feed, now: datetime, years: tuple[int, int]) -> list[sa.ColumnElement[bool]]:
    """The drills the feed may show at `now` in `years`, cancelled ones included."""
    tzid = feed.style.tzid
    return [
        feed.visible(now),
        feed.drills,
        Drill.starts_at >= ical.local_midnight(date(years[0], 1, 1), tzid),
        Drill.starts_at < ical.local_midnight(date(years[1] + 1, 1, 1), tzid),
    ]


def cancelled_moment() -> sa.ColumnElement[datetime]:
    return sa.func.coalesce(Drill.cancelled_at, Drill.updated_at)


def shown_clause(now: datetime) -> sa.ColumnElement[bool]:
    """A cancelled drill stays in feeds, marked cancelled, for 90 days after its cancellation."""
    return sa.or_(Drill.status != DrillStatus.CANCELLED, cancelled_moment() >= now - CANCELLED_KEPT)
