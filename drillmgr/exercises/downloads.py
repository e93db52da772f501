"""The exercise's files as downloads, for the pages and the API alike: the MSEL workbook, the after-action report
as a Word document, and an inject's map or photo."""

from flask import Response, abort, send_file

from drillmgr.attachments.services import attachment_path
from drillmgr.drills.models import Drill
from drillmgr.exercises import aar, aar_docx, msel
from drillmgr.exercises.models import Inject

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def msel_file_response(drill: Drill) -> Response:
    return Response(
        msel.msel_xlsx(drill),
        mimetype=XLSX,
        headers={"Content-Disposition": f'attachment; filename="msel-{drill.id}.xlsx"'},
    )


def report_file_response(report: aar.AfterAction) -> Response:
    return Response(
        aar_docx.report_docx(report),
        mimetype=DOCX,
        headers={"Content-Disposition": f'attachment; filename="aar-{report.drill.id}.docx"'},
    )


def inject_file_response(inject: Inject) -> Response:
    """The inject's map or photo, to whoever may see the inject (players: once released); never cached."""
    attachment = inject.attachment
    if attachment is None:
        abort(404)
    response = send_file(
        attachment_path(attachment),
        mimetype=attachment.content_type,
        as_attachment=attachment.content_type == "application/pdf",
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
