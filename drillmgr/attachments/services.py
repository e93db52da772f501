"""Files attached to drills: plan (方案), script (脚本), sign-in sheet, photos; and the evidence
that a corrective action was carried out.

A file is accepted only when its extension is on the allow-list AND its first bytes say it is
that kind of file; it is stored under UPLOAD_DIR with a random name and served only to users
who may see its drill (evidence: its finding). A file is written under a temporary name and
takes its real one only once its row is committed; what a crash leaves behind is swept.
"""

import hashlib
import io
import os
import re
import secrets
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePath
from typing import IO

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session, SessionTransaction

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments.schemas import ATTACHMENT
from drillmgr.attachments.models import Attachment
from drillmgr.audit import services as audit
from drillmgr.db import utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import ActionStatus, AttachmentKind, DrillStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.findings.models import CorrectiveAction, Finding

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
Upload = tuple[str, FileType, bytes]  # an accepted file: its cleaned name, its type, its content
MAX_FILENAME = 255
PART = ".part"
STORED_NAME = re.compile(r"[0-9a-f]{32}(\.part)?")
# A file younger than this may belong to an upload still in flight: the sweep leaves it alone.
ORPHAN_GRACE = timedelta(hours=1)


def upload_dir() -> Path:
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _clean_filename(filename: str) -> str:
    name = PurePath((filename or "").replace("\\", "/")).name.strip()
    return "".join(ch for ch in name if ch.isprintable())


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


def read_upload(stream: IO[bytes], filename: str, limit: int | None = None) -> Upload:
    """Reads at most limit+1 bytes and checks size, extension and content; returns (name, type, bytes)."""
    limit = limit or current_app.config["MAX_ATTACHMENT_BYTES"]
    name = _clean_filename(filename)
    if not name:
        raise ValidationError(_("Choose a file."), {"file": [_("Choose a file.")]})
    if len(name) > MAX_FILENAME:
        message = _(
            "The file name is too long: at most %(n)d characters. Rename the file and try again.", n=MAX_FILENAME
        )
        raise ValidationError(message, {"file": [message]})
    suffix = PurePath(name).suffix.lower()
    file_type = FILE_TYPES.get(suffix)
    if file_type is None:
        message = _(
            "Files of type %(ext)s are not accepted; allowed: %(allowed)s.",
            ext=suffix or "?",
            allowed=ALLOWED_EXTENSIONS,
        )
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


def new_attachment(
    actor: User, upload: Upload, owner: dict[str, int], kind: AttachmentKind | None = None
) -> Attachment:
    """Stages an accepted upload (see stage) and adds its row, on the drill, activity, run or action `owner`
    names; a photo or another file unless `kind` says."""
    name, file_type, content = upload
    if kind is None:
        kind = AttachmentKind.PHOTO if file_type.content_type.startswith("image/") else AttachmentKind.OTHER
    attachment = Attachment(
        kind=kind,
        filename=name,
        stored_name=stage(content),
        content_type=file_type.content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by_id=actor.id,
        uploaded_at=utcnow(),
        **owner,
    )
    db.session.add(attachment)
    return attachment


def add_attachment(actor: User, drill: Drill, kind: str | None, stream: IO[bytes], filename: str) -> Attachment:
    """Stores an upload on `drill`; refuses it whole, with a specific message, when anything is wrong."""
    access.require(access.can_edit_drill(actor, drill), _("You cannot add files to this drill."))
    if drill.status == DrillStatus.CANCELLED:
        raise Conflict(_("This drill is cancelled and can no longer be changed."))
    require_not_filed(drill)
    try:
        kind_value = AttachmentKind(kind or AttachmentKind.OTHER.value)
    except ValueError:
        message = _(
            "Unknown value %(value)s; allowed: %(allowed)s.",
            value=repr(kind),
            allowed=", ".join(AttachmentKind.values()),
        )
        raise ValidationError(message, {"kind": [message]}) from None
    attachment = new_attachment(actor, read_upload(stream, filename), {"drill_id": drill.id}, kind_value)
    db.session.flush()
    audit.record(actor, "attachment.add", "drill", drill.id, None, ATTACHMENT.dump(attachment))
    return attachment


# --- storing: a temporary name until the row is committed, removing once its deletion is -----


