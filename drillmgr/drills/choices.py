"""What the drill forms and filters offer to choose from, within the user's scope."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.enums import RegionLevel, Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.regions.services import all_regions

UNIT_FILTER_LIMIT = 1000


def organiser_choices(actor: User) -> list[tuple[str, str]]:
    """`org:<id>` / `region:<code>` values for the organiser field, within what `actor` may organise for."""
    choices: list[tuple[str, str]] = []
    if actor.role in (Role.ADMIN, Role.COORDINATOR):
        regions = db.session.scalars(
            sa.select(Region)
            .where(access.region_clause(actor, Region.code), Region.level != RegionLevel.VILLAGE)
            .order_by(Region.path)
        )
        choices += [(f"region:{r.code}", r.indented_name) for r in regions]
        orgs = db.session.scalars(
            sa.select(Organisation)
            .where(access.org_clause(actor))
            .order_by(Organisation.region_code, Organisation.name)
        )
        choices += [(f"org:{o.id}", o.name) for o in orgs]
    elif actor.role == Role.ORG_STAFF and actor.org is not None:
        choices.append((f"org:{actor.org.id}", actor.org.name))
    return choices


def visible_regions(actor: User) -> list[Region]:
    """The regions in the actor's scope, in tree order."""
    return all_regions(access.region_clause(actor, Region.code))


def unit_filter_choices(actor: User, region: str | None = None) -> list[tuple[int, str]]:
    """Units in the actor's scope (within `region` when given) to filter drills by."""
    query = sa.select(Organisation.id, Organisation.name).where(access.org_clause(actor))
    if region:
        query = query.where(Organisation.region_code.in_(access.subtree_codes(region)))
    return [
        (row.id, row.name)
        for row in db.session.execute(
            query.order_by(Organisation.region_code, Organisation.name).limit(UNIT_FILTER_LIMIT)
        )
    ]


def participant_choices(actor: User) -> list[tuple[int, str]]:
    return [
        (o.id, o.name)
        for o in db.session.scalars(
            sa.select(Organisation)
            .where(access.participant_candidate_clause(actor))
            .order_by(Organisation.region_code, Organisation.name)
        )
    ]


def participant_picker(actor: User) -> list[dict[str, Any]]:
    """Participant candidates with their kind and township (the township / street they lie in, if any), for
    the picker's search and "select all schools in this township"."""
    orgs = db.session.scalars(
        sa.select(Organisation)
        .where(access.participant_candidate_clause(actor))
        .options(selectinload(Organisation.region))
        .order_by(Organisation.region_code, Organisation.name)
    ).all()
    codes = {c for o in orgs for c in o.region.ancestor_codes} if orgs else set()
    townships = (
        {
            r.code: r.name
            for r in db.session.scalars(
                sa.select(Region).where(Region.code.in_(codes), Region.level == RegionLevel.TOWNSHIP)
            )
        }
        if codes
        else {}
    )
    result = []
    for org in orgs:
        township = next((c for c in org.region.ancestor_codes if c in townships), "")
        result.append(
            {
                "id": org.id,
                "name": org.name,
                "kind": org.kind.value,
                "kind_label": org.kind.label,
                "township": township,
                "township_name": townships.get(township, ""),
            }
        )
    return result


def evaluator_choices(actor: User) -> list[tuple[int, str]]:
    return [
        (u.id, u.display_name or u.username)
        for u in db.session.scalars(
            sa.select(User).where(access.evaluator_candidate_clause(actor)).order_by(User.username)
        )
    ]
