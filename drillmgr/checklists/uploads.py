"""Photos on checklist answers and files on outreach activities, checked exactly as drill files are
(extension allow-list, size limit, first bytes) by drillmgr.attachments.services.read_upload."""
import hashlib

from flask_babel import gettext as _

from drillmgr.attachments.models import Attachment
from drillmgr.attachments.services import read_upload, stage
from drillmgr.enums import AttachmentKind
from drillmgr.errors import ValidationError
from drillmgr.extensions import db


def store(stream, filename: str, actor=None, images_only: bool = False, field: str = "file",
          **owner) -> Attachment:
    """Stages an accepted upload under UPLOAD_DIR (it takes its name when the row is committed) and
    adds (does not commit) its Attachment row; errors are reported under `field`."""
    try:
        name, file_type, content = read_upload(stream, filename)
    except ValidationError as error:
        raise ValidationError(error.detail, {field: [m for ms in error.errors.values() for m in ms]}) from None
    is_image = file_type.content_type.startswith("image/")
    if images_only and not is_image:
        message = _("Only photos (JPEG or PNG) can be attached here.")
        raise ValidationError(message, {field: [message]})
    attachment = Attachment(kind=AttachmentKind.PHOTO if is_image else AttachmentKind.OTHER, filename=name,
                            stored_name=stage(content), content_type=file_type.content_type, size=len(content),
                            sha256=hashlib.sha256(content).hexdigest(), uploaded_by_id=getattr(actor, "id", None),
                            **owner)
    db.session.add(attachment)
    return attachment
