"""After-action review and filing (备案): services, transitions, locking and the audit trail."""

import pytest

from drillmgr.audit.services import entries_for
from drillmgr.enums import DrillStatus, FilingStatus
from drillmgr.errors import Conflict, Forbidden, ValidationError
from drillmgr.extensions import db
from drillmgr.findings import reviews
from drillmgr.findings.models import Review
from tests.conftest import at
from tests.findings_world import world  # noqa: F401 — fixtures

pytestmark = pytest.mark.usefixtures("english")

REVIEW = {
    "execution": "按方案组织全校师生疏散，用时1分50秒。",
    "plan_soundness": "方案基本可行",
    "went_well": "各班组织有序",
    "plan_revision_needed": True,
}


def test_organiser_writes_review_and_it_starts_as_draft(world):
    review = reviews.save_review(world.staff, world.drill, REVIEW)
    assert review.filing_status == FilingStatus.DRAFT
    assert review.version == 1
    assert review.plan_revision_needed is True
    assert review.execution.startswith("按方案")
    again = reviews.save_review(world.staff, world.drill, {"recommendations": "增设应急照明", "version": 1})
    assert again.version == 2
    assert again.recommendations == "增设应急照明"
    assert again.went_well == "各班组织有序"  # fields left out keep their value


@pytest.mark.parametrize("who", ["viewer", "other_staff", "other_coordinator"])
def test_only_drill_editors_write_reviews(world, who):
    with pytest.raises(Forbidden):
        reviews.save_review(getattr(world, who), world.drill, REVIEW)
    assert db.session.get(Review, world.drill.id) is None


def test_coordinator_of_region_may_also_write_it(world):
    assert reviews.save_review(world.coordinator, world.drill, REVIEW).version == 1


def test_review_only_for_completed_drills(world, make_drill):
    planned = make_drill(organizer=world.org_a, starts_at=at(days=5))
    with pytest.raises(Conflict) as caught:
        reviews.save_review(world.staff, planned, REVIEW)
    assert "completed" in caught.value.detail


def test_stale_version_is_a_conflict_and_changes_nothing(world):
    reviews.save_review(world.staff, world.drill, REVIEW)
    reviews.save_review(world.colleague, world.drill, {"went_well": "第二个人的修改", "version": 1})
    db.session.commit()
    with pytest.raises(Conflict):
        reviews.save_review(world.staff, world.drill, {"went_well": "第一个人的旧修改", "version": 1})
    db.session.rollback()
    assert reviews.review_of(world.drill).went_well == "第二个人的修改"


def test_version_zero_means_new_and_conflicts_once_someone_created_it(world):
    reviews.save_review(world.staff, world.drill, {**REVIEW, "version": 0})
    with pytest.raises(Conflict):
        reviews.save_review(world.colleague, world.drill, {**REVIEW, "version": 0})


def test_bad_review_input_names_the_field(world):
    with pytest.raises(ValidationError) as caught:
        reviews.save_review(world.staff, world.drill, {"plan_revision_needed": "yes", "execution": 5})
    assert set(caught.value.errors) == {"plan_revision_needed", "execution"}
    assert reviews.review_of(world.drill) is None


