"""The three key links (item 13): a comprehensive live drill of a key county (乌苏市, 沙湾市) exercises them."""

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.compliance.labels import join_list
from drillmgr.drills.models import Drill
from drillmgr.enums import KEY_LINKS, DrillForm, DrillScope, DrillStatus, Focus
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region


def is_key_county_region(region_code: str | None) -> bool:
    """Whether the region is a key county (乌苏市, 沙湾市) or lies inside one."""
    if not region_code:
        return False
    region = db.session.get(Region, region_code)
    if region is None:
        return False
    codes = region.ancestor_codes
    return (
        db.session.execute(
            sa.select(sa.func.count()).select_from(Region).where(Region.code.in_(codes), Region.key_county.is_(True))
        ).scalar_one()
        > 0
    )


def key_county_region_codes() -> set[str]:
    """Every region code inside a key county (the counties themselves included)."""
    paths = db.session.scalars(sa.select(Region.path).where(Region.key_county.is_(True))).all()
    if not paths:
        return set()
    return set(db.session.scalars(sa.select(Region.code).where(sa.or_(*(Region.path.startswith(p) for p in paths)))))


def org_ids_in_regions(org_ids: list[int], region_codes: set[str]) -> list[int]:
    if not org_ids or not region_codes:
        return []
    return list(
        db.session.scalars(
            sa.select(Organisation.id).where(Organisation.id.in_(org_ids), Organisation.region_code.in_(region_codes))
        )
    )


def default_focus(form: DrillForm, scope: DrillScope, region_code: str | None) -> list[Focus]:
    """Item 13: a comprehensive live drill of a key county exercises the three key links."""
    if form == DrillForm.LIVE and scope == DrillScope.COMPREHENSIVE and is_key_county_region(region_code):
        return list(KEY_LINKS)
    return []


def planning_warnings(drill: Drill) -> list[str]:
    """What the planner should hear before the day: a planned comprehensive live drill of a key county
    that leaves out one of the three key links will not count towards the county's yearly obligation."""
    if (
        drill.status != DrillStatus.PLANNED
        or drill.form != DrillForm.LIVE
        or drill.scope != DrillScope.COMPREHENSIVE
        or not is_key_county_region(drill.region_code)
    ):
        return []
    lacking = [link for link in KEY_LINKS if link not in drill.focus]
    if not lacking:
        return []
    return [
        _(
            "This drill will not count as the key county's comprehensive live drill: it does not exercise %(links)s.",
            links=join_list(link.label for link in lacking),
        )
    ]
