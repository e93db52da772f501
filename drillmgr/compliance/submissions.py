"""Submitting a county's half-year report to the prefecture, and the prefecture's decision.

A submission freezes the report as it was (its JSON document and its workbook, in the submitter's
language); later changes to drills never touch it. Whether the figures have changed since is
answered by building the report again as the submitter saw it at the moment of submission, from
today's records, and comparing the tables. A returned report is submitted again as the next
version; only the latest version of a county and period counts.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, get_locale
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit.services import record
from drillmgr.i18n import gettext as _
from drillmgr.compliance.labels import reporting_period_name
from drillmgr.compliance.models import ReportSubmission, SubmissionStatus
from drillmgr.compliance.periods import REPORT_LEAD_DAYS, reporting_half
from drillmgr.compliance.report_tables import report_xlsx
from drillmgr.compliance.reports import half_year_report, report_as_seen_by
from drillmgr.compliance.schemas import NOT_SUBMITTED, DecisionSchema, DocumentSchema, HalfYearReportSchema
from drillmgr.compliance.sheets import Column, Document, Table, cell
from drillmgr.db import utcnow
from drillmgr.enums import RegionLevel, Role
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.formatting import local_datetime
from drillmgr.localtime import local_today
from drillmgr.notifications.services import Kind, Message, link_to, notify_many
from drillmgr.regions.models import Region

AUDIT_ENTITY = "report_submission"
# A submission stands (and stops the deadline reminders) unless the prefecture returned it.
STANDING = (SubmissionStatus.SUBMITTED, SubmissionStatus.ACCEPTED)


def _county(region_code: str) -> Region:
    region = db.session.get(Region, region_code) if isinstance(region_code, str) else None
    if region is None:
        access.not_found(_("No such region."))
    return region


def _check_period(year: int, half: int) -> None:
    if half not in (1, 2) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationError(_("No such reporting period."))


def latest(region_code: str, year: int, half: int) -> ReportSubmission | None:
    return db.session.scalar(
        sa.select(ReportSubmission)
        .where(
            ReportSubmission.region_code == region_code, ReportSubmission.year == year, ReportSubmission.half == half
        )
        .order_by(ReportSubmission.version.desc())
        .limit(1)
    )


def history(submission: ReportSubmission) -> list[ReportSubmission]:
    """Every version of the submission's county and period, the newest first."""
    return list(
        db.session.scalars(
            sa.select(ReportSubmission)
            .where(
                ReportSubmission.region_code == submission.region_code,
                ReportSubmission.year == submission.year,
                ReportSubmission.half == submission.half,
            )
            .options(selectinload(ReportSubmission.submitted_by), selectinload(ReportSubmission.decided_by))
            .order_by(ReportSubmission.version.desc())
        )
    )


def get_visible(user: User, submission_id: int) -> ReportSubmission:
    submission = db.session.get(ReportSubmission, submission_id)
    if submission is None or not access.can_view_compliance(user, submission.region_code):
        access.not_found(_("No such report submission."))
    return submission


def opens_on(year: int, half: int) -> date:
    """Filing opens when the report page starts offering the period (periods.report_due_half)."""
    return reporting_half(year, half).last_day - timedelta(days=REPORT_LEAD_DAYS)


def may_submit(user: User, region: Region, year: int, half: int, now: datetime | None = None) -> bool:
    """Whether the submit button is offered: allowed, open, and nothing standing for the period."""
    if not access.can_submit_half_year_report(user, region):
        return False
    if local_today(now or utcnow()) < opens_on(year, half):
        return False
    current = latest(region.code, year, half)
    return current is None or current.status == SubmissionStatus.RETURNED


def _admins() -> list[User]:
    return list(
        db.session.scalars(sa.select(User).where(User.active.is_(True), User.role == Role.ADMIN).order_by(User.id))
    )


def _county_coordinators(region_code: str) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.active.is_(True), User.role == Role.COORDINATOR, User.region_code == region_code)
            .order_by(User.id)
        )
    )