def stage(content: bytes) -> str:
    """Writes `content` as <name>.part and returns <name>, the attachment's stored_name. The file is
    renamed to <name> when the session commits and removed when it rolls back; if the process dies
    in between, sweep_orphans finishes the job."""
    stored_name = secrets.token_hex(16)
    path = upload_dir() / (stored_name + PART)
    with open(path, "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    session = db.session()
    session.connection()  # a transaction is open, so that its commit or rollback settles the file
    session.info.setdefault("staged_uploads", []).append(path)
    return stored_name


def remove_when_kept(paths: list[Path]) -> None:
    """Removes these stored files once the current unit of work is committed; a rollback keeps them."""
    session = db.session()
    session.connection()  # a transaction is open, so that its commit or rollback settles the files
    session.info.setdefault("removed_uploads", []).extend(paths)


@sa.event.listens_for(Session, "after_commit")
def _keep_staged(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the rows are not committed yet
        return
    for path in session.info.pop("staged_uploads", []):
        path.rename(path.with_suffix(""))
    for path in session.info.pop("removed_uploads", []):
        path.unlink(missing_ok=True)


@sa.event.listens_for(Session, "after_transaction_end")
def _drop_staged(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without its commit (rolled back, or its session closed) keeps no new file, and
    every file it meant to remove."""
    if transaction.parent is not None:  # a savepoint, or a flush's inner transaction
        return
    for path in session.info.pop("staged_uploads", []):
        path.unlink(missing_ok=True)
    session.info.pop("removed_uploads", None)


def sweep_orphans(now: datetime | None = None) -> tuple[int, int]:
    """Removes stored files that no attachment names (an upload cut short, a row deleted before its
    file), and gives a committed row's file left under its temporary name its real one. Files younger
    than ORPHAN_GRACE are left alone. Idempotent; returns (removed, completed)."""
    folder = upload_dir()
    cutoff = (now or utcnow()) - ORPHAN_GRACE
    old = [
        path
        for path in folder.iterdir()
        if STORED_NAME.fullmatch(path.name)
        and path.is_file()
        and datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) < cutoff
    ]
    names = sorted({path.name.removesuffix(PART) for path in old})
    known: set[str] = set()
    for start in range(0, len(names), 500):
        known.update(
            db.session.scalars(
                sa.select(Attachment.stored_name).where(Attachment.stored_name.in_(names[start : start + 500]))
            )
        )
    removed = completed = 0
    for path in old:
        name = path.name.removesuffix(PART)
        if name not in known:
            path.unlink(missing_ok=True)
            removed += 1
        elif path.name.endswith(PART):
            final = folder / name
            if final.exists():
                path.unlink(missing_ok=True)
            else:
                path.rename(final)
            completed += 1
    return removed, completed


def drill_attachments(drill: Drill) -> list[Attachment]:
    return list(
        db.session.scalars(
            sa.select(Attachment)
            .where(Attachment.drill_id == drill.id)
            .order_by(Attachment.kind, Attachment.uploaded_at)
        )
    )


def get_visible_attachment(user: User, attachment_id: int) -> Attachment:
    """The attachment, if its drill (evidence: its finding) is visible to `user`, double-blind rule
    included; else NotFound."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is not None and attachment.drill_id is not None:
        access.get_visible_drill(user, attachment.drill_id)
    elif attachment is not None and attachment.corrective_action_id is not None:
        action = db.session.get(CorrectiveAction, attachment.corrective_action_id)
        assert action is not None  # corrective_action_id is a foreign key
        access.get_visible_finding(user, action.finding_id)
    else:
        access.not_found(_("No such file."))
    return attachment


def attachment_path(attachment: Attachment) -> Path:
    return upload_dir() / attachment.stored_name


def delete_attachment(actor: User, attachment: Attachment) -> None:
    if attachment.drill_id is None:
        access.deny()  # evidence stays with its corrective action
    drill = db.session.get(Drill, attachment.drill_id)
    assert drill is not None  # drill_id is a foreign key
    access.require(access.can_edit_drill(actor, drill), _("You cannot remove files from this drill."))
    require_not_filed(drill)
    audit.record(actor, "attachment.delete", "drill", drill.id, ATTACHMENT.dump(attachment), None)
    db.session.delete(attachment)
    remove_when_kept([attachment_path(attachment)])


# --- evidence on corrective actions ----------------------------------------------------------

MAX_EVIDENCE_FILES = 10


def evidence_of(action_ids: Iterable[int]) -> dict[int, list[Attachment]]:
    """The evidence of each action, oldest first, in one query."""
    found: dict[int, list[Attachment]] = {}
    ids = list(action_ids)
    if ids:
        for attachment in db.session.scalars(
            sa.select(Attachment)
            .where(Attachment.corrective_action_id.in_(ids))
            .order_by(Attachment.uploaded_at, Attachment.id)
        ):
            assert attachment.corrective_action_id is not None  # chosen by it above
            found.setdefault(attachment.corrective_action_id, []).append(attachment)
    return found


def add_evidence(actor: User, finding: Finding, files: Iterable[tuple[IO[bytes], str]]) -> list[Attachment]:
    """Stores photos and files (a list of (stream, filename)) showing that the finding's corrective
    action was carried out. All or nothing: one refused file refuses the upload, naming it."""
    action = finding.corrective_action
    access.require(
        access.can_add_evidence(actor, finding),
        _("Only the owner of the corrective action, or whoever manages its finding, can add evidence."),
    )
    if action.status == ActionStatus.VERIFIED:
        raise Conflict(_("This corrective action is verified and closed; it cannot be changed."))
    files = [(stream, filename) for stream, filename in files if filename]
    if not files:
        raise ValidationError(_("Choose a file."), {"files": [_("Choose a file.")]})
    if len(files) > MAX_EVIDENCE_FILES:
        message = _("At most %(n)d files at once.", n=MAX_EVIDENCE_FILES)
        raise ValidationError(message, {"files": [message]})
    accepted: list[Upload] = []
    errors: list[str] = []
    for stream, filename in files:
        try:
            accepted.append(read_upload(stream, filename))
        except ValidationError as error:
            errors.append(_("%(name)s: %(reason)s", name=_clean_filename(filename)[:80], reason=error.detail))
    if errors:
        raise ValidationError(_("No file was added: %(reasons)s", reasons=" ".join(errors)), {"files": errors})
    added = [new_attachment(actor, upload, {"corrective_action_id": action.id}) for upload in accepted]
    db.session.flush()
    audit.record(
        actor,
        "action.evidence",
        "corrective_action",
        action.id,
        None,
        {"files": [a.filename for a in added], "ids": [a.id for a in added]},
    )
    return added
