"""Reminders that reach a unit's staff: a coordinator's nudge, and the automatic ones when a period is
about to end with nothing planned or a planned drill passed without its record.

Everything goes through the notifications outbox (in-app and mail). A coordinator reminds a unit at
most once per rule per day (Beijing time): the dedupe keys carry the unit, the rule and the day, so a
second reminder that day — from anyone, or a double click — finds the keys taken and sends nothing.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit.services import record
from drillmgr.compliance.labels import missing_label, period_label
from drillmgr.compliance.rules import ensure_rules, rule_title
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.results import SubjectResult
from drillmgr.compliance.schemas import MAX_UNITS, ReminderSchema
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.enums import ComplianceStatus, DrillStatus, Role
from drillmgr.errors import ValidationError
from drillmgr.extensions import db
from drillmgr.formatting import local_date, local_datetime
from drillmgr.localtime import local_midnight, local_today
from drillmgr.notifications.models import Notification
from drillmgr.notifications.services import Kind, Message, link_to, notify_many
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.regions.services import all_regions
from drillmgr.validation import parse_id

GENERAL = "general"  # the rule part of a reminder's key when no rule is named
RECORD_WINDOW_DAYS = 7  # a drill still "just ended" this long after its day
TO_RECORD_LISTED = 10


@dataclass
class Outcome:
    reminded: list[int] = field(default_factory=list)
    already_reminded: list[int] = field(default_factory=list)
    without_staff: list[int] = field(default_factory=list)
    notifications: int = 0


def _locale(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


def _staff(org_ids: Collection[int]) -> dict[int, list[User]]:
    """The active staff of each unit."""
    staff: dict[int, list[User]] = {org_id: [] for org_id in org_ids}
    for org_id, user in db.session.execute(
        sa.select(User.org_id, User)
        .where(User.active.is_(True), User.role == Role.ORG_STAFF, User.org_id.in_(list(org_ids)))
        .order_by(User.id)
    ).tuples():
        if org_id is not None:
            staff[org_id].append(user)
    return staff


def _coordinators(region_codes: Collection[str]) -> dict[str, list[User]]:
    """The active coordinators of each region."""
    coordinators: dict[str, list[User]] = {code: [] for code in region_codes}
    for code, user in db.session.execute(
        sa.select(User.region_code, User).where(
            User.active.is_(True), User.role == Role.COORDINATOR, User.region_code.in_(list(region_codes))
        )
    ).tuples():
        if code is not None:
            coordinators[code].append(user)
    return coordinators


def _reminded_today(rule_part: str, org_ids: Collection[int], today: date) -> set[int]:
    """The units already reminded of the rule today (their keys: kind:rule:org:day:user)."""
    # "_" matches any one character: a superset, narrowed by the exact comparison below.
    keys = db.session.scalars(
        sa.select(Notification.dedupe_key).where(
            Notification.kind == Kind.UNIT_REMINDER,
            Notification.dedupe_key.like(f"{Kind.UNIT_REMINDER}:{rule_part}:%:{today}:%"),
        )
    )
    wanted, day = set(org_ids), str(today)
    return {
        org_id
        for parts in (key.split(":") for key in keys)
        if len(parts) == 5 and parts[1] == rule_part and parts[3] == day and (org_id := parse_id(parts[2])) in wanted
    }


def clean_message(message: str | None) -> str:
    text: str = ReminderSchema(only=("message",)).load({"message": message} if message else {}).get("message", "")
    return text


def remind_units(
    user: User, org_ids: list[int], rule_key: str | None = None, message: str = "", now: datetime | None = None
) -> Outcome:
    """Reminds the staff of each unit, with the rule's status and what is missing, and the message."""
    now = now or utcnow()
    message = clean_message(message)
    org_ids = list(dict.fromkeys(org_ids))
    if not org_ids:
        raise ValidationError(_("Choose at least one unit."), {"org_ids": [_("Choose at least one unit.")]})
    if len(org_ids) > MAX_UNITS:
        raise ValidationError(
            _("At most %(n)d units at once.", n=MAX_UNITS),
            {"org_ids": [_("At most %(n)d units at once.", n=MAX_UNITS)]},
        )
    today = local_today(now)
    rule = None
    if rule_key:
        rule = next((r for r in ensure_rules(today.year) if r.key == rule_key), None)
        if rule is None:
            raise ValidationError(_("No such rule."), {"rule": [_("No such rule.")]})
    orgs = {org.id: org for org in db.session.scalars(sa.select(Organisation).where(Organisation.id.in_(org_ids)))}
    for org_id in org_ids:
        org = orgs.get(org_id)
        if org is None or not access.can_view_org(user, org):
            access.not_found(_("No such unit."))
        access.require(access.can_remind_org(user, org))
    results = _statuses(user, rule, org_ids, now) if rule is not None else {}
    prefixes = {org_id: f"{Kind.UNIT_REMINDER}:{rule_key or GENERAL}:{org_id}:{today}:" for org_id in org_ids}
    taken = _reminded_today(rule_key or GENERAL, org_ids, today)
    staff = _staff(org_ids)
    outcome, messages = Outcome(), []
    for org_id in org_ids:
        if org_id in taken:
            outcome.already_reminded.append(org_id)
            continue
        if not staff[org_id]:
            outcome.without_staff.append(org_id)
            continue
        outcome.reminded.append(org_id)
        for member in staff[org_id]:
            messages.append(
                _nudge(
                    member,
                    user,
                    orgs[org_id],
                    rule,
                    results.get(str(org_id)),
                    message,
                    prefixes[org_id] + str(member.id),
                )
            )
    try:
        with db.session.begin_nested():
            for org_id in outcome.reminded:
                record(user, "remind", "organisation", org_id, after={"rule": rule_key or None, "message": message})
            outcome.notifications = len(notify_many(messages))
    except IntegrityError:  # the same reminder, sent at the same moment by another request
        return Outcome(already_reminded=org_ids)
    return outcome