def _locale(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


def _heading(submission: ReportSubmission) -> str:
    return _(
        "%(region)s, half-year report of %(period)s",
        region=submission.region.name,
        period=reporting_period_name(submission.year, submission.half),
    )


def _tell(
    users: Iterable[User], kind: str, submission: ReportSubmission, subject: Callable[[], str], body: Callable[[], str]
) -> None:
    """`subject` and `body` are called in each recipient's language."""
    link = link_to("submissions.detail", submission_id=submission.id)
    messages = []
    for user in users:
        with force_locale(_locale(user)):
            messages.append(Message(user, kind, subject(), body(), link, f"{kind}:{submission.id}:{user.id}"))
    notify_many(messages)


def submit(user: User, region_code: str, year: int, half: int, now: datetime | None = None) -> ReportSubmission:
    """Freezes the county's report for the period as `user` sees it now and sends it to the prefecture."""
    now = now or utcnow()
    _check_period(year, half)
    region = _county(region_code)
    if region.level != RegionLevel.COUNTY:
        raise ValidationError(_("Half-year reports are submitted per county."))
    access.require(access.can_submit_half_year_report(user, region))
    if local_today(now) < opens_on(year, half):
        raise Conflict(_("This period's report can be submitted from %(date)s.", date=opens_on(year, half).isoformat()))
    current = latest(region.code, year, half)
    if current is not None and current.status in STANDING:
        raise Conflict(_("This report has already been submitted."))
    report = half_year_report(user, region.code, year, half, now=now)
    period = reporting_half(year, half)
    submission = ReportSubmission(
        region_code=region.code,
        year=year,
        half=half,
        version=(current.version + 1) if current else 1,
        status=SubmissionStatus.SUBMITTED,
        document=json.loads(json.dumps(HalfYearReportSchema().dump(report))),
        xlsx=report_xlsx(report),
        locale=str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]),
        late=local_today(now) > period.last_day,
        submitted_by_id=user.id,
        submitted_at=now,
        reason="",
    )
    try:
        with db.session.begin_nested():
            db.session.add(submission)
    except IntegrityError:
        raise Conflict(_("This report has just been submitted by someone else.")) from None
    record(
        user,
        "submit",
        AUDIT_ENTITY,
        submission.id,
        after={
            "region": region.code,
            "year": year,
            "half": half,
            "version": submission.version,
            "late": submission.late,
        },
    )
    _tell(
        _admins(),
        Kind.REPORT_SUBMITTED,
        submission,
        lambda: _("Half-year report submitted: %(name)s", name=_heading(submission)),
        lambda: _(
            "%(who)s submitted %(name)s on %(when)s (Beijing time). Accept it or return it with a reason.",
            who=user.username,
            name=_heading(submission),
            when=local_datetime(now),
        ),
    )
    return submission


def decide(
    user: User, submission_id: int, accept: bool, reason: str = "", now: datetime | None = None
) -> ReportSubmission:
    """The prefecture accepts a submitted report, or returns it with a reason for the county to resubmit."""
    now = now or utcnow()
    access.require(access.can_decide_half_year_report(user))
    submission = get_visible(user, submission_id)
    reading = DecisionSchema(only=("reason",)).read({"reason": reason} if reason else {})
    reason = reading.values.get("reason", "")
    if not accept and not reason and "reason" not in reading.errors:
        reading.error("reason", _("This field is required."))
    reading.check()
    status = SubmissionStatus.ACCEPTED if accept else SubmissionStatus.RETURNED
    # Conditional on the state, so two decisions at once cannot both land.
    changed = db.session.execute(
        sa.update(ReportSubmission)
        .where(ReportSubmission.id == submission.id, ReportSubmission.status == SubmissionStatus.SUBMITTED)
        .values(status=status, decided_by_id=user.id, decided_at=now, reason=reason)
        .returning(ReportSubmission.id)
        .execution_options(synchronize_session=False)
    ).first()
    if changed is None:
        raise Conflict(_("This report has already been decided."))
    db.session.refresh(submission)
    record(
        user,
        "accept" if accept else "return",
        AUDIT_ENTITY,
        submission.id,
        before={"status": SubmissionStatus.SUBMITTED},
        after={"status": status, "reason": reason},
    )
    recipients = {u.id: u for u in _county_coordinators(submission.region_code)}
    if submission.submitted_by is not None:
        recipients.setdefault(submission.submitted_by.id, submission.submitted_by)
    if accept:
        _tell(
            recipients.values(),
            Kind.REPORT_ACCEPTED,
            submission,
            lambda: _("Half-year report accepted: %(name)s", name=_heading(submission)),
            lambda: _("The prefecture accepted %(name)s.", name=_heading(submission)),
        )
    else:
        _tell(
            recipients.values(),
            Kind.REPORT_RETURNED,
            submission,
            lambda: _("Half-year report returned: %(name)s", name=_heading(submission)),
            lambda: _(
                "The prefecture returned %(name)s: %(reason)s\nCorrect the records and submit it again.",
                name=_heading(submission),
                reason=reason,
            ),
        )
    return submission


