"""After-action reviews (总结评估) and their filing (备案): the organiser writes and submits the review, a
coordinator of the drill's region accepts or returns it, and may reopen a filed one."""

from typing import Any

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.audit import services as audit
from drillmgr.db import lock, utcnow
from drillmgr.drills.models import Drill
from drillmgr.drills.guards import require_not_filed
from drillmgr.enums import DrillStatus, FilingStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.findings.models import Review
from drillmgr.findings.notices import tell_filing
from drillmgr.findings.schemas import FilingReopenSchema, FilingReturnSchema, FilingVersionSchema, ReviewSchema

REVIEW_TEXT_FIELDS = (
    "execution",
    "plan_soundness",
    "command_coordination",
    "staff_handling",
    "equipment_fitness",
    "recommendations",
    "went_well",
)
REVIEW_FIELDS = REVIEW_TEXT_FIELDS + ("plan_revision_needed",)
FILING_FIELDS = ("filing_status", "return_reason")
REVISABLE = (FilingStatus.DRAFT, FilingStatus.RETURNED, FilingStatus.REOPENED)


def review_of(drill: Drill, for_update: bool = False) -> Review | None:
    """`for_update` locks the row (PostgreSQL), so that two concurrent steps are checked one after
    the other against the same state."""
    review = db.session.get(Review, drill.id)
    if review is not None and for_update:
        lock(review)
    return review


def require_completed(drill: Drill) -> None:
    if drill.status != DrillStatus.COMPLETED:
        raise Conflict(
            _(
                "The drill is %(status)s: reviews and findings are recorded once it is completed.",
                status=drill.status.label,
            )
        )


def _changed_meanwhile() -> Conflict:
    return Conflict(_("Someone else changed this review meanwhile. Reload the page and apply your change again."))


def _check_review_version(review: Review | None, version: int | None) -> None:
    current = review.version if review is not None else 0
    if version is not None and version != current:
        raise _changed_meanwhile()


def save_review(actor: User, drill: Drill, data: dict[str, Any]) -> Review:
    """Creates or revises the review; fields left out keep their value. `version` 0 means "new"."""
    access.require(
        access.can_edit_drill(actor, drill), _("Only the drill's organiser can write its after-action review.")
    )
    require_completed(drill)
    values = ReviewSchema().load(data, partial=True)
    version = values.pop("version", None)
    review = review_of(drill, for_update=True)
    _check_review_version(review, version)
    if review is not None and review.filing_status == FilingStatus.ACCEPTED:
        require_not_filed(drill)
    if review is not None and review.filing_status not in REVISABLE:
        raise Conflict(
            _(
                "The review is “%(status)s” and cannot be changed now; it can be revised once it is returned.",
                status=review.filing_status.label,
            )
        )
    before = audit.snapshot(review, REVIEW_FIELDS) if review is not None else None
    if review is None:
        review = _first_save(drill)
    else:
        review.version += 1
    for name, value in values.items():
        setattr(review, name, value)
    audit.record(actor, "review.save", "review", drill.id, before, audit.snapshot(review, REVIEW_FIELDS))
    return review


def _first_save(drill: Drill) -> Review:
    """A new draft, inserted at once: of two first saves at the same moment, the primary key lets one
    through and the other is told someone else was quicker (its savepoint alone is rolled back)."""
    review = blank_review(drill, version=1)
    try:
        with db.session.begin_nested():
            db.session.add(review)
    except IntegrityError:
        raise _changed_meanwhile() from None
    return review


def blank_review(drill: Drill, version: int = 0) -> Review:
    """An empty draft (not added to the session): what a drill without a review shows, at version 0."""
    return Review(
        drill_id=drill.id,
        filing_status=FilingStatus.DRAFT,
        version=version,
        return_reason="",
        plan_revision_needed=False,
        **{name: "" for name in REVIEW_TEXT_FIELDS},
    )


