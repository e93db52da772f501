"""A drill's attachment as the API answers it (and as the audit log records it)."""

from drillmgr.api.fields import DateTime, EnumValue, Integer, List, Nested, Text
from drillmgr.api.schema import Schema
from drillmgr.enums import AttachmentKind


class AttachmentSchema(Schema):
    id = Integer()
    drill_id = Integer()
    kind = EnumValue(AttachmentKind)
    filename = Text()
    content_type = Text()
    size = Integer()
    sha256 = Text()
    uploaded_at = DateTime()


class AttachmentListSchema(Schema):
    items = List(Nested(AttachmentSchema))


ATTACHMENT = AttachmentSchema()
