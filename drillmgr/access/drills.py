"""Drills: the scope of each role, the double-blind clause (a double-blind drill before its start is hidden
from everyone but its organiser, its evaluators, coordinators of its region and admins), and who plans, edits
and files them."""

from datetime import datetime, timedelta
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute
from flask_babel import gettext as _

from drillmgr.access.actors import REGIONAL_ROLES, Actor, not_found
from drillmgr.access.scopes import org_clause, region_in_subtree, subtree_codes, user_clause
from drillmgr.accounts.models import User
from drillmgr.db import utcnow
from drillmgr.drills import recurrence
from drillmgr.drills.models import Drill, DrillSeries, drill_evaluators, drill_participants
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation


def is_evaluator(user: User) -> sa.ColumnElement[bool]:
    """Drills `user` evaluates."""
    return Drill.id.in_(sa.select(drill_evaluators.c.drill_id).where(drill_evaluators.c.user_id == user.id))


def _drill_scope_clause(user: User) -> sa.ColumnElement[bool]:
    if user.role == Role.ADMIN:
        return sa.true()
    if user.role in REGIONAL_ROLES:
        subtree = subtree_codes(user.region_code)
        return sa.or_(
            Drill.region_code.in_(subtree),
            Drill.organizer_region_code.in_(subtree),
            Drill.organizer_org_id.in_(sa.select(Organisation.id).where(Organisation.region_code.in_(subtree))),
            is_evaluator(user),
        )
    if user.role == Role.ORG_STAFF:
        return sa.or_(
            Drill.organizer_org_id == user.org_id,
            Drill.id.in_(sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == user.org_id)),
            is_evaluator(user),
        )
    return sa.false()


def visible_drill_of(
    user: User, drill_id: InstrumentedAttribute[int | None], now: datetime | None = None
) -> sa.ColumnElement[bool]:
    """Whether the drill a row names (`drill_id`, a column of another table) is one `user` may see, as
    EXISTS: the database looks the drills up by key where there are few rows to check and joins where
    there are many; `drill_id IN (every visible drill)` made it list a county's 12,000 drills for 15
    findings. Correlated with that table alone, so that a query which also reads drills still works."""
    visible = sa.select(Drill.id).where(Drill.id == drill_id, drill_clause(user, now))
    return visible.correlate(drill_id.class_).exists()


def drill_insider_clause(user: User) -> sa.ColumnElement[bool]:
    """Who may see a double-blind drill before it starts: organiser, evaluators, coordinators, admins."""
    if user.role == Role.ADMIN:
        return sa.true()
    if user.role == Role.COORDINATOR:
        subtree = subtree_codes(user.region_code)
        return sa.or_(Drill.region_code.in_(subtree), Drill.organizer_region_code.in_(subtree), is_evaluator(user))
    if user.role == Role.ORG_STAFF:
        return sa.or_(Drill.organizer_org_id == user.org_id, is_evaluator(user))
    return is_evaluator(user)


def secret_clause(now: datetime) -> sa.ColumnElement[bool]:
    """Double-blind drills not started at `now`: the few drills of the partial index
    ix_drills_double_blind_starts_at, whose condition is written as this one is (`IS true`, `IS 1`), else the
    planners would not use it."""
    return sa.and_(Drill.double_blind.is_(True), Drill.starts_at > now)


def not_secret_clause(now: datetime | None = None) -> sa.ColumnElement[bool]:
    """Drills anybody in scope may see: not double-blind, or already started."""
    return sa.or_(Drill.double_blind.is_(False), Drill.starts_at <= (now or utcnow()))


def is_secret(drill: Drill, now: datetime | None = None) -> bool:
    """A double-blind drill that has not started yet: only its insiders may know of it."""
    return drill.double_blind and drill.starts_at > (now or utcnow())


