"""Who may see and do what. Every view, API handler, feed and job asks here, and nowhere else.

Scopes: an admin sees everything; a coordinator or viewer sees their region's subtree; unit
staff see their own organisation. A double-blind drill before its start is hidden from everyone
but its organiser, its evaluators, coordinators of its region and admins.
"""
from datetime import datetime, timedelta
from itertools import islice
from typing import NoReturn

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill, drill_evaluators, drill_participants
from drillmgr.enums import RegionLevel, Role
from drillmgr.errors import Forbidden, NotFound
from drillmgr.extensions import db
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

class SystemActor:
    """The scheduler's jobs and the command line: they act for the whole prefecture, with no user behind them.
    Features pass it on as the actor; only this module decides what it may do."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()
Actor = User | SystemActor

ROLE_POWER = {Role.ADMIN: 3, Role.COORDINATOR: 2, Role.ORG_STAFF: 1, Role.VIEWER: 1}
REGIONAL_ROLES = (Role.COORDINATOR, Role.VIEWER)


def deny(message: str | None = None) -> NoReturn:
    raise Forbidden(message or _("You are not allowed to do this."))


def not_found(message: str | None = None) -> NoReturn:
    raise NotFound(message or _("Not found."))


# --- regions ---------------------------------------------------------------------------------

def subtree_codes(region_code: str | None) -> sa.Select:
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


def region_clause(user: User, column) -> sa.ColumnElement[bool]:
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
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Region)
        .where(Region.code == region_code, region_clause(user, Region.code))
    ).scalar_one() > 0


def acts_for_all(actor: Actor) -> bool:
    """SYSTEM (jobs, commands) and admins act for the whole prefecture."""
    return isinstance(actor, SystemActor) or actor.role == Role.ADMIN


def can_manage_region(user: Actor, region_code: str) -> bool:
    """Coordinators act for their region's subtree; admins and SYSTEM for all."""
    if acts_for_all(user):
        return True
    assert isinstance(user, User)
    return user.role == Role.COORDINATOR and region_in_subtree(region_code, user.region_code)


def manage_region_clause(user: User, column) -> sa.ColumnElement[bool]:
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
    return db.session.execute(
        sa.select(sa.func.count()).select_from(User).where(User.id == target.id, user_clause(actor))
    ).scalar_one() > 0


def can_grant(actor: Actor, role: Role, region_code: str | None, org: Organisation | None) -> bool:
    """Whether `actor` may give someone this role and scope: never more power than their own (SYSTEM: any)."""
    if acts_for_all(actor):
        return True
    assert isinstance(actor, User)
    if actor.role != Role.COORDINATOR or ROLE_POWER[role] > ROLE_POWER[actor.role]:
        return False
    scope_region = org.region_code if org is not None else region_code
    return region_in_subtree(scope_region, actor.region_code)


def can_manage_people_and_units(user: User) -> bool:
    """Managing users and organisations is for admins, and for coordinators inside their region."""
    return user.role in (Role.ADMIN, Role.COORDINATOR)


def can_manage_user(actor: User, target: User) -> bool:
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.COORDINATOR or target.id == actor.id:
        return False
    return can_grant(actor, target.role, target.region_code, target.org) and can_view_user(actor, target)


# --- drills ----------------------------------------------------------------------------------

def _is_evaluator(user: User):
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
            _is_evaluator(user),
        )
    if user.role == Role.ORG_STAFF:
        return sa.or_(
            Drill.organizer_org_id == user.org_id,
            Drill.id.in_(sa.select(drill_participants.c.drill_id).where(drill_participants.c.org_id == user.org_id)),
            _is_evaluator(user),
        )
    return sa.false()


def _drill_insider_clause(user: User) -> sa.ColumnElement[bool]:
    """Who may see a double-blind drill before it starts: organiser, evaluators, coordinators, admins."""
    if user.role == Role.ADMIN:
        return sa.true()
    if user.role == Role.COORDINATOR:
        subtree = subtree_codes(user.region_code)
        return sa.or_(
            Drill.region_code.in_(subtree), Drill.organizer_region_code.in_(subtree), _is_evaluator(user)
        )
    if user.role == Role.ORG_STAFF:
        return sa.or_(Drill.organizer_org_id == user.org_id, _is_evaluator(user))
    return _is_evaluator(user)


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
    return sa.not_(sa.func.coalesce(_drill_insider_clause(user), sa.false()))


