"""The half-year completion report behind the 7 June and 8 November deadlines: its figures, one
aggregate query per section over the region's subtree. Its tables are built in report_tables.

The period is a reporting half (see periods.reporting_half): H1 = 9 November of the year before ..
7 June, H2 = 8 June .. 8 November.
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.i18n import gettext as _
from drillmgr.compliance.labels import missing_label
from drillmgr.compliance.periods import Period, reporting_half
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.subjects import subtree_list
from drillmgr.compliance.report_tables import report_document
from drillmgr.compliance.sheets import Document
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill, Participation, ParticipationGroup
from drillmgr.enums import ActionStatus, DrillForm, DrillStatus, JointWith, OutreachKind, Severity
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.localtime import local_today
from drillmgr.orgs.models import Organisation, OrgGroup
from drillmgr.outreach.models import OutreachActivity
from drillmgr.regions.models import Region

KEY_COUNTY_RULES = ("key-county-comprehensive-live", "key-county-double-blind-tabletop")
LIST_LIMIT = 500
Row = dict[str, Any]  # a line of a section, as the JSON carries it
Where = sa.ColumnElement[bool]


@dataclass
class HalfYearReport:
    region: Region
    year: int
    half: int
    period: Period
    generated_at: datetime
    by_form: list[Row]
    joint: Row
    by_unit: list[Row]
    participation: Row
    key_counties: list[Row]
    findings: Row
    outreach: Row
    by_group: list[Row]

    @cached_property
    def document(self) -> Document:
        """The tables of the page, the print view, the workbook and the JSON's `sections`."""
        return report_document(self)


def _drills_in(region_code: str, period: Period, actor: access.Actor, now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        Drill.region_code.in_(subtree_list(region_code)),
        Drill.starts_at >= period.start,
        Drill.starts_at < period.end,
        access.compliance_drill_clause(actor, now),
    )


def _by_form(where: Where) -> tuple[list[Row], Row]:
    counts = {
        (form, status): n
        for form, status, n in db.session.execute(
            sa.select(Drill.form, Drill.status, sa.func.count()).where(where).group_by(Drill.form, Drill.status)
        )
    }
    rows = [
        {
            "form": form.value,
            "label": str(form.label),
            **{status.value: counts.get((form, status), 0) for status in DrillStatus},
        }
        for form in DrillForm
    ]
    special = db.session.execute(
        sa.select(
            sa.func.count(sa.case((Drill.joint_with == JointWith.CORPS, Drill.id))),
            sa.func.count(sa.case((Drill.joint_with == JointWith.MILITARY, Drill.id))),
            sa.func.count(sa.case((Drill.double_blind.is_(True), Drill.id))),
            sa.func.count(sa.case((Drill.real_response.is_(True), Drill.id))),
        ).where(where, Drill.status == DrillStatus.COMPLETED)
    ).one()
    return rows, {"corps": special[0], "military": special[1], "double_blind": special[2], "real_response": special[3]}


def _by_unit(where: Where) -> list[Row]:
    total = sum(getattr(Participation, name) for name in Participation.COUNT_FIELDS)
    organiser = sa.func.coalesce(Organisation.name, Region.name)
    rows = db.session.execute(
        sa.select(
            organiser.label("organiser"),
            Organisation.kind,
            *[sa.func.count(sa.case((Drill.form == form, Drill.id))).label(form.value) for form in DrillForm],
            sa.func.coalesce(sa.func.sum(total), 0).label("participants"),
            sa.func.min(Participation.evacuation_seconds).label("fastest"),
        )
        .select_from(Drill)
        .outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .outerjoin(Region, Region.code == Drill.organizer_region_code)
        .outerjoin(Participation, Participation.drill_id == Drill.id)
        .where(where, Drill.status == DrillStatus.COMPLETED)
        .group_by(organiser, Organisation.kind)
        .order_by(organiser)
        .limit(LIST_LIMIT)
    )
    return [
        {
            "organiser": r.organiser,
            "kind": r.kind.value if r.kind else "region",
            "kind_label": str(r.kind.label) if r.kind else _("Region"),
            **{form.value: getattr(r, form.value) for form in DrillForm},
            "participants": int(r.participants),
            "fastest_evacuation_seconds": r.fastest,
        }
        for r in rows
    ]