def secret_from_clause(user: User, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """Drills kept secret from `user` now, whatever else (scope, ownership) would let them see it."""
    return sa.and_(sa.not_(not_secret_clause(now)), _outsider_clause(user))


def _outsider_clause(user: User) -> sa.ColumnElement[bool]:
    # The insider clause is NULL where a drill has no organising unit: NOT NULL would not be true.
    return sa.not_(sa.func.coalesce(drill_insider_clause(user), sa.false()))


def public_drill_clause(now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The drills anyone may see at `now`, logged in or not (the public calendars)."""
    return sa.and_(Drill.public.is_(True), not_secret_clause(now))


def drill_clause(user: User, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The drills `user` may see at `now` (the anonymous public: public_drill_clause)."""
    return sa.and_(_drill_scope_clause(user), sa.or_(not_secret_clause(now), drill_insider_clause(user)))


def can_see_series_plan(user: User, series: DrillSeries, now: datetime | None = None) -> bool:
    """The rule and horizon of a recurring drill tell when its next occurrences are. While a
    double-blind occurrence is still ahead — made already, or still to be made from a double-blind
    series — only that drill's insiders may read them."""
    if user.role == Role.ADMIN:
        return True
    now = now or utcnow()
    of_series = Drill.series_id == series.id
    hidden_ahead = (
        db.session.execute(
            sa.select(sa.func.count()).select_from(Drill).where(of_series, secret_from_clause(user, now))
        ).scalar_one()
        > 0
    )
    if hidden_ahead:
        return False
    if not (series.template or {}).get("double_blind"):
        return True
    # Occurrences beyond the horizon are not made yet: an outsider of the made ones is an outsider of those.
    outsider = (
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(Drill)
            .where(of_series, Drill.double_blind.is_(True), _outsider_clause(user))
        ).scalar_one()
        > 0
    )
    return not (outsider and _series_continues(series, now))


def _series_continues(series: DrillSeries, now: datetime) -> bool:
    after = max(now, series.materialized_until or now)
    try:
        ahead = recurrence.iterate(series.rrule, series.dtstart, end=after + timedelta(days=3660), start=after)
        return any(moment > after for moment in islice(ahead, 2))
    except recurrence.RuleError:
        return False


def can_view_drill(user: User, drill: Drill, now: datetime | None = None) -> bool:
    return (
        db.session.execute(
            sa.select(sa.func.count()).select_from(Drill).where(Drill.id == drill.id, drill_clause(user, now))
        ).scalar_one()
        > 0
    )


def get_visible_drill(user: User, drill_id: int, now: datetime | None = None) -> Drill:
    drill = db.session.get(Drill, drill_id)
    if drill is None or not can_view_drill(user, drill, now):
        not_found(_("No such drill."))
    return drill


def can_organise_for(user: User, organizer_org: Organisation | None, organizer_region_code: str | None) -> bool:
    """Whether `user` may plan a drill organised by this organisation or region."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.COORDINATOR:
        region = organizer_org.region_code if organizer_org is not None else organizer_region_code
        return region_in_subtree(region, user.region_code)
    if user.role == Role.ORG_STAFF:
        return organizer_org is not None and organizer_org.id == user.org_id
    return False


def can_plan_drills(user: User) -> bool:
    """Whether `user` may plan any drill at all (whose, can_organise_for decides)."""
    return user.role in (Role.ADMIN, Role.COORDINATOR) or (user.role == Role.ORG_STAFF and user.org_id is not None)


def can_plan_for_many(user: Actor) -> bool:
    """Planning for many units at once (every school of a county): coordinators, inside their region
    (can_manage_region decides which), and admins; never unit staff or viewers."""
    return isinstance(user, User) and user.role in (Role.ADMIN, Role.COORDINATOR)


def can_edit_drill(user: User, drill: Drill) -> bool:
    """Organisers and the coordinators of the drill's region (and admins) change a drill."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.COORDINATOR:
        return region_in_subtree(drill.region_code, user.region_code) or can_organise_for(
            user, drill.organizer_org, drill.organizer_region_code
        )
    if user.role == Role.ORG_STAFF:
        return drill.organizer_org_id == user.org_id
    return False


def can_decide_filing(user: User, drill: Drill) -> bool:
    """Accepting or returning an after-action review is for the region's coordinators and admins."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.COORDINATOR and region_in_subtree(drill.region_code, user.region_code)


def can_reopen_filing(user: User, drill: Drill) -> bool:
    """Reopening a filed review (so that the drill's record can change again) is for the coordinators of
    the drill's region, and admins: the same people who accept a filing."""
    return can_decide_filing(user, drill)


# --- whom a drill may involve ----------------------------------------------------------------


def _own_org_region(user: User) -> sa.ScalarSelect[str]:
    return sa.select(Organisation.region_code).where(Organisation.id == user.org_id).scalar_subquery()


def participant_candidate_clause(user: User) -> sa.ColumnElement[bool]:
    """Organisations `user` may name as participants: their scope; unit staff, the units of their own region."""
    if user.role == Role.ORG_STAFF and user.org_id:
        return Organisation.region_code == _own_org_region(user)
    if user.role == Role.VIEWER:
        return sa.false()
    return org_clause(user)


def evaluator_candidate_clause(user: User) -> sa.ColumnElement[bool]:
    """Users `user` may assign as evaluators: anyone active within the county (or wider scope) they work in.

    Evaluators often come from another unit, so unit staff may pick from their whole county.
    """
    if user.role == Role.ADMIN:
        return User.active.is_(True)
    if user.role == Role.COORDINATOR:
        return sa.and_(User.active.is_(True), user_clause(user))
    if user.role == Role.ORG_STAFF and user.org_id:
        org = db.session.get(Organisation, user.org_id)
        county = org.region.ancestor_codes[:2][-1] if org is not None else None
        if county is None:
            return User.id == user.id
        subtree = subtree_codes(county)
        return sa.and_(
            User.active.is_(True),
            sa.or_(
                User.region_code.in_(subtree),
                User.org_id.in_(sa.select(Organisation.id).where(Organisation.region_code.in_(subtree))),
            ),
        )
    return sa.false()