def public_drill_clause(now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The drills anyone may see at `now`, logged in or not (the public calendars)."""
    return sa.and_(Drill.public.is_(True), not_secret_clause(now))


def drill_clause(user: User | None, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The drills `user` may see at `now`; None is the anonymous public (public_drill_clause)."""
    if user is None:
        return public_drill_clause(now)
    return sa.and_(_drill_scope_clause(user), sa.or_(not_secret_clause(now), _drill_insider_clause(user)))


def can_see_series_plan(user: User, series, now: datetime | None = None) -> bool:
    """The rule and horizon of a recurring drill tell when its next occurrences are. While a
    double-blind occurrence is still ahead — made already, or still to be made from a double-blind
    series — only that drill's insiders may read them."""
    if user.role == Role.ADMIN:
        return True
    now = now or utcnow()
    of_series = Drill.series_id == series.id
    hidden_ahead = db.session.execute(sa.select(sa.func.count()).select_from(Drill).where(
        of_series, secret_from_clause(user, now))).scalar_one() > 0
    if hidden_ahead:
        return False
    if not (series.template or {}).get("double_blind"):
        return True
    # Occurrences beyond the horizon are not made yet: an outsider of the made ones is an outsider of those.
    outsider = db.session.execute(sa.select(sa.func.count()).select_from(Drill).where(
        of_series, Drill.double_blind.is_(True), _outsider_clause(user))).scalar_one() > 0
    return not (outsider and _series_continues(series, now))


def _series_continues(series, now: datetime) -> bool:
    from drillmgr.drills import recurrence

    after = max(now, series.materialized_until or now)
    try:
        ahead = recurrence.iterate(series.rrule, series.dtstart, end=after + timedelta(days=3660), start=after)
        return any(moment > after for moment in islice(ahead, 2))
    except recurrence.RuleError:
        return False


def can_view_drill(user: User | None, drill: Drill, now: datetime | None = None) -> bool:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Drill).where(Drill.id == drill.id, drill_clause(user, now))
    ).scalar_one() > 0


def get_visible_drill(user: User | None, drill_id: int, now: datetime | None = None) -> Drill:
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


def can_plan_for_many(user: Actor | None) -> bool:
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


def require(allowed: bool, message: str | None = None) -> None:
    if not allowed:
        deny(message)


# --- drills feature: whom a drill may involve ---------------------------------------------

def _own_org_region(user: User):
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
        return sa.and_(User.active.is_(True), sa.or_(
            User.region_code.in_(subtree),
            User.org_id.in_(sa.select(Organisation.id).where(Organisation.region_code.in_(subtree))),
        ))
    return sa.false()


# --- public education (outreach) and readiness checklists ---------------------------------------
# Unit staff see and record their own unit's activities and checklist runs; coordinators and viewers
# see their region's subtree, coordinators act in it; admins do everything; viewers never change.

def outreach_clause(user: User):
    from drillmgr.outreach.models import OutreachActivity

    if user.role == Role.ORG_STAFF:
        return OutreachActivity.organizer_org_id == user.org_id if user.org_id else sa.false()
    return region_clause(user, OutreachActivity.region_code)


def can_view_outreach(user: User, activity) -> bool:
    if user.role == Role.ORG_STAFF:
        return user.org_id is not None and activity.organizer_org_id == user.org_id
    return user.role == Role.ADMIN or region_in_subtree(activity.region_code, user.region_code)


