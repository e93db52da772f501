"""Compliance dashboards, reports and their submission, and reminders."""

from datetime import datetime

import sqlalchemy as sa

from drillmgr.access.actors import Actor, acts_for_all
from drillmgr.access.drills import drill_insider_clause, not_secret_clause, secret_clause
from drillmgr.access.scopes import can_manage_region, can_view_region, home_region
from drillmgr.accounts.models import User
from drillmgr.enums import RegionLevel, Role
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region


COMPLIANCE_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.VIEWER)


def can_view_compliance(user: User, region_code: str | None = None) -> bool:
    """Compliance dashboards, reports and answers are for admins, coordinators and viewers of the region.

    Unit staff get none of it: the dashboard compares units, which they must not see.
    """
    if user.role not in COMPLIANCE_ROLES:
        return False
    return region_code is None or user.role == Role.ADMIN or can_view_region(user, region_code)


def can_view_readiness_figures(user: User, region_code: str) -> bool:
    """The readiness shares compare a county's units, as the compliance dashboard does: the same
    people may read them, and unit staff may not."""
    return can_view_compliance(user, region_code)


def can_view_unit_obligations(user: User, org: Organisation) -> bool:
    """A unit's own obligations: its staff see their unit's alone (nothing that compares units);
    admins, and coordinators and viewers whose region holds the unit, see any unit's."""
    if user.role == Role.ORG_STAFF:
        return user.org_id is not None and user.org_id == org.id
    return can_view_compliance(user, org.region_code)


def compliance_home_region(user: User) -> str | None:
    """The region a user's compliance views start from (None: the whole prefecture, for admins)."""
    return home_region(user)


def counts_every_drill(actor: Actor) -> bool:
    """Whether compliance counts every drill for `actor`, secret ones included: jobs and commands, and admins."""
    return acts_for_all(actor)


def _limited_user(actor: Actor) -> User | None:
    """The user whose count of drills access limits (to the secret drills they are insiders of); None for
    those who count every drill."""
    if counts_every_drill(actor) or not isinstance(actor, User):
        return None
    return actor


def compliance_drill_clause(actor: Actor, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The drills compliance may count for `actor`. Subjects are already limited to the user's
    region, and a unit is credited with drills held elsewhere that it took part in; what must never
    show (in a status or its evidence) is a double-blind drill before it starts to someone who is not
    an insider of it."""
    user = _limited_user(actor)
    if user is None:
        return sa.true()
    return sa.or_(not_secret_clause(now), drill_insider_clause(user))


def compliance_drill_parts(actor: Actor, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The drills compliance_drill_clause() lets `actor` count, as disjoint parts whose union they are: all
    drills for those who count every drill; else the drills that are not secret, and the secret ones they are
    insiders of. So that a query over a year of drills reads the first part from an index (which holds whether a
    drill is double-blind and when it starts) and the few of the second through the partial index of
    double-blind drills, rather than deciding for each drill whether they are an insider of it."""
    user = _limited_user(actor)
    if user is None:
        return [sa.true()]
    return [not_secret_clause(now), sa.and_(secret_clause(now), drill_insider_clause(user))]


def can_edit_compliance_rules(user: User) -> bool:
    return user.role == Role.ADMIN


def can_submit_half_year_report(user: User, region: Region) -> bool:
    """A county's report is submitted by a coordinator acting for that county; the prefecture decides."""
    return user.role == Role.COORDINATOR and region.level == RegionLevel.COUNTY and can_manage_region(user, region.code)


def can_decide_half_year_report(user: User) -> bool:
    return user.role == Role.ADMIN


def can_send_reminders(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.COORDINATOR)


def can_remind_org(user: User, org: Organisation) -> bool:
    """Coordinators remind the units of their region; admins any unit."""
    return can_send_reminders(user) and can_manage_region(user, org.region_code)
