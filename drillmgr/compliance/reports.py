"""The half-year completion report behind the 7 June and 8 November deadlines, as data and as XLSX.

The period is a reporting half (see periods.reporting_half): H1 = 9 November of the year before ..
7 June, H2 = 8 June .. 8 November. Every section is one aggregate query over the region's subtree.
"""
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

import sqlalchemy as sa
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.compliance.periods import Period, local_today, reporting_half
from drillmgr.compliance.services import evaluate, subtree_list
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill, Participation
from drillmgr.enums import ActionStatus, DrillForm, DrillStatus, JointWith, OutreachKind, Severity
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding
from drillmgr.orgs.models import Organisation
from drillmgr.outreach.models import OutreachActivity
from drillmgr.regions.models import Region

KEY_COUNTY_RULES = ("key-county-comprehensive-live", "key-county-double-blind-tabletop")
LIST_LIMIT = 500
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class HalfYearReport:
    region: Region
    year: int
    half: int
    period: Period
    generated_at: datetime
    by_form: list[dict]
    joint: dict
    by_unit: list[dict]
    participation: dict
    key_counties: list[dict]
    findings: dict
    outreach: dict

    def to_dict(self) -> dict:
        return {
            "region": {"code": self.region.code, "name": self.region.name}, "year": self.year, "half": self.half,
            "period": {"from": self.period.first_day.isoformat(), "to": self.period.last_day.isoformat()},
            "generated_at": self.generated_at.isoformat(), "drills_by_form": self.by_form, "joint_drills": self.joint,
            "drills_by_unit": self.by_unit, "participation": self.participation,
            "key_county_obligations": self.key_counties, "findings": self.findings, "outreach": self.outreach,
        }


def _drills_in(region_code: str, period: Period, user, now):
    return sa.and_(Drill.region_code.in_(subtree_list(region_code)), Drill.starts_at >= period.start,
                   Drill.starts_at < period.end, access.compliance_drill_clause(user, now))


def _by_form(where) -> tuple[list[dict], dict]:
    counts = {(form, status): n for form, status, n in db.session.execute(
        sa.select(Drill.form, Drill.status, sa.func.count()).where(where).group_by(Drill.form, Drill.status))}
    rows = [{"form": form.value, "label": str(form.label),
             **{status.value: counts.get((form, status), 0) for status in DrillStatus}} for form in DrillForm]
    special = db.session.execute(sa.select(
        sa.func.count(sa.case((Drill.joint_with == JointWith.CORPS, Drill.id))),
        sa.func.count(sa.case((Drill.joint_with == JointWith.MILITARY, Drill.id))),
        sa.func.count(sa.case((Drill.double_blind.is_(True), Drill.id))),
        sa.func.count(sa.case((Drill.real_response.is_(True), Drill.id))),
    ).where(where, Drill.status == DrillStatus.COMPLETED)).one()
    return rows, {"corps": special[0], "military": special[1], "double_blind": special[2], "real_response": special[3]}


def _by_unit(where) -> list[dict]:
    total = sum(getattr(Participation, name) for name in Participation.COUNT_FIELDS)
    organiser = sa.func.coalesce(Organisation.name, Region.name)
    rows = db.session.execute(
        sa.select(organiser.label("organiser"), Organisation.kind,
                  *[sa.func.count(sa.case((Drill.form == form, Drill.id))).label(form.value) for form in DrillForm],
                  sa.func.coalesce(sa.func.sum(total), 0).label("participants"),
                  sa.func.min(Participation.evacuation_seconds).label("fastest"))
        .select_from(Drill)
        .outerjoin(Organisation, Organisation.id == Drill.organizer_org_id)
        .outerjoin(Region, Region.code == Drill.organizer_region_code)
        .outerjoin(Participation, Participation.drill_id == Drill.id)
        .where(where, Drill.status == DrillStatus.COMPLETED)
        .group_by(organiser, Organisation.kind).order_by(organiser).limit(LIST_LIMIT))
    return [{"organiser": r.organiser, "kind": r.kind.value if r.kind else "region",
             **{form.value: getattr(r, form.value) for form in DrillForm},
             "participants": int(r.participants), "fastest_evacuation_seconds": r.fastest} for r in rows]


