"""The drill-day record a phone sends (multipart field `record`, JSON): what the service reads of it."""

from drillmgr.api.fields import DateTime, Integer, Text
from drillmgr.api.schema import Schema


class DrilldayRecordSchema(Schema):
    """Without `drill_id` the record is an unplanned evacuation drill; `version` is the drill's as the phone saw
    it. `groups` (the roll call by group) is checked by the participation it completes."""

    drill_id = Integer(minimum=1)
    version = Integer(minimum=1)
    started_at = DateTime(required=True)
    cleared_at = DateTime(required=True)
    notes = Text(max_length=5000, plain=True)
