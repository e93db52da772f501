from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField

from drillmgr.enums import AttachmentKind


class AttachmentForm(FlaskForm):
    kind = SelectField(_l("Kind of file"), choices=AttachmentKind.choices)
    file = FileField(_l("File (PDF, Word, Excel, JPG or PNG)"), validators=[FileRequired()])


class DeleteAttachmentForm(FlaskForm):
    """Only the CSRF token: removing a file is confirmed on a page of its own."""
