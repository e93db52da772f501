"""The scheduler's reminder jobs: drills coming up, corrective actions due, and units whose periods end
with nothing planned or whose drills passed unrecorded.

They look at windows ("starts within 7 days") rather than exact days, so a run missed while no
scheduler was up is made good by the next one; what they send carries a dedupe key.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.compliance import nudges
from drillmgr.drills.models import Drill
from drillmgr.enums import ActionStatus, DrillStatus, Role
from drillmgr.extensions import db
from drillmgr.i18n import gettext as _
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.formatting import local_date, local_datetime
from drillmgr.localtime import local_today
from drillmgr.notifications.services import Kind, Message, drill_reminder_key, link_to, notify_many

DRILL_REMINDER_DAYS = (7, 1)
ACTION_DUE_SOON_DAYS = 3
# Recipients whose visibility is checked in one statement; keeps the UNION below SQLite's limit of 500.
RECIPIENTS_PER_QUERY = 100


def _locale(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


# --- drill reminders -------------------------------------------------------------------------


def _reminder_pairs(recipients: list[User], candidates: dict[int, set[int]], moment: datetime) -> list[tuple[int, int]]:
    """(user id, drill id) for the drills among each recipient's candidates that they may see now.

    Visibility is access.drill_clause for each recipient — so a double-blind drill never reaches its
    participants — in one UNION per slice of recipients, however many drills there are.
    """
    pairs = []
    for start in range(0, len(recipients), RECIPIENTS_PER_QUERY):
        selects = [
            sa.select(sa.literal(user.id).label("user_id"), Drill.id.label("drill_id")).where(
                Drill.id.in_(sorted(candidates[user.id])), access.drill_clause(user, moment)
            )
            for user in recipients[start : start + RECIPIENTS_PER_QUERY]
        ]
        pairs += [tuple(row) for row in db.session.execute(sa.union_all(*selects))]
    return pairs


def reminder_targets(moment: datetime) -> tuple[dict[int, Drill], dict[int, User], list[tuple[int, int]]]:
    """The drills within the reminder windows, who is reminded of them and the (user, drill) pairs.

    Reminded are the staff of a drill's organising and participating units, the coordinators of the
    region that organises it and its evaluators — among them, those who may see the drill now.
    """
    drills = _upcoming_drills(moment)
    if not drills:
        return {}, {}, []
    by_org, by_region, by_evaluator = _drill_audiences(list(drills.values()))
    recipients = _recipients(list(by_org), list(by_region), list(by_evaluator))
    candidates = {
        user.id: by_evaluator[user.id]
        | (
            by_org[user.org_id]
            if user.role == Role.ORG_STAFF
            else by_region[user.region_code]
            if user.role == Role.COORDINATOR
            else set()
        )
        for user in recipients
    }
    return drills, {u.id: u for u in recipients}, _reminder_pairs(recipients, candidates, moment)


def _upcoming_drills(moment: datetime) -> dict[int, Drill]:
    horizon = moment + timedelta(days=max(DRILL_REMINDER_DAYS))
    return {
        d.id: d
        for d in db.session.scalars(
            sa.select(Drill)
            .where(Drill.status == DrillStatus.PLANNED, Drill.starts_at > moment, Drill.starts_at <= horizon)
            .options(
                selectinload(Drill.organizer_org),
                selectinload(Drill.organizer_region),
                selectinload(Drill.participants),
                selectinload(Drill.evaluators),
            )
        )
    }


def _drill_audiences(
    drills: list[Drill],
) -> tuple[defaultdict[int | None, set[int]], defaultdict[str | None, set[int]], defaultdict[int, set[int]]]:
    """The ids of the drills each unit, organising region and evaluator is concerned by."""
    by_org: defaultdict[int | None, set[int]] = defaultdict(set)
    by_region: defaultdict[str | None, set[int]] = defaultdict(set)
    by_evaluator: defaultdict[int, set[int]] = defaultdict(set)
    for drill in drills:
        if drill.organizer_org_id is not None:
            by_org[drill.organizer_org_id].add(drill.id)
        else:
            by_region[drill.organizer_region_code].add(drill.id)
        for org in drill.participants:
            by_org[org.id].add(drill.id)
        for evaluator in drill.evaluators:
            by_evaluator[evaluator.id].add(drill.id)
    return by_org, by_region, by_evaluator


def _recipients(org_ids: list[int | None], region_codes: list[str | None], evaluator_ids: list[int]) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.active.is_(True),
                sa.or_(
                    sa.and_(User.role == Role.ORG_STAFF, User.org_id.in_(org_ids)),
                    sa.and_(User.role == Role.COORDINATOR, User.region_code.in_(region_codes)),
                    User.id.in_(evaluator_ids),
                ),
            )
            .order_by(User.id)
        )
    )


def _drill_headline(drill: Drill, days_left: int) -> tuple[str, str]:
    """The subject and first line of a drill's reminder, `days_left` before it (in the current locale)."""
    start = local_datetime(drill.starts_at)
    if days_left == 0:
        return (
            _("Drill today: %(title)s at %(start)s", title=drill.title, start=start),
            _("%(title)s (%(form)s) takes place today.", title=drill.title, form=drill.form.label),
        )
    if days_left == 1:
        return (
            _("Drill tomorrow: %(title)s on %(start)s", title=drill.title, start=start),
            _("%(title)s (%(form)s) takes place tomorrow.", title=drill.title, form=drill.form.label),
        )
    return (
        _("Drill in %(days)d days: %(title)s on %(start)s", days=days_left, title=drill.title, start=start),
        _(
            "%(title)s (%(form)s) takes place in %(days)d days.",
            title=drill.title,
            form=drill.form.label,
            days=days_left,
        ),
    )


