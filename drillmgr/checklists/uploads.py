"""Photos on checklist answers and files on outreach activities, checked exactly as drill files are
(extension allow-list, size limit, first bytes) by drillmgr.attachments.services.read_upload."""

from typing import IO

from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.attachments.models import Attachment
from drillmgr.attachments.services import new_attachment, read_upload
from drillmgr.errors import ValidationError


def store(
    stream: IO[bytes], filename: str, actor: User, images_only: bool = False, field: str = "file", **owner: int
) -> Attachment:
    """Stages an accepted upload under UPLOAD_DIR (it takes its name when the row is committed) and
    adds (does not commit) its Attachment row; errors are reported under `field`."""
    try:
        upload = read_upload(stream, filename)
    except ValidationError as error:
        raise ValidationError(error.detail, {field: [m for ms in error.errors.values() for m in ms]}) from None
    if images_only and not upload[1].content_type.startswith("image/"):
        message = _("Only photos (JPEG or PNG) can be attached here.")
        raise ValidationError(message, {field: [message]})
    return new_attachment(actor, upload, owner)
