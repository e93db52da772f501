"""Calendar feeds, notifications and the scheduler's record."""

import sqlalchemy as sa

from drillmgr.access.drills import is_evaluator
from drillmgr.access.scopes import can_view_org, can_view_region, subtree_codes
from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill, drill_participants
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.notifications.models import Notification
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

# A feed is always drill_clause(owner, now) AND one of these; the feed's owner must also be
# allowed to see the organisation or region named in its link.

FEED_REGION_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.VIEWER)


def feed_org_drills(org_id: int) -> sa.ColumnElement[bool]:
    """Drills an organisation organises or takes part in."""
    return sa.or_(
        Drill.organizer_org_id == org_id,
        Drill.id.in_(sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == org_id)),
    )


def feed_region_drills(region_code: str) -> sa.ColumnElement[bool]:
    """Drills held or organised anywhere in the region's subtree."""
    subtree = subtree_codes(region_code)
    return sa.or_(Drill.region_code.in_(subtree), Drill.organizer_region_code.in_(subtree))


def feed_personal_drills(user: User) -> sa.ColumnElement[bool]:
    """A user's own drills: their unit's, those they evaluate, those they entered (a feed's "key drills")."""
    parts = [is_evaluator(user), Drill.created_by_id == user.id]
    if user.org_id:
        parts.append(feed_org_drills(user.org_id))
    return sa.or_(*parts)


def feed_own_drills(user: User) -> sa.ColumnElement[bool]:
    """What a user takes part in: their own drills, and a coordinator's region."""
    if user.role == Role.COORDINATOR and user.region_code:
        return sa.or_(feed_personal_drills(user), feed_region_drills(user.region_code))
    return feed_personal_drills(user)


def can_subscribe_org(user: User, org: Organisation) -> bool:
    return can_view_org(user, org)


def can_subscribe_region(user: User, region_code: str) -> bool:
    return user.role in FEED_REGION_ROLES and can_view_region(user, region_code)


def feed_home_region(user: User) -> str | None:
    """The region feed a user is offered: their own region; the whole prefecture for admins."""
    if user.role not in FEED_REGION_ROLES:
        return None
    if user.role == Role.ADMIN:
        return user.region_code or db.session.scalar(
            sa.select(Region.code).where(Region.parent_code.is_(None)).order_by(Region.code).limit(1)
        )
    return user.region_code


def feed_shows_report_deadlines(user: User) -> bool:
    """The half-year report deadlines concern those who file a region's report: its coordinators and
    admins. Asked only about a region feed the user may have (can_subscribe_region), so for a
    coordinator the region lies in their subtree."""
    return user.role in (Role.ADMIN, Role.COORDINATOR)


# --- notifications and the scheduler's record ------------------------------------------------


def notification_clause(user: User) -> sa.ColumnElement[bool]:
    """Everyone sees their own notifications, and nobody else's."""
    return Notification.user_id == user.id


def can_view_job_runs(user: User) -> bool:
    """The scheduler's runs and the mail outbox are for the prefecture's administrators."""
    return user.role == Role.ADMIN