def _statuses(user: User, rule: ComplianceRule, org_ids: list[int], now: datetime) -> dict[str, SubjectResult]:
    return {
        r.subject_id: r
        for rule_result in evaluate(rule.year, actor=user, now=now, rule_keys=[rule.key])
        for r in rule_result.results
        if r.subject_type == "org" and int(r.subject_id) in org_ids
    }


def _nudge(
    member: User,
    sender: User,
    org: Organisation,
    rule: ComplianceRule | None,
    result: SubjectResult | None,
    message: str,
    key: str,
) -> Message:
    with force_locale(_locale(member)):
        if rule is not None:
            title = rule_title(rule)
            subject = _("Reminder: %(rule)s", rule=title)
            lines = [_("%(who)s reminds %(unit)s of “%(rule)s”.", who=sender.username, unit=org.name, rule=title)]
            if result is not None:
                lines.append(_("Status: %(status)s", status=result.status.label))
                if result.missing and result.status is not ComplianceStatus.MET:
                    lines.append(_("Missing: %(items)s", items="; ".join(missing_label(m) for m in result.missing)))
        else:
            subject = _("Reminder from %(who)s", who=sender.username)
            lines = [_("%(who)s sent %(unit)s a reminder.", who=sender.username, unit=org.name)]
        if message:
            lines.append(message)
        return Message(member, Kind.UNIT_REMINDER, subject, "\n".join(lines), link_to("home.index"), key)


def matching_units(
    user: User, rule_key: str, region_code: str | None, statuses: Iterable[str], now: datetime | None = None
) -> list[int]:
    """The units of the region (default: the user's) whose status for the rule is one of `statuses`."""
    now = now or utcnow()
    year = local_today(now).year
    if not any(r.key == rule_key for r in ensure_rules(year)):
        raise ValidationError(_("No such rule."), {"rule": [_("No such rule.")]})
    region_code = region_code or access.compliance_home_region(user)
    access.require(access.can_view_compliance(user, region_code))
    wanted = {ComplianceStatus(s) for s in statuses}
    return [
        int(r.subject_id)
        for rule_result in evaluate(year, region_code, actor=user, now=now, rule_keys=[rule_key])
        for r in rule_result.results
        if r.subject_type == "org" and r.status in wanted
    ]


# --- automatic reminders (scheduler jobs) ----------------------------------------------------------


