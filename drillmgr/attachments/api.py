"""A drill's attachments over the JSON API."""

from flask import jsonify, request, send_file, url_for
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.attachments import services as attachments
from drillmgr.attachments.schemas import ATTACHMENT, AttachmentListSchema, AttachmentSchema
from drillmgr.enums import AttachmentKind
from drillmgr.errors import ValidationError

register_schema("Attachment", AttachmentSchema, output=True)
register_schema("AttachmentList", AttachmentListSchema, output=True)
register_schema(
    "AttachmentUpload",
    {
        "type": "object",
        "required": ["file"],
        "description": "multipart/form-data; pdf, doc, docx, xls, xlsx, jpg, png, checked by extension and content",
        "properties": {"file": {"type": "string", "format": "binary"}, "kind": {"enum": AttachmentKind.values()}},
    },
)


@bp.get("/drills/<int:drill_id>/attachments")
@describe("The drill's files", response="AttachmentList")
@token_required
def list_attachments(drill_id: int):
    drill = access.get_visible_drill(current_api_user(), drill_id)
    return jsonify(AttachmentListSchema().dump({"items": attachments.drill_attachments(drill)}))


@bp.post("/drills/<int:drill_id>/attachments")
@describe(
    "Attach a file (plan, script, sign-in sheet, photo); size- and type-checked",
    request="AttachmentUpload",
    response="Attachment",
    created=True,
    request_content_type="multipart/form-data",
    conflicts=True,
)
@token_required
def add_attachment(drill_id: int):
    drill = access.get_visible_drill(current_api_user(), drill_id)
    upload = request.files.get("file")
    if upload is None:
        message = _("Send the file as multipart/form-data in the field `file`.")
        raise ValidationError(message, {"file": [message]})
    attachment = attachments.add_attachment(
        current_api_user(), drill, request.form.get("kind"), upload.stream, upload.filename or ""
    )
    return (
        jsonify(ATTACHMENT.dump(attachment)),
        201,
        {"Location": url_for("api.get_attachment", attachment_id=attachment.id)},
    )


@bp.get("/attachments/<int:attachment_id>")
@describe(
    "Download a file (only for those who may see its drill)",
    content_types=sorted({t.content_type for t in attachments.FILE_TYPES.values()}),
)
@token_required
def get_attachment(attachment_id: int):
    attachment = attachments.get_visible_attachment(current_api_user(), attachment_id)
    return send_file(
        attachments.attachment_path(attachment),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )


@bp.delete("/attachments/<int:attachment_id>")
@describe("Remove a file (409 once the drill's review is filed)", conflicts=True)
@token_required
def delete_attachment(attachment_id: int):
    actor = current_api_user()
    attachments.delete_attachment(actor, attachments.get_visible_attachment(actor, attachment_id))
    return "", 204
