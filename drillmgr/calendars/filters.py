"""Which of a region's or organisation's drills a signed link asks for: its filter.

A filter is carried by the link as query arguments (`show`, `form`, `scope`, `kind`) and covered by the link's
signature in its canonical form (`canonical`), so that a changed filter without a new signature is refused.
A link without them asks for its feed's default: the key drills for a region feed, everything for an
organisation's. All the filter's conditions must hold:

- `show=key` ("key drills only"): comprehensive drills, live drills, drills organised by a region (a county's
  own drills, the prefecture's, a township's) rather than by a unit, and the link owner's own drills (those of
  their unit, those they evaluate, those they entered). `show=all`: no such condition.
- `form`, `scope`, `kind`: the drill's form, its scope, the kind of the unit that organises it (a drill
  organised by a region has no unit kind: a `kind` condition leaves it out), each one of the values listed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlencode

import sqlalchemy as sa

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillForm, DrillScope, OrgKind
from drillmgr.orgs.models import Organisation

KEY, ALL = "key", "all"
SHOW, FORM, SCOPE, KIND = "show", "form", "scope", "kind"
PARAMETERS = (SHOW, FORM, SCOPE, KIND)

E = TypeVar("E", bound=StrEnum)


class BadFilter(ValueError):
    """A filter argument no link ever carries."""


@dataclass(frozen=True)
class FeedFilter:
    """The drills a region or organisation feed shows; an empty set of values means any value."""

    key_only: bool = False
    forms: frozenset[DrillForm] = frozenset()
    scopes: frozenset[DrillScope] = frozenset()
    kinds: frozenset[OrgKind] = frozenset()

    def normalised(self) -> "FeedFilter":
        """The same filter with every set that lists all the values emptied (it selects nothing less)."""
        return FeedFilter(
            self.key_only,
            _any_if_all(self.forms, DrillForm),
            _any_if_all(self.scopes, DrillScope),
            _any_if_all(self.kinds, OrgKind),
        )

    def clause(self, owner: User) -> sa.ColumnElement[bool]:
        """The drills the filter selects, as the link's owner `owner` sees its "own" drills."""
        parts: list[sa.ColumnElement[bool]] = []
        if self.key_only:
            parts.append(
                sa.or_(
                    Drill.scope == DrillScope.COMPREHENSIVE,
                    Drill.form == DrillForm.LIVE,
                    Drill.organizer_region_code.is_not(None),
                    access.feed_personal_drills(owner),
                )
            )
        if self.forms:
            parts.append(Drill.form.in_(sorted(self.forms)))
        if self.scopes:
            parts.append(Drill.scope.in_(sorted(self.scopes)))
        if self.kinds:
            parts.append(
                Drill.organizer_org_id.in_(sa.select(Organisation.id).where(Organisation.kind.in_(sorted(self.kinds))))
            )
        return sa.and_(sa.true(), *parts)


KEY_DRILLS = FeedFilter(key_only=True)
EVERYTHING = FeedFilter()


def _any_if_all(values: frozenset[E], enum: type[E]) -> frozenset[E]:
    return frozenset() if values == frozenset(enum) else values


def _values(raw: str, enum: type[E]) -> frozenset[E]:
    try:
        return frozenset(enum(value) for value in raw.split(",") if value)
    except ValueError:
        raise BadFilter(raw) from None


def read_filter(default: FeedFilter, args: Mapping[str, str | list[str]]) -> FeedFilter:
    """The filter a link's query arguments give (`args`: each name to its value, or its values when repeated);
    BadFilter for a value no link carries. Arguments not given take the feed's default."""
    given: dict[str, str] = {}
    for name in PARAMETERS:
        value = args.get(name)
        if isinstance(value, list):
            if len(value) > 1:
                raise BadFilter(name)
            value = value[0] if value else None
        if value is not None:
            given[name] = value
    show = given.get(SHOW)
    if show not in (None, KEY, ALL):
        raise BadFilter(show)
    key_only = default.key_only if show is None else show == KEY
    return FeedFilter(
        key_only,
        _values(given.get(FORM, ""), DrillForm),
        _values(given.get(SCOPE, ""), DrillScope),
        _values(given.get(KIND, ""), OrgKind),
    ).normalised()


def filter_arguments(default: FeedFilter, selection: FeedFilter) -> dict[str, str]:
    """The query arguments that carry `selection` in a link of a feed whose default is `default`, in their one
    canonical form: none for the feed's default, values sorted, a set of all the values left out."""
    selection = selection.normalised()
    arguments: dict[str, str] = {}
    if selection.key_only != default.key_only:
        arguments[SHOW] = KEY if selection.key_only else ALL
    for name, values in ((FORM, selection.forms), (SCOPE, selection.scopes), (KIND, selection.kinds)):
        if values:
            arguments[name] = ",".join(sorted(str(value) for value in values))
    return arguments


def canonical(default: FeedFilter, selection: FeedFilter) -> str:
    """The filter as the link's signature covers it: "" for the feed's default (links made before filters)."""
    return query_text(filter_arguments(default, selection))


def query_text(arguments: Mapping[str, str]) -> str:
    return urlencode(arguments, safe=",")