def _participation(where: Where) -> Row:
    fields = Participation.COUNT_FIELDS
    row = db.session.execute(
        sa.select(
            *[sa.func.coalesce(sa.func.sum(getattr(Participation, f)), 0) for f in fields],
            sa.func.count(Participation.evacuation_seconds),
            sa.func.avg(Participation.evacuation_seconds),
            sa.func.count(Drill.id),
        )
        .join(Drill, Drill.id == Participation.drill_id)
        .where(where, Drill.status == DrillStatus.COMPLETED)
    ).one()
    counts = {f: int(v) for f, v in zip(fields, row[: len(fields)], strict=True)}
    return {
        **counts,
        "total": sum(counts.values()),
        "drills": row[-1],
        "timed_evacuations": row[len(fields)],
        "average_evacuation_seconds": round(float(row[len(fields) + 1]), 1) if row[len(fields) + 1] else None,
    }


def _by_group(where: Where) -> list[Row]:
    """The roll calls by group (班级, 病区, ...) of the period's completed drills, per unit and group: how many
    drills counted the group, and the expected, present and absent added up over them."""
    group_org, organiser_org = aliased(Organisation), aliased(Organisation)
    unit = sa.func.coalesce(group_org.name, organiser_org.name, Region.name)
    rows = db.session.execute(
        sa.select(
            unit.label("unit"),
            ParticipationGroup.name.label("group"),
            sa.func.count(sa.distinct(ParticipationGroup.drill_id)).label("drills"),
            sa.func.sum(ParticipationGroup.expected).label("expected"),
            sa.func.sum(ParticipationGroup.present).label("present"),
            sa.func.sum(ParticipationGroup.missing).label("missing"),
        )
        .select_from(ParticipationGroup)
        .join(Drill, Drill.id == ParticipationGroup.drill_id)
        .outerjoin(OrgGroup, OrgGroup.id == ParticipationGroup.group_id)
        .outerjoin(group_org, group_org.id == OrgGroup.org_id)
        .outerjoin(organiser_org, organiser_org.id == Drill.organizer_org_id)
        .outerjoin(Region, Region.code == Drill.organizer_region_code)
        .where(where, Drill.status == DrillStatus.COMPLETED)
        .group_by(unit, ParticipationGroup.name)
        .order_by(unit, ParticipationGroup.name)
        .limit(LIST_LIMIT)
    )
    return [
        {
            "unit": r.unit,
            "group": r.group,
            "drills": r.drills,
            "expected": int(r.expected or 0),
            "present": int(r.present or 0),
            "absent": int(r.missing or 0),
        }
        for r in rows
    ]


def _key_counties(region_code: str, year: int, half: int, actor: access.Actor, now: datetime) -> list[dict[str, Any]]:
    rows = []
    period_label = reporting_half(year, half).label
    for rule_result in evaluate(year, region_code, actor=actor, now=now, rule_keys=KEY_COUNTY_RULES):
        for r in rule_result.results:
            slots = [s for s in r.slots if s.label == period_label] or r.slots
            period_status = slots[0].status if slots else r.status
            rows.append(
                {
                    "rule": rule_result.key,
                    "title": rule_result.title,
                    "county": r.name,
                    "county_code": r.subject_id,
                    "status": r.status.value,
                    "status_label": str(r.status.label),
                    "period_status": period_status.value,
                    "period_status_label": str(period_status.label),
                    "evidence": [e for s in slots for e in s.evidence],
                    "missing": r.missing,
                    "missing_labels": [missing_label(m) for m in r.missing],
                }
            )
    return rows


def _findings(region_code: str, period: Period, today: date) -> Row:
    where = sa.and_(
        Finding.region_code.in_(subtree_list(region_code)),
        Finding.found_on >= period.first_day,
        Finding.found_on <= period.last_day,
    )
    overdue = sa.and_(CorrectiveAction.status != ActionStatus.VERIFIED, CorrectiveAction.due_on < today)
    by_severity = _close_out_by_severity(where, overdue)
    return {
        "total": sum(row["total"] for row in by_severity),
        "verified": sum(row[ActionStatus.VERIFIED.value] for row in by_severity),
        "overdue": sum(row["overdue"] for row in by_severity),
        "by_severity": by_severity,
        "items": _finding_items(where, overdue),
    }


