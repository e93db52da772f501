"""The core scoping: a region's subtree, the regions, organisations and users an actor sees and acts for.

An admin sees everything; a coordinator or viewer sees their region's subtree; unit staff see their own
organisation.
"""

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access.actors import REGIONAL_ROLES, ROLE_POWER, Actor, acts_for_all, not_found
from drillmgr.accounts.models import User
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

Column = sa.SQLColumnExpression[Any]


# --- regions ---------------------------------------------------------------------------------


def subtree_codes(region_code: str | None) -> sa.Select[tuple[str]]:
    """A SELECT of the codes of `region_code` and every region below it."""
    path = sa.select(Region.path).where(Region.code == region_code).scalar_subquery()
    return sa.select(Region.code).where(Region.path.startswith(path, autoescape=False))


def region_in_subtree(region_code: str | None, ancestor_code: str | None) -> bool:
    """Whether `region_code` is `ancestor_code` or below it: the subtree_codes rule (a path prefix) on the
    two regions, read through the session's identity map, so that asking for every region of a list
    already loaded (a page's region choices) costs no query per region."""
    if region_code is None or ancestor_code is None:
        return False
    region, ancestor = db.session.get(Region, region_code), db.session.get(Region, ancestor_code)
    return region is not None and ancestor is not None and region.path.startswith(ancestor.path)


def region_clause(user: User, column: Column) -> sa.ColumnElement[bool]:
    """Rows whose region `column` lies in the user's region scope (org_staff: their org's region)."""
    if user.role == Role.ADMIN:
        return sa.true()
    if user.role in REGIONAL_ROLES and user.region_code:
        return column.in_(subtree_codes(user.region_code))
    if user.role == Role.ORG_STAFF and user.org_id:
        org_region = sa.select(Organisation.region_code).where(Organisation.id == user.org_id).scalar_subquery()
        return column == org_region
    return sa.false()


def can_view_region(user: User, region_code: str) -> bool:
    """region_clause for one region; for admins and regional roles decided on the loaded regions (no
    query per region of a list)."""
    if user.role == Role.ADMIN:
        return db.session.get(Region, region_code) is not None
    if user.role in REGIONAL_ROLES and user.region_code:
        return region_in_subtree(region_code, user.region_code)
    return (
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(Region)
            .where(Region.code == region_code, region_clause(user, Region.code))
        ).scalar_one()
        > 0
    )


def can_manage_region(user: Actor, region_code: str) -> bool:
    """Coordinators act for their region's subtree; admins and SYSTEM for all."""
    if acts_for_all(user):
        return True
    return isinstance(user, User) and user.role == Role.COORDINATOR and region_in_subtree(region_code, user.region_code)


def manage_region_clause(user: User, column: Column) -> sa.ColumnElement[bool]:
    """The regions `user` acts for (can_manage_region as a clause, for listing them in one query)."""
    if user.role == Role.ADMIN:
        return sa.true()
    if user.role == Role.COORDINATOR and user.region_code:
        return column.in_(subtree_codes(user.region_code))
    return sa.false()


# --- organisations ---------------------------------------------------------------------------


def org_clause(user: User) -> sa.ColumnElement[bool]:
    if user.role == Role.ORG_STAFF:
        return Organisation.id == user.org_id
    return region_clause(user, Organisation.region_code)


def can_view_org(user: User, org: Organisation) -> bool:
    if user.role == Role.ORG_STAFF:
        return org.id == user.org_id
    return user.role == Role.ADMIN or region_in_subtree(org.region_code, user.region_code)


def can_manage_org(user: User, org: Organisation) -> bool:
    return can_manage_region(user, org.region_code)


def can_edit_org_groups(user: User, org: Organisation) -> bool:
    """A unit's own staff know its classes and wards; whoever manages the unit may change them too."""
    return user.org_id == org.id or can_manage_org(user, org)


def get_visible_org(user: User, org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if org is None or not can_view_org(user, org):
        not_found(_("No such organisation."))
    return org


# --- users -----------------------------------------------------------------------------------


def user_clause(actor: User) -> sa.ColumnElement[bool]:
    if actor.role == Role.ADMIN:
        return sa.true()
    if actor.role == Role.COORDINATOR:
        in_region = User.region_code.in_(subtree_codes(actor.region_code))
        org_in_region = User.org_id.in_(
            sa.select(Organisation.id).where(Organisation.region_code.in_(subtree_codes(actor.region_code)))
        )
        return sa.or_(in_region, org_in_region)
    return User.id == actor.id


def can_view_user(actor: User, target: User) -> bool:
    return (
        db.session.execute(
            sa.select(sa.func.count()).select_from(User).where(User.id == target.id, user_clause(actor))
        ).scalar_one()
        > 0
    )


def can_grant(actor: Actor, role: Role, region_code: str | None, org: Organisation | None) -> bool:
    """Whether `actor` may give someone this role and scope: never more power than their own (SYSTEM: any)."""
    if acts_for_all(actor):
        return True
    if not isinstance(actor, User) or actor.role != Role.COORDINATOR or ROLE_POWER[role] > ROLE_POWER[actor.role]:
        return False
    scope_region = org.region_code if org is not None else region_code
    return region_in_subtree(scope_region, actor.region_code)


def grantable_roles(actor: Actor) -> list[Role]:
    """The roles `actor` may give at all (can_grant decides the scope): none above their own."""
    if acts_for_all(actor):
        return list(Role)
    if not isinstance(actor, User) or actor.role != Role.COORDINATOR:
        return []
    return [role for role in Role if ROLE_POWER[role] <= ROLE_POWER[actor.role]]


def home_region(user: User) -> str | None:
    """The region a user's lists and views start from (None: the whole prefecture, for admins)."""
    return None if user.role == Role.ADMIN else user.region_code


def can_manage_people_and_units(user: User) -> bool:
    """Managing users and organisations is for admins, and for coordinators inside their region."""
    return user.role in (Role.ADMIN, Role.COORDINATOR)


def can_manage_user(actor: User, target: User) -> bool:
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.COORDINATOR or target.id == actor.id:
        return False
    return can_grant(actor, target.role, target.region_code, target.org) and can_view_user(actor, target)
