"""What a filter gives, for the subscribe page: the link that carries it, how many events the feed holds and how
large it is, read from the feed itself (rendered once and kept, as any poll of it would be)."""

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.calendars.feeds import default_filter, owner_feed
from drillmgr.calendars.filters import PARAMETERS, FeedFilter, read_filter
from drillmgr.calendars.links import FILTERED_KINDS, FeedLink, feed_links, feed_targets
from drillmgr.calendars.serving import current_feed
from drillmgr.errors import NotFound

DRILL_EVENT = b"\r\nUID:drill-"
DEADLINE_EVENT = b"\r\nUID:report-deadline-"


@dataclass(frozen=True)
class FeedPreview:
    kind: str
    link: FeedLink
    drills: int  # the feed's drill events
    deadlines: int  # its report deadlines (all-day events)
    size: int  # bytes

    @property
    def size_text(self) -> str:
        if self.size >= 1024 * 1024:
            return f"{self.size / (1024 * 1024):.1f} MB"
        return f"{max(1, round(self.size / 1024))} KB"

    @property
    def summary(self) -> str:
        return str(
            _(
                "%(drills)d drills and %(deadlines)d report deadlines, %(size)s",
                drills=self.drills,
                deadlines=self.deadlines,
                size=self.size_text,
            )
        )

    def as_json(self) -> dict[str, object]:
        return {
            "feed": self.kind,
            "url": self.link["url"],
            "webcal": self.link["webcal"],
            "drills": self.drills,
            "deadlines": self.deadlines,
            "bytes": self.size,
            "size": self.size_text,
            "summary": self.summary,
        }


def chosen_filter(kind: str, arguments: Mapping[str, list[str]]) -> FeedFilter:
    """The filter the subscribe page's form gives (a ticked box per value; every box of a kind ticked, or
    none, is any value); BadFilter for a value the form never sends."""
    given = {name: ",".join(arguments.get(name, [])) for name in PARAMETERS if name in arguments}
    return read_filter(default_filter(kind), given)


def filterable_target(user: User, kind: str) -> str:
    """The organisation or region whose feed the user may filter on the page."""
    target = feed_targets(user).get(kind) if kind in FILTERED_KINDS else None
    if target is None:
        raise NotFound(_("You have no such feed."))
    return target


def feed_preview(user: User, kind: str, selection: FeedFilter, request_root: str | None = None) -> FeedPreview:
    """The link of the user's `kind` feed with the filter `selection`, and what that feed holds now."""
    target = filterable_target(user, kind)
    body = current_feed(owner_feed(user, kind, target, selection)).body
    link = feed_links(user, request_root, {kind: selection})[kind]
    return FeedPreview(kind, link, body.count(DRILL_EVENT), body.count(DEADLINE_EVENT), len(body))
