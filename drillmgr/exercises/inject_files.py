"""The map or photo an inject carries to the players. It is no drill file (the drill's file list never shows
it): until the release only the design's insiders may fetch it."""

from typing import IO

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from drillmgr.accounts.models import User
from drillmgr.attachments.services import upload_dir
from drillmgr.audit import services as audit
from drillmgr.checklists.uploads import store
from drillmgr.errors import ValidationError
from drillmgr.exercises.checks import drill_of, require_design, require_unreleased
from drillmgr.exercises.models import Inject
from drillmgr.extensions import db

MAP_OR_PHOTO = ("image/jpeg", "image/png", "application/pdf")
REMOVED_FILES = "exercises.removed_files"


def detach(inject: Inject) -> None:
    """Drops the inject's file row; the stored file goes when the unit of work is committed."""
    attachment = inject.attachment
    if attachment is None:
        return
    inject.attachment = None
    db.session.delete(attachment)
    db.session().info.setdefault(REMOVED_FILES, []).append(attachment.stored_name)


@sa.event.listens_for(Session, "after_commit")
def _remove_detached(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the rows are not deleted yet
        return
    for stored_name in session.info.pop(REMOVED_FILES, []):
        (upload_dir() / stored_name).unlink(missing_ok=True)


@sa.event.listens_for(Session, "after_transaction_end")
def _keep_detached(session: Session, transaction: sa.orm.SessionTransaction) -> None:
    """A unit rolled back deleted no row: its files stay."""
    if transaction.parent is None:
        session.info.pop(REMOVED_FILES, None)


def attach_file(actor: User, inject: Inject, stream: IO[bytes], filename: str) -> Inject:
    """A map or photo (JPEG, PNG or PDF) sent with the inject's message, replacing any before."""
    require_design(actor, drill_of(inject))
    require_unreleased(inject)
    attachment = store(stream, filename, actor)
    if attachment.content_type not in MAP_OR_PHOTO:
        db.session.expunge(attachment)
        message = _("Only a map or photo (JPEG, PNG or PDF) can go with an inject.")
        raise ValidationError(message, {"file": [message]})
    detach(inject)
    inject.attachment = attachment
    inject.version += 1
    db.session.flush()
    audit.record(actor, "inject.attach", "inject", inject.id, None, {"filename": attachment.filename})
    return inject
