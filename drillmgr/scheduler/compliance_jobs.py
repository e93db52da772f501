"""The scheduler's compliance jobs: the nightly evaluation with its alerts, and the reminders of the
half-year report deadlines. What they send carries a dedupe key, so a second run sends nothing new."""

from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.compliance import submissions
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.kept import refresh
from drillmgr.compliance.models import ComplianceRule
from drillmgr.compliance.periods import REPORT_DEADLINES, reporting_half_of
from drillmgr.compliance.rules import rule_title
from drillmgr.compliance.snapshots import Worsening, snapshot_changes
from drillmgr.enums import ComplianceStatus, Role
from drillmgr.extensions import db
from drillmgr.i18n import gettext as _
from drillmgr.formatting import local_date
from drillmgr.localtime import local_today
from drillmgr.notifications.services import Kind, Message, link_to, notify_many
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region

REPORT_REMINDER_DAYS = (14, 3)


def _locale(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


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


def keep_compliance(moment: datetime) -> str:
    """Keeps the year's statuses current for every view: each county changed since, or kept for half a
    minute, is evaluated again (compliance.kept.refresh)."""
    evaluated = refresh(local_today(moment).year, moment)
    return _("%(n)d county statuses evaluated again.", n=evaluated)


def compliance(moment: datetime) -> str:
    """Evaluates the year's rules and alerts a region's coordinators once per worsened status."""
    year = local_today(moment).year
    results = evaluate(year, actor=access.SYSTEM, now=moment)
    rules = {r.key: r.rule for r in results}
    # The new snapshots and the alerts below are committed together (by run_job), or neither is.
    worsened = snapshot_changes(results, now=moment)
    if not worsened:
        return _("%(n)d statuses evaluated, none worse.", n=sum(len(r.results) for r in results))
    paths = _region_paths(worsened)
    coordinators = _coordinators_by_region()
    link = link_to("compliance.dashboard", year=year)
    messages = [
        _worse_alert(user, worsening, rules[worsening[1]], link, year, moment)
        for worsening, path in zip(worsened, paths, strict=True)
        if path is not None
        for user, coordinator_path in coordinators
        if path.startswith(coordinator_path)
    ]
    added = notify_many(messages)
    return _("%(worse)d statuses worse, %(sent)d alerts sent.", worse=len(worsened), sent=len(added))


def _region_paths(worsened: list[Worsening]) -> list[str | None]:
    """The path of each worsened subject's region (a unit's: the region it is in), None if it is gone."""
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
    return [
        paths.get(subject["code"] if subject["type"] == "region" else org_regions.get(int(subject["id"])))
        for subject, *_ in worsened
    ]


def _worse_alert(
    user: User, worsening: Worsening, rule: ComplianceRule, link: str, year: int, moment: datetime
) -> Message:
    subject, rule_key, old, new = worsening
    with force_locale(_locale(user)):
        title = rule_title(rule)
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
    return Message(user, Kind.COMPLIANCE_WORSENED, subject_line, body, link, key)


# --- report deadlines ------------------------------------------------------------------------


def next_report_deadline(today: date) -> date:
    candidates = [date(year, month, day) for year in (today.year, today.year + 1) for month, day in REPORT_DEADLINES]
    return min(d for d in candidates if d >= today)


def report_deadline_reminders(moment: datetime) -> str:
    """Coordinators, 14 and 3 days before the 7 June and 8 November reports (within those windows)."""
    today = local_today(moment)
    deadline = next_report_deadline(today)
    days_left = (deadline - today).days
    if days_left > max(REPORT_REMINDER_DAYS):
        return _("Next report deadline %(date)s, %(days)d days away.", date=local_date(deadline), days=days_left)
    days_before = min(d for d in REPORT_REMINDER_DAYS if days_left <= d)
    link = link_to("compliance.report")
    messages = [
        _deadline_reminder(user, deadline, days_left, days_before, link) for user in _coordinators_to_remind(deadline)
    ]
    added = notify_many(messages)
    return _(
        "Report deadline %(date)s in %(days)d days, %(sent)d reminders sent.",
        date=local_date(deadline),
        days=days_left,
        sent=len(added),
    )


def _coordinators_to_remind(deadline: date) -> list[User]:
    """Active coordinators, but those of a county that has submitted for the period (and was not returned)."""
    submitted = submissions.standing_counties(*reporting_half_of(deadline))
    counties = submissions.county_paths()
    return [
        user
        for user, path in db.session.execute(
            sa.select(User, Region.path)
            .outerjoin(Region, Region.code == User.region_code)
            .where(User.active.is_(True), User.role == Role.COORDINATOR)
            .order_by(User.id)
        )
        if submissions.county_of(path, counties) not in submitted
    ]


def _deadline_reminder(user: User, deadline: date, days_left: int, days_before: int, link: str) -> Message:
    with force_locale(_locale(user)):
        subject = _("Half-year report due on %(date)s", date=local_date(deadline))
        body = _(
            "The half-year drill report is due on %(date)s, in %(days)d days. "
            "Check the compliance of your units and download the report.",
            date=local_date(deadline),
            days=days_left,
        )
    key = f"{Kind.REPORT_DEADLINE}:{deadline}:{days_before}d:{user.id}"
    return Message(user, Kind.REPORT_DEADLINE, subject, body, link, key)
