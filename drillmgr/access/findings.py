"""Findings and corrective actions."""

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from drillmgr.access.actors import REGIONAL_ROLES, not_found
from drillmgr.access.drills import can_edit_drill, is_secret, secret_from_clause, visible_drill_of
from drillmgr.access.scopes import can_manage_region, subtree_codes
from drillmgr.accounts.models import User
from drillmgr.drills.models import Drill
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.regions.models import Region


# A drill's findings follow the drill (double-blind included); a checklist run's findings
# without a drill follow its organisation or region. Owners see their own actions too, except
# those of a double-blind drill that is still secret from them: ownership never beats secrecy.


def finding_clause(user: User, now: datetime | None = None) -> sa.ColumnElement[bool]:
    if user.role == Role.ADMIN:
        return sa.true()
    of_visible_drill = visible_drill_of(user, Finding.drill_id, now)
    without_drill: sa.ColumnElement[bool]
    if user.role in REGIONAL_ROLES and user.region_code:
        without_drill = Finding.region_code.in_(subtree_codes(user.region_code))
    elif user.role == Role.ORG_STAFF and user.org_id:
        without_drill = Finding.org_id == user.org_id
    else:
        without_drill = sa.false()
    owned = sa.and_(
        Finding.id.in_(sa.select(CorrectiveAction.finding_id).where(CorrectiveAction.owner_id == user.id)),
        sa.or_(
            Finding.drill_id.is_(None),
            Finding.drill_id.not_in(sa.select(Drill.id).where(secret_from_clause(user, now))),
        ),
    )
    return sa.or_(of_visible_drill, sa.and_(Finding.drill_id.is_(None), without_drill), owned)


def can_view_finding(user: User, finding: Finding, now: datetime | None = None) -> bool:
    return (
        db.session.execute(
            sa.select(sa.func.count()).select_from(Finding).where(Finding.id == finding.id, finding_clause(user, now))
        ).scalar_one()
        > 0
    )


def get_visible_finding(user: User, finding_id: int) -> Finding:
    finding = db.session.get(Finding, finding_id)
    if finding is None or not can_view_finding(user, finding):
        not_found()
    return finding


def _can_manage_scope(user: User, region_code: str, org_id: int | None) -> bool:
    if user.role == Role.ORG_STAFF:
        return org_id is not None and user.org_id == org_id
    return can_manage_region(user, region_code)


def can_manage_finding(user: User, finding: Finding) -> bool:
    """Recording and changing findings: whoever may edit the drill (or the checklist's unit or region)."""
    if finding.drill is not None:
        return can_edit_drill(user, finding.drill)
    return _can_manage_scope(user, finding.region_code, finding.org_id)


def can_verify_action(
    user: User, action: CorrectiveAction, may_manage: bool | None = None, may_decide: bool | None = None
) -> bool:
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


def can_add_evidence(user: User, finding: Finding, may_manage: bool | None = None) -> bool:
    """Evidence of the correction comes from its owner, or from whoever manages the finding
    (`may_manage`: can_manage_finding, when the page asked already)."""
    if user.id == finding.corrective_action.owner_id:
        return True
    return can_manage_finding(user, finding) if may_manage is None else may_manage


def can_work_on_action(user: User, action: CorrectiveAction) -> bool:
    """Only the owner moves an action along open → in progress → done."""
    return user.id == action.owner_id


def finding_owner_clause(finding: Finding, now: datetime | None = None) -> sa.ColumnElement[bool]:
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


def action_owner_clause(
    region_code: str, org_ids: Iterable[int], user_ids: Iterable[int] = ()
) -> sa.ColumnElement[bool]:
    """Users who may own a corrective action in this scope: admins, coordinators of a region above
    it, staff of the units concerned and the named users (a drill's evaluators). Never viewers."""
    region_path = sa.select(Region.path).where(Region.code == region_code).scalar_subquery()
    ancestors = sa.select(Region.code).where(region_path.startswith(Region.path, autoescape=False))
    return sa.and_(
        User.active.is_(True),
        User.role != Role.VIEWER,
        sa.or_(
            User.role == Role.ADMIN,
            sa.and_(User.role == Role.COORDINATOR, User.region_code.in_(ancestors)),
            sa.and_(User.role == Role.ORG_STAFF, User.org_id.in_(list(org_ids))),
            User.id.in_(list(user_ids)),
        ),
    )
