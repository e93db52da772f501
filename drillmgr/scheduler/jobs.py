"""The scheduler's jobs: module functions of the moment they run for, returning a line for the record.

Every job is idempotent: what it sends carries a dedupe key, what it writes is written once, so
running it again for the same moment (or a later one) changes nothing that was done already. The
reminder jobs look at windows ("starts within 7 days") rather than exact days, so a run missed
while no scheduler was up is made good by the next one.
"""

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

import flask_babel
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments.services import sweep_orphans
from drillmgr.cache import store as shared_cache
from drillmgr.calendars.publish import publish_static
from drillmgr.compliance import nudges, submissions
from drillmgr.compliance.periods import REPORT_DEADLINES, reporting_half_of
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.rules import rule_title
from drillmgr.compliance.snapshots import snapshot_changes
from drillmgr.db import utcnow
from drillmgr.drillday import services as drillday
from drillmgr.drills.models import Drill
from drillmgr.drills.rules import SERIES_HORIZON_DAYS
from drillmgr.drills.series import materialize_all
from drillmgr.enums import ActionStatus, ComplianceStatus, DrillStatus, Role
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.formatting import local_date, local_datetime
from drillmgr.localtime import local_zone
from drillmgr.idempotency import services as idempotency
from drillmgr.notifications.sender import SmtpSettings, send_pending
from drillmgr.notifications.services import Kind, Message, drill_reminder_key, link_to, notify_many
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.scheduler import runner

# flask_babel ships no types: its gettext, typed.
_: Callable[..., str] = flask_babel.gettext
DRILL_REMINDER_DAYS = (7, 1)
ACTION_DUE_SOON_DAYS = 3
REPORT_REMINDER_DAYS = (14, 3)
# Recipients whose visibility is checked in one statement; keeps the UNION below SQLite's limit of 500.
RECIPIENTS_PER_QUERY = 100
JOB_RUNS_KEPT_DAYS = 30


def _locale(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


def _local_today(moment: datetime) -> date:
    return moment.astimezone(local_zone()).date()


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
    horizon = moment + timedelta(days=max(DRILL_REMINDER_DAYS))
    drills = {
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
    if not drills:
        return {}, {}, []
    by_org: defaultdict[int | None, set[int]] = defaultdict(set)
    by_region, by_evaluator = defaultdict(set), defaultdict(set)
    for drill in drills.values():
        if drill.organizer_org_id is not None:
            by_org[drill.organizer_org_id].add(drill.id)
        else:
            by_region[drill.organizer_region_code].add(drill.id)
        for org in drill.participants:
            by_org[org.id].add(drill.id)
        for evaluator in drill.evaluators:
            by_evaluator[evaluator.id].add(drill.id)
    recipients = list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.active.is_(True),
                sa.or_(
                    sa.and_(User.role == Role.ORG_STAFF, User.org_id.in_(list(by_org))),
                    sa.and_(User.role == Role.COORDINATOR, User.region_code.in_(list(by_region))),
                    User.id.in_(list(by_evaluator)),
                ),
            )
            .order_by(User.id)
        )
    )
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


