"""Files attached to drills: plan (方案), script (脚本), sign-in sheet, photos.

A file is accepted only when its extension is on the allow-list AND its first bytes say it is
that kind of file; it is stored under UPLOAD_DIR with a random name and served only to users
who may see its drill.
"""
import hashlib
import io
import secrets
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.attachments.models import Attachment
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.services import iso, require_not_filed
from drillmgr.enums import AttachmentKind, DrillStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"


@dataclass(frozen=True)
class FileType:
    content_type: str
    magic: bytes
    zip_folder: str | None = None  # OOXML documents are zips holding this folder


FILE_TYPES = {
    ".pdf": FileType("application/pdf", b"%PDF-"),
    ".doc": FileType("application/msword", OLE2),
    ".docx": FileType("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ZIP, "word/"),
    ".xls": FileType("application/vnd.ms-excel", OLE2),
    ".xlsx": FileType("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ZIP, "xl/"),
    ".jpg": FileType("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": FileType("image/jpeg", b"\xff\xd8\xff"),
    ".png": FileType("image/png", b"\x89PNG\r\n\x1a\n"),
}
ALLOWED_EXTENSIONS = ", ".join(sorted(FILE_TYPES))


def attachment_to_dict(attachment: Attachment) -> dict:
    return {"id": attachment.id, "drill_id": attachment.drill_id, "kind": attachment.kind.value,
            "filename": attachment.filename, "content_type": attachment.content_type, "size": attachment.size,
            "sha256": attachment.sha256, "uploaded_at": iso(attachment.uploaded_at)}


def upload_dir() -> Path:
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _clean_filename(filename: str) -> str:
    name = PurePath((filename or "").replace("\\", "/")).name.strip()
    return "".join(ch for ch in name if ch.isprintable())[:255]


def _sniff(file_type: FileType, content: bytes) -> bool:
    if not content.startswith(file_type.magic):
        return False
    if file_type.zip_folder is None:
        return True
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return any(name.startswith(file_type.zip_folder) for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def read_upload(stream, filename: str, limit: int | None = None) -> tuple[str, FileType, bytes]:
    """Reads at most limit+1 bytes and checks size, extension and content; returns (name, type, bytes)."""
    limit = limit or current_app.config["MAX_ATTACHMENT_BYTES"]
    name = _clean_filename(filename)
    if not name:
        raise ValidationError(_("Choose a file."), {"file": [_("Choose a file.")]})
    suffix = PurePath(name).suffix.lower()
    file_type = FILE_TYPES.get(suffix)
    if file_type is None:
        message = _("Files of type %(ext)s are not accepted; allowed: %(allowed)s.", ext=suffix or "?",
                    allowed=ALLOWED_EXTENSIONS)
        raise ValidationError(message, {"file": [message]})
    content = stream.read(limit + 1)
    if len(content) > limit:
        message = _("The file is too large: at most %(mb).1f MB.", mb=limit / 1024 / 1024)
        raise ValidationError(message, {"file": [message]})
    if not content:
        raise ValidationError(_("The file is empty."), {"file": [_("The file is empty.")]})
    if not _sniff(file_type, content):
        message = _("The file's content is not a %(ext)s file.", ext=suffix)
        raise ValidationError(message, {"file": [message]})
    return name, file_type, content


def add_attachment(actor, drill: Drill, kind: str | None, stream, filename: str) -> Attachment:
    """Stores an upload on `drill`; refuses it whole, with a specific message, when anything is wrong."""
    access.require(access.can_edit_drill(actor, drill), _("You cannot add files to this drill."))
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled and can no longer be changed."))
    require_not_filed(drill)
    try:
        kind_value = AttachmentKind(kind or AttachmentKind.OTHER.value)
    except ValueError:
        message = _("Unknown value %(value)s; allowed: %(allowed)s.", value=repr(kind),
                    allowed=", ".join(AttachmentKind.values()))
        raise ValidationError(message, {"kind": [message]}) from None
    name, file_type, content = read_upload(stream, filename)
    stored_name = secrets.token_hex(16)
    path = upload_dir() / stored_name
    path.write_bytes(content)
    attachment = Attachment(drill_id=drill.id, kind=kind_value, filename=name, stored_name=stored_name,
                            content_type=file_type.content_type, size=len(content),
                            sha256=hashlib.sha256(content).hexdigest(), uploaded_by_id=getattr(actor, "id", None),
                            uploaded_at=utcnow())
    db.session.add(attachment)
    try:
        db.session.flush()
        audit.record(actor, "attachment.add", "drill", drill.id, None, attachment_to_dict(attachment))
        db.session.commit()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return attachment


def drill_attachments(drill: Drill) -> list[Attachment]:
    return list(db.session.scalars(sa.select(Attachment).where(Attachment.drill_id == drill.id)
                                   .order_by(Attachment.kind, Attachment.uploaded_at)))


def get_visible_attachment(user, attachment_id: int) -> Attachment:
    """The attachment, if its drill is visible to `user` (double-blind rule included); else NotFound."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.drill_id is None:
        access.not_found(_("No such file."))
    access.get_visible_drill(user, attachment.drill_id)
    return attachment


def attachment_path(attachment: Attachment) -> Path:
    return upload_dir() / attachment.stored_name


def delete_attachment(actor, attachment: Attachment) -> None:
    drill = db.session.get(Drill, attachment.drill_id)
    access.require(access.can_edit_drill(actor, drill), _("You cannot remove files from this drill."))
    require_not_filed(drill)
    path = attachment_path(attachment)
    audit.record(actor, "attachment.delete", "drill", drill.id, attachment_to_dict(attachment), None)
    db.session.delete(attachment)
    db.session.commit()
    path.unlink(missing_ok=True)