def _drill_reminder(user: User, drill: Drill, days_before: int, moment: datetime) -> Message:
    days_left = (local_today(drill.starts_at) - local_today(moment)).days
    with force_locale(_locale(user)):
        subject, when = _drill_headline(drill, days_left)
        lines = [
            when,
            _("Start: %(start)s (Beijing time)", start=local_datetime(drill.starts_at)),
            _("Organiser: %(name)s", name=drill.organizer_name),
        ]
        if drill.location:
            lines.append(_("Location: %(place)s", place=drill.location))
        return Message(
            user,
            Kind.DRILL_REMINDER,
            subject,
            "\n".join(lines),
            link_to("drills.detail", drill_id=drill.id),
            drill_reminder_key(drill, days_before, user),
        )


def drill_reminders(moment: datetime) -> str:
    """Reminds units 7 days and 1 day before their drills (within those windows, once each)."""
    drills, users, pairs = reminder_targets(moment)
    if not drills:
        return _("No drills within the reminder windows.")
    messages = []
    for user_id, drill_id in pairs:
        drill = drills[drill_id]
        days_before = min(d for d in DRILL_REMINDER_DAYS if drill.starts_at <= moment + timedelta(days=d))
        messages.append(_drill_reminder(users[user_id], drill, days_before, moment))
    added = notify_many(messages)
    return _("%(drills)d upcoming drills, %(sent)d reminders sent.", drills=len(drills), sent=len(added))


# --- corrective actions ----------------------------------------------------------------------


def action_reminders(moment: datetime) -> str:
    """Owners of open corrective actions: once when due within 3 days, then weekly while overdue."""
    today = local_today(moment)
    actions = _actions_to_chase(today, moment)
    link = link_to("findings.actions")
    added = notify_many([_action_reminder(action, today, link) for action in actions])
    return _(
        "%(actions)d corrective actions due or overdue, %(sent)d reminders sent.", actions=len(actions), sent=len(added)
    )


def _actions_to_chase(today: date, moment: datetime) -> list[CorrectiveAction]:
    actions = db.session.scalars(
        sa.select(CorrectiveAction)
        .where(
            CorrectiveAction.status.in_((ActionStatus.OPEN, ActionStatus.IN_PROGRESS)),
            CorrectiveAction.due_on <= today + timedelta(days=ACTION_DUE_SOON_DAYS),
        )
        .options(
            selectinload(CorrectiveAction.owner), selectinload(CorrectiveAction.finding).selectinload(Finding.drill)
        )
        .order_by(CorrectiveAction.due_on, CorrectiveAction.id)
    ).all()
    # An owner is never reminded of a double-blind drill that is still secret from them.
    return [
        a
        for a in actions
        if a.finding.drill is None
        or not access.is_secret(a.finding.drill, moment)
        or access.can_view_finding(a.owner, a.finding, moment)
    ]


def _action_reminder(action: CorrectiveAction, today: date, link: str) -> Message:
    owner = action.owner
    with force_locale(_locale(owner)):
        details = "\n".join(
            [
                _("Finding: %(summary)s", summary=action.finding.summary),
                _("Corrective action: %(text)s", text=action.description),
                _("Due on %(date)s", date=local_date(action.due_on)),
            ]
        )
        if action.due_on >= today:
            subject = _("Corrective action due on %(date)s", date=local_date(action.due_on))
            key = f"{Kind.ACTION_DUE}:{action.id}:{action.due_on}:{owner.id}"
            return Message(owner, Kind.ACTION_DUE, subject, details, link, key)
        overdue = (today - action.due_on).days
        subject = _("Corrective action overdue by %(days)d days", days=overdue)
        key = f"{Kind.ACTION_OVERDUE}:{action.id}:{action.due_on}:week{overdue // 7}:{owner.id}"
        return Message(owner, Kind.ACTION_OVERDUE, subject, details, link, key)


# --- units: nothing planned, a drill to record ----------------------------------------------


def nothing_planned_reminders(moment: datetime) -> str:
    """Unit staff, once per rule and period, when it ends soon with nothing planned that would meet it."""
    slots, sent = nudges.nothing_planned(access.SYSTEM, moment)
    return _("%(slots)d periods ending with nothing planned, %(sent)d reminders sent.", slots=slots, sent=sent)


def record_reminders(moment: datetime) -> str:
    """The day after a planned drill passed unrecorded, its organisers are asked to record it (once)."""
    drills, sent = nudges.record_reminders(moment)
    return _("%(drills)d past drills not recorded, %(sent)d reminders sent.", drills=drills, sent=sent)
