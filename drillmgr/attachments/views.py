"""Uploading drill files from the drill page, downloading and removing them."""

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from drillmgr.access import services as access
from drillmgr.attachments import services
from drillmgr.attachments.forms import AttachmentForm, DeleteAttachmentForm
from drillmgr.attachments.models import Attachment
from drillmgr.drills import guards
from drillmgr.drills.models import Drill
from drillmgr.errors import Forbidden, ServiceError
from drillmgr.web import or_404

bp = Blueprint("attachments", __name__)


@bp.post("/drills/<int:drill_id>/attachments")
@login_required
def upload(drill_id: int):
    drill = or_404(access.get_visible_drill, current_user, drill_id)
    form = AttachmentForm()
    if not form.validate_on_submit():
        for messages in form.errors.values():
            for message in messages:
                flash(message, "danger")
        return redirect(url_for("drills.detail", drill_id=drill.id, _anchor="files"))
    upload_file = form.file.data
    return _files_step(
        drill,
        lambda: services.add_attachment(
            current_user, drill, form.kind.data, upload_file.stream, upload_file.filename or ""
        ),
        _l("The file was not added: %(reason)s"),
        _l("File “%(name)s” added."),
    )


@bp.get("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    attachment = or_404(services.get_visible_attachment, current_user, attachment_id)
    inline = attachment.content_type in ("image/jpeg", "image/png")
    response = send_file(
        services.attachment_path(attachment),
        mimetype=attachment.content_type,
        as_attachment=not inline,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/attachments/<int:attachment_id>/delete", methods=["GET", "POST"])
@login_required
def delete(attachment_id: int):
    """GET asks first (a page of its own, so it works without JavaScript); POST removes the file."""
    attachment = or_404(services.get_visible_attachment, current_user, attachment_id)
    drill = or_404(access.get_visible_drill, current_user, attachment.drill_id)
    if not access.can_edit_drill(current_user, drill):
        abort(403)
    form = DeleteAttachmentForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template(
            "drills/delete_attachment.html", attachment=attachment, drill=drill, form=form, filed=guards.is_filed(drill)
        )

    def remove() -> Attachment:
        services.delete_attachment(current_user, attachment)
        return attachment

    return _files_step(drill, remove, _l("The file was not removed: %(reason)s"), _l("File “%(name)s” removed."))


def _files_step(drill: Drill, step: Callable[[], Attachment], refused: str, done: str) -> ResponseReturnValue:
    """Adds or removes a file, says how it went (`refused` names the %(reason)s, `done` the file's %(name)s),
    and goes back to the drill's files."""
    try:
        attachment = step()
    except Forbidden:
        abort(403)
    except ServiceError as error:
        flash(str(refused) % {"reason": error.detail}, "danger")
    else:
        flash(str(done) % {"name": attachment.filename}, "success")
    return redirect(url_for("drills.detail", drill_id=drill.id, _anchor="files"))