def _close_out_by_severity(where: Where, overdue: Where) -> list[Row]:
    grid: dict[tuple[Severity, ActionStatus], int] = {}
    late: dict[Severity, int] = {}
    for sev, status, n, n_overdue in db.session.execute(
        sa.select(
            Finding.severity,
            CorrectiveAction.status,
            sa.func.count(),
            sa.func.count(sa.case((overdue, CorrectiveAction.id))),
        )
        .join(CorrectiveAction, CorrectiveAction.finding_id == Finding.id)
        .where(where)
        .group_by(Finding.severity, CorrectiveAction.status)
    ):
        grid[(sev, status)] = n
        late[sev] = late.get(sev, 0) + n_overdue
    return [
        {
            "severity": sev.value,
            "label": str(sev.label),
            **{st.value: grid.get((sev, st), 0) for st in ActionStatus},
            "total": sum(grid.get((sev, st), 0) for st in ActionStatus),
            "overdue": late.get(sev, 0),
        }
        for sev in Severity
    ]


def _finding_items(where: Where, overdue: Where) -> list[Row]:
    items = db.session.execute(
        sa.select(
            Finding.id,
            Finding.summary,
            Finding.severity,
            Finding.found_on,
            CorrectiveAction.description,
            CorrectiveAction.status,
            CorrectiveAction.due_on,
            overdue.label("overdue"),
        )
        .join(CorrectiveAction, CorrectiveAction.finding_id == Finding.id)
        .where(where)
        .order_by(Finding.found_on, Finding.id)
        .limit(LIST_LIMIT)
    )
    return [
        {
            "id": i.id,
            "summary": i.summary,
            "severity": i.severity.value,
            "severity_label": str(i.severity.label),
            "found_on": i.found_on.isoformat(),
            "action": i.description,
            "action_status": i.status.value,
            "action_status_label": str(i.status.label),
            "due_on": i.due_on.isoformat(),
            "overdue": bool(i.overdue),
        }
        for i in items
    ]


def _outreach(region_code: str, period: Period) -> Row:
    where = sa.and_(
        OutreachActivity.region_code.in_(subtree_list(region_code)),
        OutreachActivity.held_on >= period.first_day,
        OutreachActivity.held_on <= period.last_day,
    )
    counts = {
        kind: (n, audience)
        for kind, n, audience in db.session.execute(
            sa.select(
                OutreachActivity.kind, sa.func.count(), sa.func.coalesce(sa.func.sum(OutreachActivity.audience), 0)
            )
            .where(where)
            .group_by(OutreachActivity.kind)
        )
    }
    by_kind = [
        {
            "kind": k.value,
            "label": str(k.label),
            "activities": counts.get(k, (0, 0))[0],
            "audience": int(counts.get(k, (0, 0))[1]),
        }
        for k in OutreachKind
    ]
    items = [
        {
            "id": a.id,
            "kind": a.kind.value,
            "kind_label": str(a.kind.label),
            "title": a.title,
            "held_on": a.held_on.isoformat(),
            "setting": a.setting.value if a.setting else None,
            "observance_day": a.observance_day.value if a.observance_day else None,
            "audience": a.audience,
        }
        for a in db.session.scalars(
            sa.select(OutreachActivity)
            .where(where)
            .order_by(OutreachActivity.held_on, OutreachActivity.id)
            .limit(LIST_LIMIT)
        )
    ]
    return {"by_kind": by_kind, "items": items}


def half_year_report(user: User, region_code: str, year: int, half: int, now: datetime | None = None) -> HalfYearReport:
    """The report for `region_code` (its whole subtree), `year` and `half` (1 or 2), as `user` may see it."""
    region = db.session.get(Region, region_code)
    if region is None:
        access.not_found(_("No such region."))
    access.require(access.can_view_compliance(user, region_code))
    return report_as_seen_by(user, region, year, half, now or utcnow())


def report_as_seen_by(actor: access.Actor, region: Region, year: int, half: int, now: datetime) -> HalfYearReport:
    """The report with what `actor` may count, for a caller that checked they may see it."""
    period = reporting_half(year, half)
    where = _drills_in(region.code, period, actor, now)
    by_form, joint = _by_form(where)
    return HalfYearReport(
        region=region,
        year=year,
        half=half,
        period=period,
        generated_at=now,
        by_form=by_form,
        joint=joint,
        by_unit=_by_unit(where),
        participation=_participation(where),
        key_counties=_key_counties(region.code, year, half, actor, now),
        findings=_findings(region.code, period, local_today(now)),
        outreach=_outreach(region.code, period),
        by_group=_by_group(where),
    )