def figures_changed(submission: ReportSubmission) -> bool:
    """Whether the report, built again from today's records as the submitter saw it when submitting,
    now shows other figures than the frozen one."""
    submitter = submission.submitted_by
    reader: access.Actor = access.SYSTEM  # the submitter is gone, or moved on since: the report as the system sees it
    if submitter is not None and access.can_view_compliance(submitter, submission.region_code):
        reader = submitter
    with force_locale(submission.locale):
        live = report_as_seen_by(reader, submission.region, submission.year, submission.half, submission.submitted_at)
        sections = json.loads(json.dumps(DocumentSchema().dump(live.document)["sections"]))
    return bool(sections != submission.document.get("sections"))


def frozen_document(submission: ReportSubmission) -> Document:
    """The frozen tables, to show on the snapshot page and its printable view as the report page does."""
    tables = []
    for section in submission.document.get("sections", []):
        rows = section["rows"]
        columns = [
            Column(
                label,
                numeric=bool(rows)
                and index > 0
                and all(isinstance(row[index], (int, float)) or row[index] is None for row in rows)
                and any(isinstance(row[index], (int, float)) for row in rows),
            )
            for index, label in enumerate(section["columns"])
        ]
        tables.append(
            Table(section["key"], section["title"], columns, [[cell(value) for value in row] for row in rows])
        )
    return Document(submission.document.get("title", ""), tables)


def filename(submission: ReportSubmission) -> str:
    return f"drillmgr-{submission.region_code}-{submission.year}-H{submission.half}-v{submission.version}.xlsx"


# --- the prefecture's overview and the reminders -------------------------------------------------


@dataclass(frozen=True)
class CountyState:
    region: Region
    submission: ReportSubmission | None

    @property
    def status(self) -> str:
        return self.submission.status.value if self.submission else NOT_SUBMITTED


def _latest_of_period(year: int, half: int) -> sa.Select[tuple[ReportSubmission]]:
    newest = (
        sa.select(ReportSubmission.region_code, sa.func.max(ReportSubmission.version).label("version"))
        .where(ReportSubmission.year == year, ReportSubmission.half == half)
        .group_by(ReportSubmission.region_code)
        .subquery()
    )
    return (
        sa.select(ReportSubmission)
        .join(
            newest,
            sa.and_(newest.c.region_code == ReportSubmission.region_code, newest.c.version == ReportSubmission.version),
        )
        .where(ReportSubmission.year == year, ReportSubmission.half == half)
    )


def board(user: User, year: int, half: int) -> list[CountyState]:
    """Every county the user may see, with its latest submission for the period (None: not submitted)."""
    submissions = {s.region_code: s for s in db.session.scalars(_latest_of_period(year, half))}
    counties = db.session.scalars(
        sa.select(Region)
        .where(Region.level == RegionLevel.COUNTY, access.region_clause(user, Region.code))
        .order_by(Region.code)
    )
    return [CountyState(county, submissions.get(county.code)) for county in counties]


def standing_counties(year: int, half: int) -> set[str]:
    """The counties whose latest submission for the period stands (submitted or accepted)."""
    return {s.region_code for s in db.session.scalars(_latest_of_period(year, half)) if s.status in STANDING}


def county_of(path: str | None, counties: dict[str, str]) -> str | None:
    """The county (code) whose subtree holds the region with `path`; `counties` maps code → path."""
    if not path:
        return None
    return next((code for code, county_path in counties.items() if path.startswith(county_path)), None)


def county_paths() -> dict[str, str]:
    return {
        code: path
        for code, path in db.session.execute(
            sa.select(Region.code, Region.path).where(Region.level == RegionLevel.COUNTY)
        )
    }
