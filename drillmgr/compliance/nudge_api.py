"""POST /reminders: a coordinator reminds units (listed, or every unit with a status for a rule)."""
from flask import jsonify
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.compliance import nudges
from drillmgr.enums import ComplianceStatus
from drillmgr.validation import Payload

ID_LIST = {"type": "array", "items": {"type": "integer"}}
register_schema("ReminderInput", {
    "type": "object",
    "description": "Either org_ids, or rule with statuses (and region): every unit whose status for the rule "
                   "is one of them. A unit is reminded at most once per rule per day (Beijing time).",
    "properties": {
        "org_ids": {**ID_LIST, "maxItems": nudges.MAX_UNITS},
        "rule": {"type": "string", "maxLength": 64, "description": "A rule key, e.g. school-evacuation"},
        "region": {"type": "string", "maxLength": 12},
        "statuses": {"type": "array", "items": {"enum": ComplianceStatus.values()},
                     "description": "Default: at_risk and missed"},
        "message": {"type": "string", "maxLength": nudges.MESSAGE_LIMIT},
    },
})
register_schema("ReminderOutcome", {
    "type": "object", "required": ["reminded", "already_reminded", "without_staff", "notifications"],
    "properties": {"reminded": ID_LIST, "already_reminded": ID_LIST, "without_staff": ID_LIST,
                   "notifications": {"type": "integer"}},
})


@bp.post("/reminders")
@token_required
@describe("Remind units' staff (in-app and mail), with the rule's status and an optional message",
          request="ReminderInput", response="ReminderOutcome")
def remind_units():
    user = current_api_user()
    access.require(access.can_send_reminders(user))
    p = Payload(json_body())
    org_ids = p.id_list("org_ids", default=None)
    rule = p.string("rule", max_length=64, default="") or None
    region = p.string("region", max_length=12, default="") or None
    statuses = p.choices("statuses", ComplianceStatus, default=[ComplianceStatus.AT_RISK, ComplianceStatus.MISSED])
    message = p.string("message", max_length=nudges.MESSAGE_LIMIT, default="")
    if org_ids is None and not rule:
        p.error("org_ids", _("Name the units, or a rule to remind its units by status."))
    p.check()
    if org_ids is None:
        org_ids = nudges.matching_units(user, rule, region, statuses)
        if not org_ids:
            return jsonify(nudges.Outcome().to_dict())
    return jsonify(nudges.remind_units(user, org_ids, rule, message).to_dict())
