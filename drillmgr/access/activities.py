"""Public education (outreach activities, demonstration sites) and readiness checklist runs."""

from datetime import datetime

import sqlalchemy as sa

from drillmgr.access.drills import visible_drill_of
from drillmgr.access.scopes import can_manage_org, can_manage_region, region_clause, region_in_subtree
from drillmgr.accounts.models import User
from drillmgr.checklists.models import ChecklistRun
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity


# Unit staff see and record their own unit's activities and checklist runs; coordinators and viewers
# see their region's subtree, coordinators act in it; admins do everything; viewers never change.


def outreach_clause(user: User) -> sa.ColumnElement[bool]:
    if user.role == Role.ORG_STAFF:
        return OutreachActivity.organizer_org_id == user.org_id if user.org_id else sa.false()
    return region_clause(user, OutreachActivity.region_code)


def can_view_outreach(user: User, activity: OutreachActivity) -> bool:
    if user.role == Role.ORG_STAFF:
        return user.org_id is not None and activity.organizer_org_id == user.org_id
    return user.role == Role.ADMIN or region_in_subtree(activity.region_code, user.region_code)


def can_record_outreach(user: User, region_code: str, organizer_org: Organisation | None) -> bool:
    """Staff record their own unit's activities, held in its region or below; coordinators in their subtree."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.COORDINATOR:
        return region_in_subtree(region_code, user.region_code) and (
            organizer_org is None or region_in_subtree(organizer_org.region_code, user.region_code)
        )
    if user.role == Role.ORG_STAFF:
        return (
            organizer_org is not None
            and organizer_org.id == user.org_id
            and region_in_subtree(region_code, organizer_org.region_code)
        )
    return False


def can_edit_outreach(user: User, activity: OutreachActivity) -> bool:
    organizer = db.session.get(Organisation, activity.organizer_org_id) if activity.organizer_org_id else None
    return can_record_outreach(user, activity.region_code, organizer)


def site_clause(user: User) -> sa.ColumnElement[bool]:
    if user.role == Role.ORG_STAFF:
        return DemonstrationSite.org_id == user.org_id if user.org_id else sa.false()
    return region_clause(user, DemonstrationSite.region_code)


def can_view_site(user: User, site: DemonstrationSite) -> bool:
    if user.role == Role.ORG_STAFF:
        return user.org_id is not None and site.org_id == user.org_id
    return user.role == Role.ADMIN or region_in_subtree(site.region_code, user.region_code)


def can_manage_sites(user: User, region_code: str) -> bool:
    """Demonstration sites are created and recognised by coordinators (their subtree) and admins."""
    return can_manage_region(user, region_code)


def checklist_run_clause(user: User, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """Runs in scope; a pre-drill run is never shown to someone who may not see its drill (double-blind)."""
    if user.role == Role.ORG_STAFF:
        scope = ChecklistRun.org_id == user.org_id if user.org_id else sa.false()
    else:
        scope = region_clause(user, ChecklistRun.region_code)
    drill_visible = sa.or_(ChecklistRun.drill_id.is_(None), visible_drill_of(user, ChecklistRun.drill_id, now))
    return sa.and_(scope, drill_visible)


def can_view_checklist_run(user: User, run: ChecklistRun, now: datetime | None = None) -> bool:
    return (
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(ChecklistRun)
            .where(ChecklistRun.id == run.id, checklist_run_clause(user, now))
        ).scalar_one()
        > 0
    )


def can_fill_checklist_run(user: User, run: ChecklistRun) -> bool:
    """Answering a run and turning its "no" answers into corrective actions."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.COORDINATOR:
        return region_in_subtree(run.region_code, user.region_code)
    if user.role == Role.ORG_STAFF:
        return user.org_id is not None and run.org_id == user.org_id
    return False


def can_start_readiness_run(user: User, org: Organisation) -> bool:
    if user.role == Role.ORG_STAFF:
        return org.id == user.org_id
    return can_manage_org(user, org)


def can_edit_checklist_templates(user: User) -> bool:
    return user.role == Role.ADMIN