def _filing_step(actor: User, review: Review, action: str, to: FilingStatus, reason: str = "") -> Review:
    before = audit.snapshot(review, FILING_FIELDS)
    decided_by_id = review.decided_by_id  # who accepted the filing a reopening clears
    review.filing_status = to
    review.version += 1
    now = utcnow()
    if to == FilingStatus.SUBMITTED:
        review.submitted_at, review.submitted_by_id = now, actor.id
        review.decided_at, review.decided_by_id = None, None
        review.return_reason = ""
    elif to == FilingStatus.REOPENED:
        review.decided_at, review.decided_by_id = None, None
        review.return_reason = reason
    else:
        review.decided_at, review.decided_by_id = now, actor.id
        review.return_reason = reason
    audit.record(actor, action, "review", review.drill_id, before, audit.snapshot(review, FILING_FIELDS))
    tell_filing(actor, review, action, decided_by_id)
    return review


def _existing_review(drill: Drill, values: dict[str, Any]) -> Review:
    """The review, locked, at the version the client read (`values`, read by a filing step's schema)."""
    review = review_of(drill, for_update=True)
    if review is None:
        raise Conflict(_("This drill has no after-action review yet."))
    _check_review_version(review, values.get("version"))
    return review


def submit_review(actor: User, drill: Drill, data: dict[str, Any] | None = None) -> Review:
    access.require(
        access.can_edit_drill(actor, drill), _("Only the drill's organiser can submit its review for filing.")
    )
    require_completed(drill)
    review = _existing_review(drill, FilingVersionSchema().load(data or {}))
    if review.filing_status not in REVISABLE:
        raise Conflict(
            _(
                "The review is “%(status)s”: only a draft or a returned review can be submitted.",
                status=review.filing_status.label,
            )
        )
    if not review.execution.strip():
        raise ValidationError(
            _("The review is not complete."),
            {"execution": [_("Describe how the drill was carried out before submitting.")]},
        )
    return _filing_step(actor, review, "review.submit", FilingStatus.SUBMITTED)


def _require_decider(actor: User, drill: Drill) -> None:
    access.require(
        access.can_decide_filing(actor, drill),
        _("Only a coordinator of the drill's region can decide on filing its review."),
    )


def accept_review(actor: User, drill: Drill, data: dict[str, Any] | None = None) -> Review:
    _require_decider(actor, drill)
    review = _existing_review(drill, FilingVersionSchema().load(data or {}))
    if review.filing_status != FilingStatus.SUBMITTED:
        raise Conflict(
            _("The review is “%(status)s”: only a submitted review can be accepted.", status=review.filing_status.label)
        )
    return _filing_step(actor, review, "review.accept", FilingStatus.ACCEPTED)


def return_review(actor: User, drill: Drill, data: dict[str, Any]) -> Review:
    _require_decider(actor, drill)
    values = FilingReturnSchema().load(data)
    review = _existing_review(drill, values)
    if review.filing_status != FilingStatus.SUBMITTED:
        raise Conflict(
            _("The review is “%(status)s”: only a submitted review can be returned.", status=review.filing_status.label)
        )
    return _filing_step(actor, review, "review.return", FilingStatus.RETURNED, values["reason"])


def reopen_review(actor: User, drill: Drill, data: dict[str, Any]) -> Review:
    """A coordinator of the region reopens a filed review, with a reason: the drill's record can change again,
    the review goes back to the organiser, and it must be submitted and accepted anew."""
    access.require(
        access.can_reopen_filing(actor, drill), _("Only a coordinator of the drill's region can reopen a filed review.")
    )
    values = FilingReopenSchema().load(data)
    review = _existing_review(drill, values)
    if review.filing_status != FilingStatus.ACCEPTED:
        raise Conflict(
            _("The review is “%(status)s”: only a filed review can be reopened.", status=review.filing_status.label)
        )
    return _filing_step(actor, review, "review.reopen", FilingStatus.REOPENED, values["reason"])