def _participation(where) -> dict:
    fields = Participation.COUNT_FIELDS
    row = db.session.execute(
        sa.select(*[sa.func.coalesce(sa.func.sum(getattr(Participation, f)), 0) for f in fields],
                  sa.func.count(Participation.evacuation_seconds), sa.func.avg(Participation.evacuation_seconds),
                  sa.func.count(Drill.id))
        .join(Drill, Drill.id == Participation.drill_id).where(where, Drill.status == DrillStatus.COMPLETED)).one()
    counts = {f: int(v) for f, v in zip(fields, row[:len(fields)])}
    return {**counts, "total": sum(counts.values()), "drills": row[-1], "timed_evacuations": row[len(fields)],
            "average_evacuation_seconds": round(float(row[len(fields) + 1]), 1) if row[len(fields) + 1] else None}


def _key_counties(region_code, year, half, user, now) -> list[dict]:
    rows = []
    period_label = reporting_half(year, half).label
    for rule_result in evaluate(year, region_code, now=now, user=user, rule_keys=KEY_COUNTY_RULES):
        for r in rule_result.results:
            slots = [s for s in r.slots if s.label == period_label] or r.slots
            rows.append({"rule": rule_result.key, "title": rule_result.title, "county": r.name,
                         "county_code": r.subject_id, "status": r.status.value,
                         "period_status": slots[0].status.value if slots else r.status.value,
                         "evidence": [e for s in slots for e in s.evidence], "missing": r.missing})
    return rows


def _findings(region_code, period: Period, today) -> dict:
    where = sa.and_(Finding.region_code.in_(subtree_list(region_code)),
                    Finding.found_on >= period.first_day, Finding.found_on <= period.last_day)
    grid = {(sev, status): n for sev, status, n in db.session.execute(
        sa.select(Finding.severity, CorrectiveAction.status, sa.func.count())
        .join(CorrectiveAction, CorrectiveAction.finding_id == Finding.id).where(where)
        .group_by(Finding.severity, CorrectiveAction.status))}
    by_severity = [{"severity": sev.value, "label": str(sev.label),
                    **{st.value: grid.get((sev, st), 0) for st in ActionStatus}} for sev in Severity]
    overdue = sa.and_(CorrectiveAction.status != ActionStatus.VERIFIED, CorrectiveAction.due_on < today)
    items = db.session.execute(
        sa.select(Finding.id, Finding.summary, Finding.severity, Finding.found_on, CorrectiveAction.status,
                  CorrectiveAction.due_on, overdue.label("overdue"))
        .join(CorrectiveAction, CorrectiveAction.finding_id == Finding.id).where(where)
        .order_by(Finding.found_on, Finding.id).limit(LIST_LIMIT))
    listed = [{"id": i.id, "summary": i.summary, "severity": i.severity.value, "severity_label": str(i.severity.label),
               "found_on": i.found_on.isoformat(), "action_status": i.status.value,
               "action_status_label": str(i.status.label), "due_on": i.due_on.isoformat(),
               "overdue": bool(i.overdue)} for i in items]
    total = sum(sum(row[st.value] for st in ActionStatus) for row in by_severity)
    verified = sum(row[ActionStatus.VERIFIED.value] for row in by_severity)
    return {"total": total, "verified": verified, "overdue": sum(1 for i in listed if i["overdue"]),
            "by_severity": by_severity, "items": listed}


def _outreach(region_code, period: Period) -> dict:
    where = sa.and_(OutreachActivity.region_code.in_(subtree_list(region_code)),
                    OutreachActivity.held_on >= period.first_day, OutreachActivity.held_on <= period.last_day)
    counts = {kind: (n, audience) for kind, n, audience in db.session.execute(
        sa.select(OutreachActivity.kind, sa.func.count(), sa.func.coalesce(sa.func.sum(OutreachActivity.audience), 0))
        .where(where).group_by(OutreachActivity.kind))}
    by_kind = [{"kind": k.value, "label": str(k.label), "activities": counts.get(k, (0, 0))[0],
                "audience": int(counts.get(k, (0, 0))[1])} for k in OutreachKind]
    items = [{"id": a.id, "kind": a.kind.value, "title": a.title, "held_on": a.held_on.isoformat(),
              "setting": a.setting.value if a.setting else None,
              "observance_day": a.observance_day.value if a.observance_day else None, "audience": a.audience}
             for a in db.session.scalars(sa.select(OutreachActivity).where(where)
                                         .order_by(OutreachActivity.held_on, OutreachActivity.id).limit(LIST_LIMIT))]
    return {"by_kind": by_kind, "items": items}


