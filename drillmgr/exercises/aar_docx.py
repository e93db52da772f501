"""The after-action report as the Word document a county files."""

import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask_babel import gettext as _

from drillmgr.exercises.aar import AfterAction, minutes, review_draft
from drillmgr.formatting import local_datetime

FONT = "SimSun"
PLAN_COLUMNS = (
    "objective",
    "capability",
    "rating",
    "strengths",
    "improvements",
    "corrective_action",
    "owner",
    "due_on",
)


def _table(document: Any, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    grid = document.add_table(rows=1, cols=len(headers))
    grid.style = "Table Grid"
    for cell, heading in zip(grid.rows[0].cells, headers, strict=True):
        cell.text = str(heading)
    for row in rows:
        for cell, value in zip(grid.add_row().cells, row, strict=True):
            cell.text = "" if value is None else str(value)


def _timeline(document: Any, report: AfterAction) -> None:
    document.add_heading(_("Inject timeline"), level=2)
    _table(
        document,
        [
            _("No."),
            _("Released"),
            _("Sent by"),
            _("Sent to"),
            _("Message"),
            _("Answers"),
            _("First answer"),
            _("Median"),
        ],
        [
            (
                r.inject.number,
                local_datetime(r.inject.released_at, "HH:mm:ss"),
                r.inject.sender,
                r.inject.recipient,
                r.inject.message,
                r.responses,
                minutes(r.first_seconds),
                minutes(r.median_seconds),
            )
            for r in report.timeline
        ],
    )


def _improvement_plan(document: Any, report: AfterAction) -> None:
    document.add_heading(_("Improvement plan (AAR/IP)"), level=2)
    _table(
        document,
        [
            _("Objective"),
            _("Capability"),
            _("Rating"),
            _("Strengths"),
            _("Areas for improvement"),
            _("Corrective action"),
            _("Owner"),
            _("Due"),
        ],
        [[row[name] for name in PLAN_COLUMNS] for row in report.improvement_plan],
    )


def report_docx(report: AfterAction) -> bytes:
    """Summary, objectives and ratings, the inject timeline, feedback, findings and the AAR/IP table."""
    from docx import Document
    from docx.oxml.ns import qn

    document = Document()
    style = document.styles["Normal"]
    style.font.name = FONT
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    drill = report.drill
    document.add_heading(_("After-action report (演练评估报告)") + f" · {drill.title}", level=1)
    document.add_paragraph(f"{drill.form.label} · {drill.organizer_name} · {local_datetime(drill.starts_at)}")
    document.add_heading(_("How the exercise went"), level=2)
    for line in review_draft(report)["execution"].splitlines():
        document.add_paragraph(line)
    _timeline(document, report)
    _improvement_plan(document, report)
    if report.findings:
        document.add_heading(_("Findings"), level=2)
        for finding in report.findings:
            document.add_paragraph(f"{finding.summary}（{finding.severity.label}）", style="List Bullet")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