def test_full_filing_cycle_with_return_and_resubmission(world):
    reviews.save_review(world.staff, world.drill, REVIEW)
    review = reviews.submit_review(world.staff, world.drill)
    assert review.filing_status == FilingStatus.SUBMITTED and review.submitted_at is not None
    db.session.commit()

    with pytest.raises(ValidationError) as caught:
        reviews.return_review(world.coordinator, world.drill, {"reason": "  "})
    assert "reason" in caught.value.errors
    db.session.rollback()
    assert reviews.review_of(world.drill).filing_status == FilingStatus.SUBMITTED

    review = reviews.return_review(world.coordinator, world.drill, {"reason": "缺少对断电条件下通信的评估"})
    assert review.filing_status == FilingStatus.RETURNED
    assert review.return_reason == "缺少对断电条件下通信的评估"
    assert review.decided_by_id == world.coordinator.id

    review = reviews.save_review(world.staff, world.drill, {"equipment_fitness": "应急广播在断电时失效，已补充"})
    review = reviews.submit_review(world.staff, world.drill)
    assert review.filing_status == FilingStatus.SUBMITTED and review.return_reason == ""
    assert review.submitted_by_id == world.staff.id
    review = reviews.accept_review(world.coordinator, world.drill)
    assert review.filing_status == FilingStatus.ACCEPTED and review.decided_at is not None

    actions = [e.action for e in entries_for("review", world.drill.id)]
    assert actions == ["review.save", "review.submit", "review.return", "review.save", "review.submit", "review.accept"]
    returned = [e for e in entries_for("review", world.drill.id) if e.action == "review.return"][0]
    assert returned.user_id == world.coordinator.id
    assert returned.before["filing_status"] == "submitted"
    assert returned.after == {"filing_status": "returned", "return_reason": "缺少对断电条件下通信的评估"}


def test_illegal_filing_transitions_are_conflicts(world):
    with pytest.raises(Conflict):  # nothing to submit yet
        reviews.submit_review(world.staff, world.drill)
    reviews.save_review(world.staff, world.drill, REVIEW)
    with pytest.raises(Conflict) as caught:
        reviews.accept_review(world.coordinator, world.drill)
    assert "only a submitted review" in caught.value.detail
    with pytest.raises(Conflict):
        reviews.return_review(world.coordinator, world.drill, {"reason": "x"})
    reviews.submit_review(world.staff, world.drill)
    with pytest.raises(Conflict):
        reviews.submit_review(world.staff, world.drill)
    with pytest.raises(Conflict):  # a submitted review is locked
        reviews.save_review(world.staff, world.drill, {"went_well": "改"})
    reviews.accept_review(world.coordinator, world.drill)
    for step in (reviews.accept_review, reviews.submit_review):
        with pytest.raises(Conflict):
            step(world.coordinator, world.drill)
    with pytest.raises(Conflict):
        reviews.save_review(world.staff, world.drill, {"went_well": "改"})
    assert [e.action for e in entries_for("review", world.drill.id)] == [
        "review.save",
        "review.submit",
        "review.accept",
    ]


def test_submission_needs_the_execution_described(world):
    reviews.save_review(world.staff, world.drill, {"went_well": "好"})
    with pytest.raises(ValidationError) as caught:
        reviews.submit_review(world.staff, world.drill)
    assert "execution" in caught.value.errors


@pytest.mark.parametrize("who", ["staff", "viewer", "other_coordinator"])
def test_only_region_coordinators_decide(world, who):
    reviews.save_review(world.staff, world.drill, REVIEW)
    reviews.submit_review(world.staff, world.drill)
    with pytest.raises(Forbidden):
        reviews.accept_review(getattr(world, who), world.drill)
    with pytest.raises(Forbidden):
        reviews.return_review(getattr(world, who), world.drill, {"reason": "x"})


def test_only_editors_submit(world):
    reviews.save_review(world.staff, world.drill, REVIEW)
    for who in (world.viewer, world.other_staff):
        with pytest.raises(Forbidden):
            reviews.submit_review(who, world.drill)


def test_stale_version_on_filing_step(world):
    reviews.save_review(world.staff, world.drill, REVIEW)
    with pytest.raises(Conflict):
        reviews.submit_review(world.staff, world.drill, {"version": 7})
    assert reviews.submit_review(world.staff, world.drill, {"version": 1}).version == 2


def test_cancelled_drill_has_no_review(world, make_drill):
    cancelled = make_drill(organizer=world.org_a, starts_at=at(days=-2), status=DrillStatus.CANCELLED)
    with pytest.raises(Conflict):
        reviews.save_review(world.staff, cancelled, REVIEW)