def nothing_planned(actor: access.Actor, moment: datetime) -> tuple[int, int]:
    """Unit staff, once per rule and period, when the period ends within the rule's warning window and
    nothing that would meet it (as `actor` counts) is planned: the engine's at-risk slot. Returns (slots, sent)."""
    year = local_today(moment).year
    at_risk = []
    for rule_result in evaluate(year, actor=actor, now=moment, evidence=False):
        if rule_result.subject != "org":
            continue
        for result in rule_result.results:
            for slot in result.slots:
                if slot.status is ComplianceStatus.AT_RISK:
                    at_risk.append((rule_result.rule, int(result.subject_id), result.name, slot))
    staff = _staff({org_id for _rule, org_id, _name, _slot in at_risk})
    messages = []
    for rule, org_id, name, slot in at_risk:
        last_day = local_today(slot.end - timedelta(seconds=1))
        for member in staff[org_id]:
            with force_locale(_locale(member)):
                title = rule_title(rule)
                subject = _("Not planned yet: %(rule)s, %(period)s", rule=title, period=period_label(slot.label))
                body = _(
                    "Nothing is planned for %(unit)s towards “%(rule)s” in %(period)s, which ends on %(date)s. "
                    "Plan the drill now.",
                    unit=name,
                    rule=title,
                    period=period_label(slot.label),
                    date=local_date(last_day),
                )
            key = f"{Kind.NOTHING_PLANNED}:{year}:{rule.key}:{org_id}:{slot.label}:{member.id}"
            messages.append(Message(member, Kind.NOTHING_PLANNED, subject, body, link_to("drills.new"), key))
    return len(at_risk), len(notify_many(messages))


def _passed_unrecorded(moment: datetime, since: datetime) -> sa.ColumnElement[bool]:
    """Planned drills that ended before today (Beijing time), from `since` on."""
    return sa.and_(
        Drill.status == DrillStatus.PLANNED, Drill.ends_at < local_midnight(local_today(moment)), Drill.ends_at >= since
    )


def record_reminders(moment: datetime) -> tuple[int, int]:
    """The day after a planned drill passed without being completed, its organiser's staff (or, for a
    region's drill, the region's coordinators) are asked to record what happened; once per drill and
    person. Returns (drills, sent)."""
    since = local_midnight(local_today(moment) - timedelta(days=RECORD_WINDOW_DAYS))
    drills = list(db.session.scalars(sa.select(Drill).where(_passed_unrecorded(moment, since)).order_by(Drill.id)))
    if not drills:
        return 0, 0
    staff = _staff({d.organizer_org_id for d in drills if d.organizer_org_id is not None})
    coordinators = _coordinators(
        {d.organizer_region_code for d in drills if d.organizer_org_id is None and d.organizer_region_code is not None}
    )
    messages = []
    for drill in drills:
        people = (
            staff[drill.organizer_org_id]
            if drill.organizer_org_id is not None
            else coordinators.get(drill.organizer_region_code or "", [])
        )
        for member in people:
            with force_locale(_locale(member)):
                subject = _("Record what happened: %(title)s", title=drill.title)
                body = _(
                    "%(title)s was planned for %(start)s (Beijing time) and has not been recorded. Record "
                    "whether it took place, its participants and its outcome, or cancel it.",
                    title=drill.title,
                    start=local_datetime(drill.starts_at),
                )
            key = f"{Kind.RECORD_DRILL}:{drill.id}:{drill.starts_at:%Y%m%dT%H%M}:{member.id}"
            messages.append(
                Message(member, Kind.RECORD_DRILL, subject, body, link_to("drills.complete", drill_id=drill.id), key)
            )
    return len(drills), len(notify_many(messages))


def drills_to_record(user: User, now: datetime | None = None) -> list[Drill]:
    """The drills that just ended and still wait for their record, that the user may record (home page)."""
    now = now or utcnow()
    since = local_midnight(local_today(now) - timedelta(days=RECORD_WINDOW_DAYS))
    candidates = list(
        db.session.scalars(
            sa.select(Drill)
            .options(selectinload(Drill.organizer_org))
            .where(
                Drill.status == DrillStatus.PLANNED,
                Drill.ends_at < now,
                Drill.ends_at >= since,
                access.drill_clause(user, now),
            )
            .order_by(Drill.ends_at.desc())
            .limit(TO_RECORD_LISTED * 3)
        )
    )
    # can_edit_drill reads the regions through the session: loaded here at once, and held while it asks (the
    # session's identity map holds them only while something else does).
    codes = {user.region_code, *(d.region_code for d in candidates), *(d.organizer_region_code for d in candidates)}
    codes |= {d.organizer_org.region_code for d in candidates if d.organizer_org is not None}
    _held_regions = all_regions(Region.code.in_(codes - {None}))
    return [d for d in candidates if access.can_edit_drill(user, d)][:TO_RECORD_LISTED]
