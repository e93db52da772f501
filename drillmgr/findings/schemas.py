"""The review, finding and corrective action resources: what the API and the services read, and what the API
answers."""

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from drillmgr.api.fields import Boolean, Date, DateTime, EnumValue, Id, Integer, List, Nested, Text
from drillmgr.api.schema import Schema
from drillmgr.audit.models import AuditEntry
from drillmgr.enums import ActionStatus, AttachmentKind, FilingStatus, FindingCategory, Severity
from drillmgr.findings.history import audit_reason
from drillmgr.findings.models import Finding, Review
from drillmgr.localtime import local_today

MAX_TEXT = 10_000
MAX_REASON = 2000


class CorrectiveActionSchema(Schema):
    """A finding's corrective action; `status` and `reason` move it one step (PATCH)."""

    description = Text(required=True, max_length=MAX_TEXT)
    owner = Id(required=True, attribute="owner_id", metadata={"description": "user id"})
    due_on = Date(required=True)
    status = EnumValue(ActionStatus)
    reason = Text(
        max_length=MAX_REASON, load_only=True, metadata={"description": "what is still missing, when sending it back"}
    )
    overdue = Boolean(dump_only=True)
    done_at = DateTime(dump_only=True, allow_none=True)
    verified_at = DateTime(dump_only=True, allow_none=True)
    verified_by = Integer(dump_only=True, allow_none=True, attribute="verified_by_id")

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "overdue":
            return obj.is_overdue(local_today())
        return super().get_attribute(obj, attr, default)


class DrillTitleSchema(Schema):
    id = Integer(dump_only=True)
    title = Text(dump_only=True)


class FindingSchema(Schema):
    class Meta:
        description = (
            "found_on defaults to the day the drill ended; due_on may not be before it. A change takes "
            "any subset. Status steps: the owner moves open → in_progress → done; someone else who "
            "manages the drill or coordinates its region verifies (done → verified) or sends it back "
            "(done → in_progress, with a reason). Send `version` to be told of a concurrent change (409)."
        )

    id = Integer(dump_only=True)
    drill_id = Integer(dump_only=True, allow_none=True)
    checklist_run_id = Integer(dump_only=True, allow_none=True)
    org_id = Integer(dump_only=True, allow_none=True)
    region_code = Text(dump_only=True)
    summary = Text(required=True, max_length=500)
    severity = EnumValue(Severity, required=True)
    category = EnumValue(FindingCategory, required=True)
    found_on = Date()
    version = Integer(minimum=0)
    corrective_action = Nested(
        CorrectiveActionSchema,
        required=True,
        error_messages={"type": _l("Must be an object with description, owner and due_on.")},
    )
    drill = Nested(
        DrillTitleSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "in lists: the drill's id and title"},
    )


FINDING = FindingSchema(exclude=("drill",))  # one finding's answer; a list's items name their drill


class FilingStepSchema(Schema):
    """A step of the review's filing, as its history answers it (an audit entry)."""

    at = DateTime(dump_only=True)
    step = Text(dump_only=True, metadata={"enum": ["submit", "accept", "return", "reopen"]})
    by = Integer(dump_only=True, allow_none=True, attribute="user_id")
    reason = Text(dump_only=True)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "step":
            return obj.action.removeprefix("review.")
        if attr == "reason":
            return audit_reason(obj)
        return super().get_attribute(obj, attr, default)


@dataclass
class ReviewRecord:
    """What the API answers of a drill's review: the review (an unsaved empty draft at version 0 while the drill
    has none), the drill's findings and the filing's steps."""

    review: Review
    findings: list[Finding]
    history: list[AuditEntry]


class ReviewSchema(Schema):
    class Meta:
        description = "Fields left out keep their value. `version` is the one last read (0 for a new review)."

    drill_id = Integer(dump_only=True)
    execution = Text(max_length=MAX_TEXT)
    plan_soundness = Text(max_length=MAX_TEXT)
    command_coordination = Text(max_length=MAX_TEXT)
    staff_handling = Text(max_length=MAX_TEXT)
    equipment_fitness = Text(max_length=MAX_TEXT)
    recommendations = Text(max_length=MAX_TEXT)
    went_well = Text(max_length=MAX_TEXT)
    plan_revision_needed = Boolean()
    filing_status = EnumValue(FilingStatus, dump_only=True)
    submitted_at = DateTime(dump_only=True, allow_none=True)
    submitted_by = Integer(dump_only=True, allow_none=True, attribute="submitted_by_id")
    decided_at = DateTime(dump_only=True, allow_none=True)
    decided_by = Integer(dump_only=True, allow_none=True, attribute="decided_by_id")
    return_reason = Text(dump_only=True)
    version = Integer(minimum=0)
    findings = List(Nested(FindingSchema, exclude=("drill",)), dump_only=True)
    history = List(Nested(FilingStepSchema), dump_only=True, metadata={"description": "filing steps, oldest first"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr in ("findings", "history"):
            return getattr(obj, attr)
        return super().get_attribute(obj.review, attr, default)


class FilingVersionSchema(Schema):
    class Meta:
        description = "Optional body: the review's version."

    version = Integer(minimum=0)


class FilingReturnSchema(Schema):
    reason = Text(required=True, max_length=MAX_REASON)
    version = Integer(minimum=0)


class FilingReopenSchema(Schema):
    class Meta:
        description = (
            "Reopens a filed (accepted) review so that the drill's record can change again; the review "
            "goes back to the organiser as `reopened` and must be submitted and accepted anew. Everyone "
            "involved is notified with the reason."
        )

    reason = Text(required=True, max_length=MAX_REASON, reason=True)
    version = Integer(minimum=0)


class ActionFiltersSchema(Schema):
    """The filters of the list of open corrective actions (query parameters)."""

    region = Text(max_length=12)
    org = Integer(minimum=1)
    severity = EnumValue(Severity)
    category = EnumValue(FindingCategory)
    status = EnumValue(ActionStatus)
    mine = Text(max_length=5)
    overdue = Text(max_length=5)


class EvidenceSchema(Schema):
    """A photo or file showing that a corrective action was carried out (an answer only: it is uploaded as
    multipart/form-data)."""

    id = Integer(dump_only=True)
    kind = Text(dump_only=True, metadata={"enum": [AttachmentKind.PHOTO.value, AttachmentKind.OTHER.value]})
    filename = Text(dump_only=True)
    content_type = Text(dump_only=True)
    size = Integer(dump_only=True)
    sha256 = Text(dump_only=True)
    uploaded_at = DateTime(dump_only=True, allow_none=True)
    uploaded_by = Integer(dump_only=True, allow_none=True, attribute="uploaded_by_id")
    from_checklist = Boolean(dump_only=True, metadata={"description": "the photo of the checklist answer it came from"})
    url = Text(dump_only=True, metadata={"description": "download (GET /attachments/<id>)"})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "kind":
            return obj.kind.value
        if attr == "from_checklist":
            return obj.checklist_run_id is not None
        if attr == "url":
            return url_for("api.get_attachment", attachment_id=obj.id)
        return super().get_attribute(obj, attr, default)


class EvidenceListSchema(Schema):
    items = List(Nested(EvidenceSchema), dump_only=True)
