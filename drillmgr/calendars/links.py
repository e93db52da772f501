"""Signed subscription links (Indico's pattern: a per-user secret signs what the link is for), and the
user's choices about their feeds.

A link carries its owner's id and a signature of (owner, kind, target) with SECRET_KEY and the owner's feed
secret: replacing the secret invalidates every old link at once.
"""

import hashlib
from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import urljoin

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import Signer

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.accounts.services import rotate_feed_secret
from drillmgr.audit import services as audit
from drillmgr.calendars.feeds import ME, ORG, PUBLIC, REGION, Feed, config, default_filter, owner_feed
from drillmgr.calendars.filters import (
    EVERYTHING,
    BadFilter,
    FeedFilter,
    canonical,
    filter_arguments,
    query_text,
    read_filter,
)
from drillmgr.errors import Forbidden
from drillmgr.extensions import db
from drillmgr.validation import parse_id

SIGNATURE_SALT = "drillmgr.calendar-feed"
FILTERED_KINDS = (ORG, REGION)


class FeedLink(TypedDict):
    url: str
    webcal: str


def _signer(user: User) -> Signer:
    key = f"{config('SECRET_KEY')}\x00{user.feed_secret}"
    return Signer(key, salt=SIGNATURE_SALT, digest_method=hashlib.sha256)


def _signed_message(user_id: int, kind: str, target: str, selection: FeedFilter | None) -> bytes:
    """What a link's signature covers; a link with its feed's default filter is signed as before filters."""
    message = f"{user_id}:{kind}:{target}"
    selected = canonical(default_filter(kind), selection) if selection is not None else ""
    return (f"{message}:{selected}" if selected else message).encode()


def feed_token(user: User, kind: str, target: str = "", selection: FeedFilter | None = None) -> str:
    signature = _signer(user).get_signature(_signed_message(user.id, kind, target, selection)).decode()
    return f"{user.id}.{signature}"


def link_filter(kind: str, arguments: Mapping[str, str | list[str]] | None) -> FeedFilter | None:
    """The filter a region or organisation link's query `arguments` carry; None for a value no link carries."""
    if kind not in FILTERED_KINDS:
        return EVERYTHING
    try:
        return read_filter(default_filter(kind), arguments or {})
    except BadFilter:
        return None


def feed_for_token(
    kind: str, target: str, token: str | None, arguments: Mapping[str, str | list[str]] | None = None
) -> Feed:
    """The feed a signed link stands for, with the filter its query `arguments` carry; refused when the link
    (its filter included) was altered, rotated or its owner left."""
    user_id, _dot, signature = (token or "").partition(".")
    owner_id = parse_id(user_id)
    user = db.session.get(User, owner_id) if owner_id and signature else None
    selection = link_filter(kind, arguments)
    if (
        user is None
        or not user.active
        or selection is None
        or not _signer(user).verify_signature(_signed_message(user.id, kind, target, selection), signature.encode())
    ):
        raise Forbidden(_("This calendar link is not valid (it may have been replaced by a new one)."))
    return owner_feed(user, kind, target, selection)


def _feed_path(kind: str, target: str) -> str:
    adapter = current_app.url_map.bind("localhost")
    endpoint, values = {
        PUBLIC: ("calendars.public_feed", {}),
        ME: ("calendars.me_feed", {}),
        ORG: ("calendars.org_feed", {"org_id": target}),
        REGION: ("calendars.region_feed", {"code": target}),
    }[kind]
    return adapter.build(endpoint, values)


def _base_url(request_root: str | None) -> str:
    """The configured address, else the one the request came to (`request_root`: the port `make run`
    was given, the host and scheme a trusted proxy forwarded)."""
    if request_root and config("LINKS_FROM_REQUEST"):
        return request_root.rstrip("/") + "/"
    return str(config("BASE_URL")).rstrip("/") + "/"


def _link(
    base_url: str, kind: str, target: str = "", token: str | None = None, arguments: dict[str, str] | None = None
) -> FeedLink:
    url = urljoin(base_url, _feed_path(kind, target).lstrip("/"))
    if token is not None:
        url += "?" + query_text({"token": token, **(arguments or {})})
    _scheme, _sep, rest = url.partition("://")
    return {"url": url, "webcal": f"webcal://{rest}"}


def _signed_link(
    base_url: str, user: User, kind: str, target: str = "", selection: FeedFilter | None = None
) -> FeedLink:
    arguments = filter_arguments(default_filter(kind), selection) if selection is not None else None
    return _link(base_url, kind, target, feed_token(user, kind, target, selection), arguments)


def feed_targets(user: User) -> dict[str, str]:
    """The signed feeds a user is offered, each kind to its target."""
    targets = {ME: ""}
    if user.org_id:
        targets[ORG] = str(user.org_id)
    region_code = access.feed_home_region(user)
    if region_code:
        targets[REGION] = region_code
    return targets


def feed_links(
    user: User, request_root: str | None = None, selections: Mapping[str, FeedFilter] | None = None
) -> dict[str, FeedLink]:
    """The user's feed links, each as its https (or http) URL and its one-click webcal:// form; the region and
    organisation links carry the filter `selections` gives for their kind, else their feed's default.

    `request_root`: the address the asking request came to, used unless DRILLMGR_BASE_URL is set."""
    base_url = _base_url(request_root)
    links = {PUBLIC: _link(base_url, PUBLIC)}
    for kind, target in feed_targets(user).items():
        links[kind] = _signed_link(base_url, user, kind, target, (selections or {}).get(kind))
    return links


def rotate_links(user: User, request_root: str | None = None) -> dict[str, FeedLink]:
    """A new feed secret: every old link of the user stops working at once."""
    rotate_feed_secret(user)
    return feed_links(user, request_root)


def set_feed_alarms(user: User, enabled: bool) -> None:
    if user.feed_alarms == enabled:
        return
    before = {"feed_alarms": user.feed_alarms}
    user.feed_alarms = enabled
    audit.record(user, "user.feed_alarms", "user", user.id, before, {"feed_alarms": enabled})
