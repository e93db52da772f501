"""POST /reminders: a coordinator reminds units (listed, or every unit with a status for a rule)."""

from flask import jsonify
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.compliance import nudges
from drillmgr.compliance.schemas import ReminderOutcomeSchema, ReminderSchema
from drillmgr.enums import ComplianceStatus


register_schema("ReminderInput", ReminderSchema, output=False)
register_schema("ReminderOutcome", ReminderOutcomeSchema, output=True)


@bp.post("/reminders")
@token_required
@describe(
    "Remind units' staff (in-app and mail), with the rule's status and an optional message",
    request="ReminderInput",
    response="ReminderOutcome",
)
def remind_units():
    user = current_api_user()
    access.require(access.can_send_reminders(user))
    p = ReminderSchema().read(json_body())
    org_ids = p.values.get("org_ids")
    rule = p.values.get("rule") or None
    statuses = p.values.get("statuses", [ComplianceStatus.AT_RISK, ComplianceStatus.MISSED])
    if org_ids is None and not rule:
        p.error("org_ids", _("Name the units, or a rule to remind its units by status."))
    p.check()
    if org_ids is None:
        org_ids = nudges.matching_units(user, rule, p.values.get("region") or None, statuses)
        if not org_ids:
            return jsonify(ReminderOutcomeSchema().dump(nudges.Outcome()))
    return jsonify(ReminderOutcomeSchema().dump(nudges.remind_units(user, org_ids, rule, p.values.get("message", ""))))