def _drill_reminder(user: User, drill: Drill, days_before: int, moment: datetime) -> Message:
    days_left = (_local_today(drill.starts_at) - _local_today(moment)).days
    start = local_datetime(drill.starts_at)
    with force_locale(_locale(user)):
        if days_left == 0:
            subject = _("Drill today: %(title)s at %(start)s", title=drill.title, start=start)
        elif days_left == 1:
            subject = _("Drill tomorrow: %(title)s on %(start)s", title=drill.title, start=start)
        else:
            subject = _(
                "Drill in %(days)d days: %(title)s on %(start)s", days=days_left, title=drill.title, start=start
            )
        if days_left == 0:
            when = _("%(title)s (%(form)s) takes place today.", title=drill.title, form=drill.form.label)
        elif days_left == 1:
            when = _("%(title)s (%(form)s) takes place tomorrow.", title=drill.title, form=drill.form.label)
        else:
            when = _(
                "%(title)s (%(form)s) takes place in %(days)d days.",
                title=drill.title,
                form=drill.form.label,
                days=days_left,
            )
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
    today = _local_today(moment)
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
    actions = [
        a
        for a in actions
        if a.finding.drill is None
        or not access.is_secret(a.finding.drill, moment)
        or access.can_view_finding(a.owner, a.finding, moment)
    ]
    link = link_to("findings.actions")
    messages = []
    for action in actions:
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
                messages.append(Message(owner, Kind.ACTION_DUE, subject, details, link, key))
            else:
                overdue = (today - action.due_on).days
                subject = _("Corrective action overdue by %(days)d days", days=overdue)
                key = f"{Kind.ACTION_OVERDUE}:{action.id}:{action.due_on}:week{overdue // 7}:{owner.id}"
                messages.append(Message(owner, Kind.ACTION_OVERDUE, subject, details, link, key))
    added = notify_many(messages)
    return _(
        "%(actions)d corrective actions due or overdue, %(sent)d reminders sent.", actions=len(actions), sent=len(added)
    )


# --- compliance ------------------------------------------------------------------------------


def _coordinators_by_region() -> list[tuple[User, str]]:
    """Active coordinators with the path of their region, to match subjects below it."""
    return [
        (user, path)
        for user, path in db.session.execute(
            sa.select(User, Region.path)
            .join(Region, Region.code == User.region_code)
            .where(User.active.is_(True), User.role == Role.COORDINATOR)
            .order_by(User.id)
        )
    ]


def compliance(moment: datetime) -> str:
    """Evaluates the year's rules and alerts a region's coordinators once per worsened status."""
    year = _local_today(moment).year
    results = evaluate(year, actor=access.SYSTEM, now=moment)
    rules = {r.key: r.rule for r in results}
    # The new snapshots and the alerts below are committed together (by run_job), or neither is.
    worsened = snapshot_changes(results, now=moment)
    if not worsened:
        return _("%(n)d statuses evaluated, none worse.", n=sum(len(r.results) for r in results))
    org_ids = [int(s["id"]) for s, *_ in worsened if s["type"] == "org"]
    org_regions = {
        org_id: code
        for org_id, code in db.session.execute(
            sa.select(Organisation.id, Organisation.region_code).where(Organisation.id.in_(org_ids))
        )
    }
    region_codes = {s["code"] for s, *_ in worsened if s["type"] == "region"} | set(org_regions.values())
    paths = {
        code: path
        for code, path in db.session.execute(sa.select(Region.code, Region.path).where(Region.code.in_(region_codes)))
    }
    coordinators = _coordinators_by_region()
    link = link_to("compliance.dashboard", year=year)
    messages = []
    for subject, rule_key, old, new in worsened:
        region_code = subject["code"] if subject["type"] == "region" else org_regions.get(int(subject["id"]))
        path = paths.get(region_code)
        if path is None:
            continue
        for user, coordinator_path in coordinators:
            if not path.startswith(coordinator_path):
                continue
            with force_locale(_locale(user)):
                title = rule_title(rules[rule_key])
                subject_line = _("Compliance worse: %(name)s — %(rule)s", name=subject["name"], rule=title)
                body = _(
                    "%(name)s, rule “%(rule)s”: %(old)s → %(new)s (evaluated %(date)s).",
                    name=subject["name"],
                    rule=title,
                    old=ComplianceStatus(old).label,
                    new=ComplianceStatus(new).label,
                    date=local_date(moment),
                )
            subject_id = subject.get("code") or subject.get("id")
            key = (
                f"{Kind.COMPLIANCE_WORSENED}:{year}:{rule_key}:{subject['type']}:{subject_id}:"
                f"{ComplianceStatus(new).value}:{moment:%Y%m%dT%H%M}:{user.id}"
            )
            messages.append(Message(user, Kind.COMPLIANCE_WORSENED, subject_line, body, link, key))
    added = notify_many(messages)
    return _("%(worse)d statuses worse, %(sent)d alerts sent.", worse=len(worsened), sent=len(added))


