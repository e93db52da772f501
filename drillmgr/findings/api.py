"""API: after-action reviews and their filing (备案), findings and corrective actions."""

from typing import Any

from flask import Response, jsonify, request, url_for
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.api.core import bp, current_api_user, json_body, page_args, paginated, token_required
from drillmgr.api.openapi import describe, register_schema
from drillmgr.attachments import services as attachments
from drillmgr.drills.models import Drill
from drillmgr.enums import FindingCategory, Severity
from drillmgr.errors import ValidationError
from drillmgr.findings import actions, history, queries, reviews
from drillmgr.findings.models import Finding
from drillmgr.findings.schemas import (
    FINDING,
    CorrectiveActionSchema,
    EvidenceListSchema,
    EvidenceSchema,
    FilingReopenSchema,
    FilingReturnSchema,
    FilingVersionSchema,
    FindingSchema,
    ReviewRecord,
    ReviewSchema,
)
from drillmgr.localtime import local_today

register_schema("CorrectiveAction", CorrectiveActionSchema, output=True)
register_schema("Finding", FindingSchema, output=True)
register_schema("FindingInput", FindingSchema, output=False)
register_schema("FindingPatch", FindingSchema, output=False)
register_schema("Evidence", EvidenceSchema, output=True)
register_schema("EvidenceList", EvidenceListSchema, output=True)
register_schema(
    "EvidenceUpload",
    {
        "type": "object",
        "required": ["files"],
        "properties": {
            "files": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "one or more JPEG, PNG, PDF, Word or Excel files (repeat the field)",
            }
        },
    },
)
register_schema("Review", ReviewSchema, output=True)
register_schema("ReviewInput", ReviewSchema, output=False)
register_schema("FilingStep", FilingVersionSchema, output=False)
register_schema("FilingReopen", FilingReopenSchema, output=False)
register_schema("FilingReturn", FilingReturnSchema, output=False)

_FILTERS = [
    {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "region code (with its subtree)"},
    {"name": "org", "in": "query", "schema": {"type": "integer"}},
    {"name": "severity", "in": "query", "schema": {"type": "string", "enum": Severity.values()}},
    {"name": "category", "in": "query", "schema": {"type": "string", "enum": FindingCategory.values()}},
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": [s.value for s in queries.OPEN_STATUSES]}},
    {"name": "mine", "in": "query", "schema": {"type": "boolean"}, "description": "only the caller's own"},
    {"name": "overdue", "in": "query", "schema": {"type": "boolean"}},
]


def _review_answer(drill: Drill) -> Response:
    record = ReviewRecord(
        reviews.review_of(drill) or reviews.blank_review(drill),
        actions.drill_findings(drill),
        history.filing_history(drill),
    )
    return jsonify(ReviewSchema().dump(record))


def _optional_body() -> dict:
    """A filing step's body: none, or an object (JSON null is refused, not read as no version)."""
    return FilingVersionSchema().load(json_body()) if request.get_data() else {}


@bp.get("/drills/<int:drill_id>/review")
@describe("The drill's after-action review, its filing status and findings", response="Review")
@token_required
def get_review(drill_id: int):
    return _review_answer(access.get_visible_drill(current_api_user(), drill_id))


