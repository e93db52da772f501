"""The half-year completion report behind the 7 June and 8 November deadlines: its figures, and the
tables (`HalfYearReport.document`) that its page, print view, XLSX and JSON all show.

The period is a reporting half (see periods.reporting_half): H1 = 9 November of the year before ..
7 June, H2 = 8 June .. 8 November. Every section is one aggregate query over the region's subtree.
"""

from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.compliance.labels import gettext as _
from drillmgr.compliance.labels import pgettext
from drillmgr.compliance.labels import missing_label, reporting_period_name
from drillmgr.compliance.periods import Period, reporting_half
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.subjects import subtree_list
from drillmgr.compliance.sheets import Cell, Column, Document, Table, Value, cell, linked
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill, Participation, ParticipationGroup
from drillmgr.enums import ActionStatus, DrillForm, DrillStatus, JointWith, OutreachKind, Severity
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.formatting import local_date
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
    by_severity = [
        {
            "severity": sev.value,
            "label": str(sev.label),
            **{st.value: grid.get((sev, st), 0) for st in ActionStatus},
            "total": sum(grid.get((sev, st), 0) for st in ActionStatus),
            "overdue": late.get(sev, 0),
        }
        for sev in Severity
    ]
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
    listed = [
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
    return {
        "total": sum(row["total"] for row in by_severity),
        "verified": sum(row[ActionStatus.VERIFIED.value] for row in by_severity),
        "overdue": sum(row["overdue"] for row in by_severity),
        "by_severity": by_severity,
        "items": listed,
    }


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


def report_filename(report: HalfYearReport) -> str:
    return f"drillmgr-{report.region.code}-{report.year}-H{report.half}.xlsx"


def report_xlsx(report: HalfYearReport) -> bytes:
    """The report as a workbook a coordinator can send as is: one sheet per table of the page."""
    return report.document.xlsx()


# --- the tables of the page, print view, workbook and JSON -----------------------------------------


def _heading(region: Region, year: int, half: int, period: Period) -> str:
    return _("%(region)s, %(period)s", region=region.name, period=reporting_period_name(year, half))


def _counts(label: str, values: list[Value]) -> list[Cell]:
    return [cell(label), *(cell(v) for v in values)]


def _by_form_table(rows: list[Row]) -> Table:
    statuses = (DrillStatus.COMPLETED, DrillStatus.PLANNED, DrillStatus.CANCELLED)
    return Table(
        "by-form",
        _("Drills by form"),
        [Column(_("Form")), *(Column(str(s.label), True) for s in statuses)],
        [_counts(r["label"], [r[s.value] for s in statuses]) for r in rows],
    )


def _joint_table(joint: Row) -> Table:
    labels = {
        "corps": _("Joint with the Corps"),
        "military": _("Joint with the military"),
        "double_blind": _("Double-blind"),
        "real_response": _("Real earthquake responses"),
    }
    return Table(
        "joint",
        _("Joint and special drills"),
        [Column(_("Kind")), Column(_("Completed drills"), True)],
        [_counts(label, [joint[key]]) for key, label in labels.items()],
    )


def _by_unit_table(rows: list[Row]) -> Table:
    return Table(
        "by-unit",
        _("Drills by unit"),
        [
            Column(_("Organiser")),
            Column(_("Kind")),
            *(Column(str(f.label), True) for f in DrillForm),
            Column(_("Participants"), True),
            Column(_("Fastest evacuation (s)"), True),
        ],
        [
            [
                cell(r["organiser"]),
                cell(r["kind_label"]),
                *(cell(r[f.value]) for f in DrillForm),
                cell(r["participants"]),
                cell(r["fastest_evacuation_seconds"]),
            ]
            for r in rows
        ],
        empty=_("No drill completed in this period."),
    )


def _participation_table(p: Row) -> Table:
    lines = [
        (_("Students"), "students"),
        (_("Staff"), "staff"),
        (_("Patients"), "patients"),
        (_("Residents"), "residents"),
        (_("Rescuers"), "rescuers"),
        (_("Others"), "others"),
        (_("Total"), "total"),
        (_("Completed drills"), "drills"),
        (_("Timed evacuations"), "timed_evacuations"),
        (_("Average evacuation time (s)"), "average_evacuation_seconds"),
    ]
    return Table(
        "participation",
        _("Participation"),
        [Column(_("Group")), Column(_("People"), True)],
        [_counts(label, [p[key]]) for label, key in lines],
    )


def _by_group_table(rows: list[Row]) -> Table:
    return Table(
        "by-group",
        _("Roll call by group"),
        [
            Column(_("Unit")),
            Column(_("Group")),
            Column(_("Drills"), True),
            Column(_("Expected"), True),
            Column(_("Present"), True),
            Column(_("Absent"), True),
        ],
        [
            [
                cell(r["unit"]),
                cell(r["group"]),
                cell(r["drills"]),
                cell(r["expected"]),
                cell(r["present"]),
                cell(r["absent"]),
            ]
            for r in rows
        ],
        empty=_("No roll call by group in this period."),
    )


def _evidence_text(item: Row) -> str:
    text = item.get("title") or item.get("summary") or ""
    if item.get("starts_at"):
        text += f" ({local_date(datetime.fromisoformat(item['starts_at']))})"
    if item.get("status") == DrillStatus.PLANNED.value:
        text += " " + pgettext("drill status", "planned")
    if item.get("credited_as") == "real_response":
        text += " — " + _("Real earthquake response credited in place of a drill: %(reason)s", reason=item["reason"])
    return text


def _key_county_table(rows: list[Row]) -> Table:
    return Table(
        "key-counties",
        _("Key-county obligations"),
        [
            Column(_("County")),
            Column(_("Obligation")),
            Column(_("Status this period")),
            Column(_("Status this year")),
            Column(_("Evidence")),
            Column(_("Missing")),
        ],
        [
            [
                cell(r["county"]),
                cell(r["title"]),
                cell(r["period_status_label"], tone=r["period_status"]),
                cell(r["status_label"], tone=r["status"]),
                linked([(_evidence_text(e), e.get("id") if e.get("type") == "drill" else None) for e in r["evidence"]]),
                cell("; ".join(r["missing_labels"]) if r["status"] != "met" else None),
            ]
            for r in rows
        ],
        empty=_("No key county in this region."),
    )


def _findings_table(items: list[Row]) -> Table:
    return Table(
        "findings",
        _("Findings and close-out"),
        [
            Column(_("Finding")),
            Column(_("Severity")),
            Column(_("Found on")),
            Column(_("Corrective action")),
            Column(_("Action status")),
            Column(_("Due on")),
            Column(_("Overdue")),
        ],
        [
            [
                cell(i["summary"]),
                cell(i["severity_label"]),
                cell(i["found_on"]),
                cell(i["action"]),
                cell(i["action_status_label"]),
                cell(i["due_on"]),
                cell(_("yes"), tone="missed") if i["overdue"] else cell(None),
            ]
            for i in items
        ],
        empty=_("No finding in this period."),
    )


def _close_out_table(findings: Row) -> Table:
    statuses = list(ActionStatus)
    rows = [
        _counts(r["label"], [*(r[s.value] for s in statuses), r["total"], r["overdue"]])
        for r in findings["by_severity"]
    ]
    totals = [sum(r[s.value] for r in findings["by_severity"]) for s in statuses]
    return Table(
        "close-out",
        _("Close-out by severity"),
        [
            Column(_("Severity")),
            *(Column(str(s.label), True) for s in statuses),
            Column(_("Total"), True),
            Column(_("Overdue"), True),
        ],
        rows + [_counts(_("Total"), [*totals, findings["total"], findings["overdue"]])],
    )


def _outreach_tables(outreach: Row) -> list[Table]:
    by_kind = outreach["by_kind"]
    return [
        Table(
            "outreach",
            _("Public education"),
            [Column(_("Kind")), Column(_("Activities"), True), Column(_("Audience reached"), True)],
            [_counts(r["label"], [r["activities"], r["audience"]]) for r in by_kind]
            + [_counts(_("Total"), [sum(r["activities"] for r in by_kind), sum(r["audience"] for r in by_kind)])],
        ),
        Table(
            "outreach-items",
            _("Outreach activities"),
            [Column(_("Activity")), Column(_("Kind")), Column(_("Held on")), Column(_("Audience"), True)],
            [
                [cell(i["title"]), cell(i["kind_label"]), cell(i["held_on"]), cell(i["audience"])]
                for i in outreach["items"]
            ],
            empty=_("No outreach activity in this period."),
        ),
    ]


def report_document(report: HalfYearReport) -> Document:
    return Document(
        _heading(report.region, report.year, report.half, report.period),
        [
            _by_form_table(report.by_form),
            _joint_table(report.joint),
            _by_unit_table(report.by_unit),
            _participation_table(report.participation),
            _by_group_table(report.by_group),
            _key_county_table(report.key_counties),
            _findings_table(report.findings["items"]),
            _close_out_table(report.findings),
            *_outreach_tables(report.outreach),
        ],
    )