def half_year_report(user, region_code: str, year: int, half: int, now: datetime | None = None) -> HalfYearReport:
    """The report for `region_code` (its whole subtree), `year` and `half` (1 or 2), as `user` may see it."""
    now = now or utcnow()
    region = db.session.get(Region, region_code)
    if region is None:
        access.not_found(_("No such region."))
    if user is not None:
        access.require(access.can_view_compliance(user, region_code))
    period = reporting_half(year, half)
    where = _drills_in(region_code, period, user, now)
    by_form, joint = _by_form(where)
    return HalfYearReport(region=region, year=year, half=half, period=period, generated_at=now,
                          by_form=by_form, joint=joint, by_unit=_by_unit(where), participation=_participation(where),
                          key_counties=_key_counties(region_code, year, half, user, now),
                          findings=_findings(region_code, period, local_today(now)),
                          outreach=_outreach(region_code, period))


def report_filename(report: HalfYearReport) -> str:
    return f"drillmgr-{report.region.code}-{report.year}-H{report.half}.xlsx"


def report_xlsx(report: HalfYearReport) -> bytes:
    """The report as a workbook a coordinator can send as is: one sheet per section."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    from drillmgr.compliance.labels import missing_label, status_label

    book = Workbook()
    bold = Font(bold=True)

    def sheet(title, header, rows, first=False):
        ws = book.active if first else book.create_sheet()
        ws.title = title[:31]
        ws.append([_("%(region)s, %(year)d, reporting period %(half)d (%(first)s – %(last)s)",
                     region=report.region.name, year=report.year, half=report.half,
                     first=report.period.first_day.isoformat(), last=report.period.last_day.isoformat())])
        ws["A1"].font = bold
        ws.append(header)
        for cell in ws[2]:
            cell.font = bold
        for row in rows:
            ws.append(row)
        for index, column in enumerate(ws.iter_cols(min_row=2), start=1):
            width = max((len(str(c.value)) for c in column if c.value is not None), default=8)
            ws.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = "A3"

    statuses = [s.value for s in DrillStatus]
    sheet(_("Drills by form"), [_("Form"), _("Completed"), _("Planned"), _("Cancelled")],
          [[r["label"], *[r[s] for s in statuses]] for r in report.by_form]
          + [[_("Joint with the Corps"), report.joint["corps"]],
             [_("Joint with the military"), report.joint["military"]],
             [_("Double-blind"), report.joint["double_blind"]],
             [_("Real earthquake responses"), report.joint["real_response"]]],
          first=True)
    sheet(_("Drills by unit"), [_("Organiser"), _("Kind"), *[str(f.label) for f in DrillForm], _("Participants"),
                                _("Fastest evacuation (s)")],
          [[r["organiser"], r["kind"], *[r[f.value] for f in DrillForm], r["participants"],
            r["fastest_evacuation_seconds"]] for r in report.by_unit])
    p = report.participation
    sheet(_("Participation"), [_("Group"), _("People")],
          [[_("Students"), p["students"]], [_("Staff"), p["staff"]], [_("Patients"), p["patients"]],
           [_("Residents"), p["residents"]], [_("Rescuers"), p["rescuers"]], [_("Others"), p["others"]],
           [_("Total"), p["total"]], [_("Completed drills"), p["drills"]],
           [_("Timed evacuations"), p["timed_evacuations"]],
           [_("Average evacuation time (s)"), p["average_evacuation_seconds"]]])
    sheet(_("Key-county obligations"), [_("County"), _("Obligation"), _("Status this period"), _("Status this year"),
                                        _("Evidence"), _("Missing")],
          [[r["county"], r["title"], status_label(r["period_status"]), status_label(r["status"]),
            "; ".join(f"{e.get('title', '')} ({e.get('starts_at', '')[:10]})" for e in r["evidence"]),
            "; ".join(missing_label(m) for m in r["missing"])] for r in report.key_counties])
    f = report.findings
    sheet(_("Findings and close-out"), [_("Finding"), _("Severity"), _("Found on"), _("Corrective action"), _("Due on"),
                                        _("Overdue")],
          [[i["summary"], i["severity_label"], i["found_on"], i["action_status_label"], i["due_on"],
            _("yes") if i["overdue"] else ""] for i in f["items"]]
          + [[], [_("Total"), f["total"]], [_("Verified and closed"), f["verified"]], [_("Overdue"), f["overdue"]]])
    sheet(_("Outreach activities"), [_("Activity"), _("Kind"), _("Held on"), _("Audience")],
          [[i["title"], str(OutreachKind(i["kind"]).label), i["held_on"], i["audience"]]
           for i in report.outreach["items"]]
          + [[]] + [[r["label"], r["activities"], "", r["audience"]] for r in report.outreach["by_kind"]])
    out = BytesIO()
    book.save(out)
    return out.getvalue()