@bp.put("/drills/<int:drill_id>/review")
@describe(
    "Write or revise the after-action review (completed drills; draft or returned)",
    request="ReviewInput",
    response="Review",
)
@token_required
def put_review(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    reviews.save_review(actor, drill, json_body())
    return _review_answer(drill)


@bp.post("/drills/<int:drill_id>/review/submit")
@describe("The organiser submits the review for filing (备案)", request="FilingStep", response="Review", conflicts=True)
@token_required
def submit_review(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    reviews.submit_review(actor, drill, _optional_body())
    return _review_answer(drill)


@bp.post("/drills/<int:drill_id>/review/accept")
@describe(
    "A coordinator of the drill's region accepts the submitted review",
    request="FilingStep",
    response="Review",
    conflicts=True,
)
@token_required
def accept_review(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    reviews.accept_review(actor, drill, _optional_body())
    return _review_answer(drill)


@bp.post("/drills/<int:drill_id>/review/return")
@describe(
    "A coordinator of the drill's region returns the submitted review, with a reason",
    request="FilingReturn",
    response="Review",
    conflicts=True,
)
@token_required
def return_review(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    reviews.return_review(actor, drill, json_body())
    return _review_answer(drill)


@bp.post("/drills/<int:drill_id>/review/reopen")
@describe(
    "A coordinator of the drill's region reopens its filed review, with a reason (409 unless it is filed)",
    request="FilingReopen",
    response="Review",
    conflicts=True,
)
@token_required
def reopen_review(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    reviews.reopen_review(actor, drill, json_body())
    return _review_answer(drill)


@bp.post("/drills/<int:drill_id>/findings")
@describe(
    "Record a finding of a completed drill, with its corrective action",
    request="FindingInput",
    response="Finding",
    created=True,
    conflicts=True,
)
@token_required
def create_finding(drill_id: int):
    actor = current_api_user()
    drill = access.get_visible_drill(actor, drill_id)
    finding = actions.add_drill_finding(actor, drill, json_body())
    return (jsonify(FINDING.dump(finding)), 201, {"Location": url_for("api.get_finding", finding_id=finding.id)})


@bp.get("/findings")
@describe(
    "Open (not yet verified) corrective actions in the caller's scope, overdue first, then by due date",
    response="Finding",
    paginated=True,
    params=_FILTERS,
)
@token_required
def list_findings():
    page, per_page = page_args()
    filters = queries.read_action_filters(request.args.to_dict())
    today = local_today()
    return jsonify(
        paginated(
            queries.open_actions_page(current_api_user(), today, filters, page, per_page),
            lambda action: FindingSchema().dump(action.finding),
        )
    )


@bp.get("/findings/<int:finding_id>")
@describe("One finding with its corrective action", response="Finding")
@token_required
def get_finding(finding_id: int):
    finding = access.get_visible_finding(current_api_user(), finding_id)
    return jsonify(FINDING.dump(finding))


@bp.patch("/findings/<int:finding_id>")
@describe("Change a finding or move its corrective action one step", request="FindingPatch", response="Finding")
@token_required
def update_finding(finding_id: int):
    actor = current_api_user()
    finding = access.get_visible_finding(actor, finding_id)
    finding = actions.update_finding(actor, finding, json_body())
    return jsonify(FINDING.dump(finding))


def _evidence_answer(finding: Finding) -> dict[str, Any]:
    action_id = finding.corrective_action.id
    return EvidenceListSchema().dump({"items": attachments.evidence_of([action_id]).get(action_id, [])})


@bp.get("/findings/<int:finding_id>/evidence")
@describe("The evidence of the finding's corrective action (photos and files), oldest first", response="EvidenceList")
@token_required
def list_evidence(finding_id: int):
    return jsonify(_evidence_answer(access.get_visible_finding(current_api_user(), finding_id)))


@bp.post("/findings/<int:finding_id>/evidence")
@describe(
    "Add evidence to the corrective action: its owner, or whoever manages the finding; all files or none",
    request="EvidenceUpload",
    response="EvidenceList",
    created=True,
    conflicts=True,
    request_content_type="multipart/form-data",
)
@token_required
def add_evidence(finding_id: int):
    actor = current_api_user()
    finding = access.get_visible_finding(actor, finding_id)
    files = [(f.stream, f.filename or "") for name in ("files", "file") for f in request.files.getlist(name)]
    if not files:
        message = _("Send the files as multipart/form-data in the field `files`.")
        raise ValidationError(message, {"files": [message]})
    attachments.add_evidence(actor, finding, files)
    return jsonify(_evidence_answer(finding)), 201
