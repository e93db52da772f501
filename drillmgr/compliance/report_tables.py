"""The tables of the half-year report (`HalfYearReport.document`) that its page, print view, XLSX
and JSON all show, and its workbook."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from drillmgr.i18n import gettext as _
from drillmgr.compliance.labels import reporting_period_name
from drillmgr.i18n import pgettext
from drillmgr.compliance.periods import Period
from drillmgr.compliance.sheets import Cell, Column, Document, Table, Value, cell, linked
from drillmgr.enums import ActionStatus, DrillForm, DrillStatus
from drillmgr.formatting import local_date
from drillmgr.regions.models import Region

if TYPE_CHECKING:
    from drillmgr.compliance.reports import HalfYearReport, Row


def report_filename(report: HalfYearReport) -> str:
    return f"drillmgr-{report.region.code}-{report.year}-H{report.half}.xlsx"


def report_xlsx(report: HalfYearReport) -> bytes:
    """The report as a workbook a coordinator can send as is: one sheet per table of the page."""
    return report.document.xlsx()


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