def can_record_outreach(user: User, region_code: str, organizer_org: Organisation | None) -> bool:
    """Staff record their own unit's activities, held in its region or below; coordinators in their subtree."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.COORDINATOR:
        return region_in_subtree(region_code, user.region_code) and (
            organizer_org is None or region_in_subtree(organizer_org.region_code, user.region_code))
    if user.role == Role.ORG_STAFF:
        return (organizer_org is not None and organizer_org.id == user.org_id
                and region_in_subtree(region_code, organizer_org.region_code))
    return False


def can_edit_outreach(user: User, activity) -> bool:
    organizer = db.session.get(Organisation, activity.organizer_org_id) if activity.organizer_org_id else None
    return can_record_outreach(user, activity.region_code, organizer)


def site_clause(user: User):
    from drillmgr.outreach.models import DemonstrationSite

    if user.role == Role.ORG_STAFF:
        return DemonstrationSite.org_id == user.org_id if user.org_id else sa.false()
    return region_clause(user, DemonstrationSite.region_code)


def can_view_site(user: User, site) -> bool:
    if user.role == Role.ORG_STAFF:
        return user.org_id is not None and site.org_id == user.org_id
    return user.role == Role.ADMIN or region_in_subtree(site.region_code, user.region_code)


def can_manage_sites(user: User, region_code: str) -> bool:
    """Demonstration sites are created and recognised by coordinators (their subtree) and admins."""
    return can_manage_region(user, region_code)


def checklist_run_clause(user: User, now: datetime | None = None):
    """Runs in scope; a pre-drill run is never shown to someone who may not see its drill (double-blind)."""
    from drillmgr.checklists.models import ChecklistRun

    if user.role == Role.ORG_STAFF:
        scope = ChecklistRun.org_id == user.org_id if user.org_id else sa.false()
    else:
        scope = region_clause(user, ChecklistRun.region_code)
    drill_visible = sa.or_(ChecklistRun.drill_id.is_(None),
                           ChecklistRun.drill_id.in_(sa.select(Drill.id).where(drill_clause(user, now))))
    return sa.and_(scope, drill_visible)


def can_view_checklist_run(user: User, run, now: datetime | None = None) -> bool:
    from drillmgr.checklists.models import ChecklistRun

    return db.session.execute(sa.select(sa.func.count()).select_from(ChecklistRun).where(
        ChecklistRun.id == run.id, checklist_run_clause(user, now))).scalar_one() > 0


def can_fill_checklist_run(user: User, run) -> bool:
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


# --- findings and corrective actions ---------------------------------------------------------
# A drill's findings follow the drill (double-blind included); a checklist run's findings
# without a drill follow its organisation or region. Owners see their own actions too, except
# those of a double-blind drill that is still secret from them: ownership never beats secrecy.

def _findings_models():
    from drillmgr.findings.models import CorrectiveAction, Finding

    return Finding, CorrectiveAction


def finding_clause(user: User, now: datetime | None = None) -> sa.ColumnElement[bool]:
    if user.role == Role.ADMIN:
        return sa.true()
    Finding, CorrectiveAction = _findings_models()
    of_visible_drill = Finding.drill_id.in_(sa.select(Drill.id).where(drill_clause(user, now)))
    if user.role in REGIONAL_ROLES and user.region_code:
        without_drill = Finding.region_code.in_(subtree_codes(user.region_code))
    elif user.role == Role.ORG_STAFF and user.org_id:
        without_drill = Finding.org_id == user.org_id
    else:
        without_drill = sa.false()
    owned = sa.and_(
        Finding.id.in_(sa.select(CorrectiveAction.finding_id).where(CorrectiveAction.owner_id == user.id)),
        sa.or_(Finding.drill_id.is_(None),
               Finding.drill_id.not_in(sa.select(Drill.id).where(secret_from_clause(user, now)))))
    return sa.or_(of_visible_drill, sa.and_(Finding.drill_id.is_(None), without_drill), owned)


def can_view_finding(user: User, finding, now: datetime | None = None) -> bool:
    Finding, _action = _findings_models()
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Finding).where(Finding.id == finding.id, finding_clause(user, now))
    ).scalar_one() > 0


def get_visible_finding(user: User, finding_id: int):
    Finding, _action = _findings_models()
    finding = db.session.get(Finding, finding_id)
    if finding is None or not can_view_finding(user, finding):
        not_found()
    return finding


def _can_manage_scope(user: User, region_code: str, org_id: int | None) -> bool:
    if user.role == Role.ORG_STAFF:
        return org_id is not None and user.org_id == org_id
    return can_manage_region(user, region_code)


def can_manage_finding(user: User, finding) -> bool:
    """Recording and changing findings: whoever may edit the drill (or the checklist's unit or region)."""
    if finding.drill_id is not None:
        return can_edit_drill(user, finding.drill)
    return _can_manage_scope(user, finding.region_code, finding.org_id)


def can_verify_action(user: User, action, may_manage: bool | None = None,
                      may_decide: bool | None = None) -> bool:
    """Dynamic close-out (动态销号): someone other than the owner who manages the finding or
    coordinates its region. The two flags let a page that shows many actions of one drill ask once."""
    if user.id == action.owner_id:
        return False
    finding = action.finding
    if may_manage is None:
        may_manage = can_manage_finding(user, finding)
    if may_decide is None:
        may_decide = can_manage_region(user, finding.region_code)
    return may_manage or may_decide


def can_add_evidence(user: User, finding, may_manage: bool | None = None) -> bool:
    """Evidence of the correction comes from its owner, or from whoever manages the finding
    (`may_manage`: can_manage_finding, when the page asked already)."""
    if user.id == finding.corrective_action.owner_id:
        return True
    return can_manage_finding(user, finding) if may_manage is None else may_manage


def can_work_on_action(user: User, action) -> bool:
    """Only the owner moves an action along open → in progress → done."""
    return user.id == action.owner_id


def finding_owner_clause(finding, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """Users who may own the corrective action of `finding`. A drill's: staff of its organiser and
    participants, its evaluators, coordinators above it and admins — but before a double-blind drill
    starts only its insiders, since owning an action tells of its drill."""
    if finding.drill_id is None:
        return action_owner_clause(finding.region_code, [finding.org_id] if finding.org_id else [])
    drill = finding.drill or db.session.get(Drill, finding.drill_id)
    assert drill is not None  # finding.drill_id is a foreign key
    org_ids = [drill.organizer_org_id] if drill.organizer_org_id else []
    if not is_secret(drill, now):
        org_ids += [o.id for o in drill.participants]
    return action_owner_clause(finding.region_code, org_ids, [u.id for u in drill.evaluators])


def action_owner_clause(region_code: str, org_ids, user_ids=()) -> sa.ColumnElement[bool]:
    """Users who may own a corrective action in this scope: admins, coordinators of a region above
    it, staff of the units concerned and the named users (a drill's evaluators). Never viewers."""
    region_path = sa.select(Region.path).where(Region.code == region_code).scalar_subquery()
    ancestors = sa.select(Region.code).where(region_path.startswith(Region.path, autoescape=False))
    return sa.and_(User.active.is_(True), User.role != Role.VIEWER, sa.or_(
        User.role == Role.ADMIN,
        sa.and_(User.role == Role.COORDINATOR, User.region_code.in_(ancestors)),
        sa.and_(User.role == Role.ORG_STAFF, User.org_id.in_(list(org_ids))),
        User.id.in_(list(user_ids)),
    ))


# --- compliance ------------------------------------------------------------------------------

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
    return None if user.role == Role.ADMIN else user.region_code


def compliance_drill_clause(user: Actor | None, now: datetime | None = None) -> sa.ColumnElement[bool]:
    """The drills compliance may count for `user`. Subjects are already limited to the user's
    region, and a unit is credited with drills held elsewhere that it took part in; what must never
    show (in a status or its evidence) is a double-blind drill before it starts to someone who is not
    an insider of it. System jobs (SYSTEM) and admins count everything."""
    if user is None or isinstance(user, SystemActor) or user.role == Role.ADMIN:
        return sa.true()
    return sa.or_(not_secret_clause(now), _drill_insider_clause(user))


def can_edit_compliance_rules(user: User) -> bool:
    return user.role == Role.ADMIN


def can_submit_half_year_report(user: User, region: Region) -> bool:
    """A county's report is submitted by a coordinator acting for that county; the prefecture decides."""
    return (user.role == Role.COORDINATOR and region.level == RegionLevel.COUNTY
            and can_manage_region(user, region.code))


def can_decide_half_year_report(user: User) -> bool:
    return user.role == Role.ADMIN


def can_send_reminders(user: User) -> bool:
    return user.role in (Role.ADMIN, Role.COORDINATOR)


def can_remind_org(user: User, org: Organisation) -> bool:
    """Coordinators remind the units of their region; admins any unit."""
    return can_send_reminders(user) and can_manage_region(user, org.region_code)


# --- calendar feeds --------------------------------------------------------------------------
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


def feed_own_drills(user: User) -> sa.ColumnElement[bool]:
    """What a user takes part in: their unit's drills, those they evaluate, and a coordinator's region."""
    parts = [_is_evaluator(user), Drill.created_by_id == user.id]
    if user.org_id:
        parts.append(feed_org_drills(user.org_id))
    if user.role == Role.COORDINATOR and user.region_code:
        parts.append(feed_region_drills(user.region_code))
    return sa.or_(*parts)


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
            sa.select(Region.code).where(Region.parent_code.is_(None)).order_by(Region.code).limit(1))
    return user.region_code


def feed_shows_report_deadlines(user: User) -> bool:
    """The half-year report deadlines concern those who file a region's report: its coordinators and
    admins. Asked only about a region feed the user may have (can_subscribe_region), so for a
    coordinator the region lies in their subtree."""
    return user.role in (Role.ADMIN, Role.COORDINATOR)


# --- notifications and the scheduler's record ------------------------------------------------

def notification_clause(user: User) -> sa.ColumnElement[bool]:
    """Everyone sees their own notifications, and nobody else's."""
    from drillmgr.notifications.models import Notification

    return Notification.user_id == user.id


def can_view_job_runs(user: User) -> bool:
    """The scheduler's runs and the mail outbox are for the prefecture's administrators."""
    return user.role == Role.ADMIN


# --- exercises (objectives, MSEL, live session, evaluation, feedback) ---------------------------
# The design of an exercise (objectives, the MSEL of injects, expected actions) is for whoever may edit
# the drill — they control it live — and for its evaluators; nobody else ever reads an inject before the
# controller releases it. Before the live session starts its players see nothing of the exercise at all
# (and of a double-blind drill, nothing of the drill: drill_clause); once it runs, whoever may see the drill
# sees the released injects, and staff of the participating units answer them.

def can_design_exercise(user: User, drill: Drill) -> bool:
    """Objectives, injects, the MSEL, the console and the report: the drill's organisers (can_edit_drill)."""
    return can_edit_drill(user, drill)


def is_drill_evaluator(user: User, drill: Drill) -> bool:
    return any(evaluator.id == user.id for evaluator in drill.evaluators)


def can_see_exercise_design(user: User, drill: Drill) -> bool:
    """The whole design, unreleased injects and expected actions included: organisers and evaluators."""
    return can_design_exercise(user, drill) or is_drill_evaluator(user, drill)


def can_view_live_exercise(user: User, drill: Drill, session, now: datetime | None = None) -> bool:
    """The released injects: once the live session has started, for whoever may see the drill (which a
    double-blind drill's players may only from its start); the design's insiders always."""
    if not can_view_drill(user, drill, now):
        return False
    return can_see_exercise_design(user, drill) or session is not None


def can_respond_to_injects(user: User, drill: Drill) -> bool:
    """Players: staff of a unit taking part in the drill."""
    return (user.role == Role.ORG_STAFF and user.org_id is not None
            and any(org.id == user.org_id for org in drill.participants))


def can_evaluate_exercise(user: User, drill: Drill) -> bool:
    """Exercise evaluation guides are filled by the drill's assigned evaluators."""
    return is_drill_evaluator(user, drill)


def can_edit_objective_templates(user: User) -> bool:
    """The typical objectives per focus link are the prefecture's: admins edit them."""
    return user.role == Role.ADMIN
