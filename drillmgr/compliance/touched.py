"""Which counties a flush touches: the subjects whose compliance a change can alter.

Compliance subjects are counties and the units inside them, and every rule counts a county's and its
units' drills, reviews, findings, actions and outreach apart from every other county's. So a change of a
drill alters the statuses of the county it is held in and of the counties of its organiser and
participants, before and after the change, and no others; kept statuses of the other counties stay good
(drillmgr.compliance.kept). A row is placed by the columns below, as they were before the flush (read
from the database) and as they are after it; a row that has none of them (a rule, a region, a series),
or whose region is above every county, touches them all.

Within a county, only the county's own rules and the unit rules of the units a change names need be
evaluated again: unit rules count the drills a unit organised or took part in, so a change of a drill (or
of a row held for a drill) alters those of its organiser and participants alone, before and after it. A
change of a unit or a region can alter any unit's (which units there are, and where): it reaches them all.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state

from drillmgr.drills.models import Drill, drill_participants
from drillmgr.enums import RegionLevel
from drillmgr.findings.models import Finding
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

REGION_COLUMNS = ("region_code",)  # where a drill, finding or activity is held; a unit is
ORG_COLUMNS = ("org_id", "organizer_org_id")
PLACING = (*REGION_COLUMNS, *ORG_COLUMNS, "drill_id", "finding_id")
EVERY_UNIT_TABLES = frozenset({"organisations", "regions"})  # a change of these reaches every unit of its counties


@dataclass
class Places:
    """Where the changed rows of one flush are, before and after it; `everywhere` if one cannot be placed."""

    regions: set[str] = field(default_factory=set)
    orgs: set[int] = field(default_factory=set)
    drills: set[int] = field(default_factory=set)
    findings: set[int] = field(default_factory=set)
    everywhere: bool = False
    every_unit: bool = False  # a unit or a region changed: every unit rule of the counties may have

    def add(self, column: str, values: Iterable[Any]) -> None:
        found = {value for value in values if value is not None}
        if column in REGION_COLUMNS:
            self.regions |= found
        elif column in ORG_COLUMNS:
            self.orgs |= found
        elif column == "drill_id":
            self.drills |= found
        else:
            self.findings |= found


def _placing(obj: Any) -> list[str]:
    return [column for column in PLACING if column in obj.__table__.c]


def places_before(session: Session, objects: Iterable[Any]) -> Places:
    """Where the rows of the changed or deleted `objects` are before the flush, as the database has them."""
    places = Places()
    by_class: dict[type, list[Any]] = defaultdict(list)
    for obj in objects:
        places.every_unit |= obj.__table__.name in EVERY_UNIT_TABLES
        if not _placing(obj):
            places.everywhere = True
            return places
        if instance_state(obj).key is not None:
            by_class[type(obj)].append(obj)
    connection = session.connection()
    for cls, found in by_class.items():
        mapper: Mapper[Any] = sa.inspect(cls)
        table = found[0].__table__
        keys = [key for obj in found if (key := instance_state(obj).identity) is not None]
        columns = _placing(found[0])
        rows = connection.execute(
            sa.select(*(table.c[column] for column in columns)).where(sa.tuple_(*mapper.primary_key).in_(keys))
        )
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                places.add(column, [value])
        if cls is Drill:
            ids = [key[0] for key in keys]
            places.add(
                "org_id",
                connection.scalars(
                    sa.select(drill_participants.c.org_id).where(drill_participants.c.drill_id.in_(ids))
                ),
            )
    return places


def add_places_after(places: Places, objects: Iterable[Any]) -> None:
    """Adds where the rows of the new or changed `objects` are after the flush (what they hold now)."""
    for obj in objects:
        state = instance_state(obj)
        places.every_unit |= obj.__table__.name in EVERY_UNIT_TABLES
        columns = _placing(obj)
        if not columns:
            places.everywhere = True
            return
        for column in columns:
            if column in state.dict:
                places.add(column, [state.dict[column]])
        if isinstance(obj, Drill) and "participants" in state.dict:
            places.add("org_id", [org.id for org in state.dict["participants"]])


@dataclass
class Reach:
    """The counties a change touched (None: every county), the units whose unit rules it may alter (None:
    every unit of those counties), and the regions its changed rows are held in (a drill's, a review's, a
    finding's, an activity's region, before and after), whose drills alone a county's totals kept region by
    region need count again."""

    counties: set[str] | None
    units: set[int] | None
    regions: set[str] = field(default_factory=set)


def reach(connection: sa.Connection, places: Places) -> Reach:
    """Where the changes of `places` are: their counties and units."""
    if places.everywhere:
        return Reach(None, None)
    regions = set(places.regions)
    orgs = set(places.orgs)
    drills = set(places.drills)
    if places.findings:
        rows = connection.execute(
            sa.select(Finding.region_code, Finding.org_id, Finding.drill_id).where(Finding.id.in_(places.findings))
        )
        for region_code, org_id, drill_id in rows:
            regions.add(region_code)
            orgs.add(org_id)
            drills.add(drill_id)
    drills.discard(None)
    if drills:
        for region_code, org_id in connection.execute(
            sa.select(Drill.region_code, Drill.organizer_org_id).where(Drill.id.in_(drills))
        ):
            regions.add(region_code)
            orgs.add(org_id)
        orgs |= set(
            connection.scalars(sa.select(drill_participants.c.org_id).where(drill_participants.c.drill_id.in_(drills)))
        )
    held = set(regions)
    orgs.discard(None)
    if orgs:
        regions |= set(connection.scalars(sa.select(Organisation.region_code).where(Organisation.id.in_(orgs))))
    return Reach(_counties_of(connection, regions), None if places.every_unit else orgs, held)


def _counties_of(connection: sa.Connection, regions: set[str]) -> set[str] | None:
    if not regions:
        return set()
    paths = [path for (path,) in connection.execute(sa.select(Region.path).where(Region.code.in_(regions)))]
    if len(paths) < len(regions):
        return None  # a region gone meanwhile: be safe
    ancestors = {code for path in paths for code in path.strip("/").split("/")}
    county_codes = set(
        connection.scalars(sa.select(Region.code).where(Region.code.in_(ancestors), Region.level == RegionLevel.COUNTY))
    )
    placed: set[str] = set()
    for path in paths:
        county = county_codes.intersection(path.strip("/").split("/"))
        if not county:
            return None  # a region above every county: every county may have changed
        placed |= county
    return placed