# --- report deadlines ------------------------------------------------------------------------


def next_report_deadline(today: date) -> date:
    candidates = [date(year, month, day) for year in (today.year, today.year + 1) for month, day in REPORT_DEADLINES]
    return min(d for d in candidates if d >= today)


def report_deadline_reminders(moment: datetime) -> str:
    """Coordinators, 14 and 3 days before the 7 June and 8 November reports (within those windows)."""
    today = _local_today(moment)
    deadline = next_report_deadline(today)
    days_left = (deadline - today).days
    if days_left > max(REPORT_REMINDER_DAYS):
        return _("Next report deadline %(date)s, %(days)d days away.", date=local_date(deadline), days=days_left)
    days_before = min(d for d in REPORT_REMINDER_DAYS if days_left <= d)
    # A county that has submitted for the period (and was not returned) is not reminded any more.
    submitted = submissions.standing_counties(*reporting_half_of(deadline))
    counties = submissions.county_paths()
    coordinators = [
        user
        for user, path in db.session.execute(
            sa.select(User, Region.path)
            .outerjoin(Region, Region.code == User.region_code)
            .where(User.active.is_(True), User.role == Role.COORDINATOR)
            .order_by(User.id)
        )
        if submissions.county_of(path, counties) not in submitted
    ]
    link = link_to("compliance.report")
    messages = []
    for user in coordinators:
        with force_locale(_locale(user)):
            subject = _("Half-year report due on %(date)s", date=local_date(deadline))
            body = _(
                "The half-year drill report is due on %(date)s, in %(days)d days. "
                "Check the compliance of your units and download the report.",
                date=local_date(deadline),
                days=days_left,
            )
        key = f"{Kind.REPORT_DEADLINE}:{deadline}:{days_before}d:{user.id}"
        messages.append(Message(user, Kind.REPORT_DEADLINE, subject, body, link, key))
    added = notify_many(messages)
    return _(
        "Report deadline %(date)s in %(days)d days, %(sent)d reminders sent.",
        date=local_date(deadline),
        days=days_left,
        sent=len(added),
    )


# --- units: nothing planned, a drill to record ----------------------------------------------


def nothing_planned_reminders(moment: datetime) -> str:
    """Unit staff, once per rule and period, when it ends soon with nothing planned that would meet it."""
    slots, sent = nudges.nothing_planned(access.SYSTEM, moment)
    return _("%(slots)d periods ending with nothing planned, %(sent)d reminders sent.", slots=slots, sent=sent)


def record_reminders(moment: datetime) -> str:
    """The day after a planned drill passed unrecorded, its organisers are asked to record it (once)."""
    drills, sent = nudges.record_reminders(moment)
    return _("%(drills)d past drills not recorded, %(sent)d reminders sent.", drills=drills, sent=sent)


# --- recurring drills, calendars, mail, housekeeping ----------------------------------------


def materialize_series(moment: datetime) -> str:
    """Creates the next occurrences of every recurring drill series, a year ahead."""
    created = materialize_all(
        access.SYSTEM, moment + timedelta(days=SERIES_HORIZON_DAYS), now=moment, keep_going=runner.still_holding
    )
    return _("%(n)d drills created.", n=created)


def _public_state(moment: datetime) -> tuple[str, str]:
    """What the public calendars show, read for the record in Beijing time, and a fingerprint of it
    that changes whenever they may have: a public drill added, changed, removed or revealed (a
    double-blind drill starting), and once a day for the date-driven parts."""
    count, last_change = db.session.execute(
        sa.select(sa.func.count(), sa.func.max(Drill.updated_at)).where(access.public_drill_clause(moment))
    ).one()
    stamp = last_change.isoformat() if last_change else "-"
    digest = hashlib.sha256(f"{count}/{stamp}/{_local_today(moment)}".encode()).hexdigest()[:12]
    reading = _(
        "%(n)d public drills, last changed %(at)s.", n=count, at=local_datetime(last_change) if last_change else "-"
    )
    return reading, f"#{digest}"


def publish_calendars(moment: datetime) -> str:
    """Rewrites the static public calendars under calendars/ when something public changed."""
    reading, fingerprint = _public_state(moment)
    previous = runner.last_detail("publish_calendars")
    # The fingerprint ends the record, for the next run to compare with.
    if previous is not None and previous.split()[-1] == fingerprint:
        outcome = _("Unchanged.")
    else:
        outcome = _("%(n)d files published.", n=len(publish_static(now=moment)))
    shared_cache.prune()  # the shared store of rendered feeds and kept results stays within its bound
    return f"{outcome} {reading} {fingerprint}"


def send_mail(moment: datetime) -> str:
    """Delivers the outbox (the scheduler only runs this when SMTP_HOST is set)."""
    settings = SmtpSettings.from_config(current_app.config)
    if settings is None:
        return _("SMTP_HOST is not set; mail stays in the outbox.")
    return str(send_pending(settings, now=utcnow(), keep_going=runner.still_holding))


def prune_job_runs(moment: datetime) -> str:
    removed = runner.prune_runs(moment - timedelta(days=JOB_RUNS_KEPT_DAYS))
    return _("%(n)d old runs removed.", n=removed)


def sweep_uploads(moment: datetime) -> str:
    """Removes uploaded files that no attachment names (an upload cut short) and completes interrupted ones."""
    removed, completed = sweep_orphans(moment)
    return _("%(removed)d orphaned files removed, %(completed)d completed.", removed=removed, completed=completed)


def prune_idempotency_keys(moment: datetime) -> str:
    """The API's submission keys and the drill-day records' keys, each after its own lifetime."""
    removed = idempotency.prune(moment) + drillday.prune_keys(moment)
    return _("%(n)d expired submission keys removed.", n=removed)


JOBS = {
    "send_mail": send_mail,
    "drill_reminders": drill_reminders,
    "action_reminders": action_reminders,
    "report_deadlines": report_deadline_reminders,
    "nothing_planned": nothing_planned_reminders,
    "record_reminders": record_reminders,
    "compliance": compliance,
    "materialize_series": materialize_series,
    "publish_calendars": publish_calendars,
    "prune_job_runs": prune_job_runs,
    "sweep_uploads": sweep_uploads,
    "prune_idempotency_keys": prune_idempotency_keys,
}

JOB_TITLES = {
    "send_mail": _l("Send mail from the outbox"),
    "drill_reminders": _l("Drill reminders (7 days and 1 day before)"),
    "action_reminders": _l("Corrective actions due and overdue"),
    "report_deadlines": _l("Half-year report deadline reminders"),
    "nothing_planned": _l("Units: periods ending with nothing planned"),
    "record_reminders": _l("Units: record the drills that passed"),
    "compliance": _l("Nightly compliance evaluation and alerts"),
    "materialize_series": _l("Create the next drills of recurring series"),
    "publish_calendars": _l("Publish the static public calendars"),
    "prune_job_runs": _l("Forget old successful runs"),
    "sweep_uploads": _l("Remove uploaded files left without a record"),
    "prune_idempotency_keys": _l("Forget expired submission keys"),
}

# Times of day are Beijing time. SCHEDULER_SCHEDULE overrides any of them ("job=every 5s;job=off").
DEFAULT_SCHEDULE = {
    "send_mail": "every 60s",
    "drill_reminders": "every 3600s",
    "action_reminders": "daily 08:00",
    "report_deadlines": "daily 08:00",
    "nothing_planned": "daily 08:10",
    "record_reminders": "daily 08:20",
    "compliance": "daily 02:00",
    "materialize_series": "daily 01:00",
    "publish_calendars": "every 300s",
    "prune_job_runs": "daily 03:30",
    "sweep_uploads": "daily 03:45",
    "prune_idempotency_keys": "daily 03:40",
}
