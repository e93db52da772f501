"""The demo shows the whole path after a drill: reviews filed, returned, accepted and reopened, and
corrective actions in every state, so that a newcomer finds every screen with content."""

import pytest
import sqlalchemy as sa

from drillmgr.accounts.models import User
from drillmgr.audit.models import AuditEntry
from drillmgr.demo.services import seed_demo
from drillmgr.drills.models import Drill
from drillmgr.enums import ActionStatus, FilingStatus
from drillmgr.extensions import db
from drillmgr.findings import history, reviews
from drillmgr.findings.models import CorrectiveAction, Finding, Review
from drillmgr.localtime import local_today
from drillmgr.notifications.models import Notification


@pytest.fixture
def demo(app):
    seed_demo(org_count=120, drill_count=20)


def test_demo_has_reviews_in_every_filing_state(demo):
    statuses = set(
        db.session.scalars(
            sa.select(Review.filing_status).join(Drill, Drill.id == Review.drill_id).where(Drill.is_demo.is_(True))
        )
    )
    assert statuses == set(FilingStatus)
    reopened = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "review.reopen")).all()
    assert len(reopened) == 2  # one still open for correction, one filed again since
    refiled = [
        e.entity_id
        for e in reopened
        if reviews.review_of(db.session.get(Drill, int(e.entity_id))).filing_status == FilingStatus.ACCEPTED
    ]
    assert len(refiled) == 1
    drill = db.session.get(Drill, int(refiled[0]))
    assert [e.action for e in history.filing_history(drill)] == [
        "review.submit",
        "review.accept",
        "review.reopen",
        "review.submit",
        "review.accept",
    ]
    assert drill.participation.evacuation_seconds == 88 and drill.is_demo


def test_demo_has_actions_in_every_state_and_an_overdue_one(demo):
    statuses = set(db.session.scalars(sa.select(CorrectiveAction.status)))
    assert statuses == set(ActionStatus)
    sent_back = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "action.send_back")).all()
    assert sent_back and all(e.after["reason"] for e in sent_back)
    today = local_today()
    assert any(a.is_overdue(today) for a in db.session.scalars(sa.select(CorrectiveAction)))
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Finding).join(Drill).where(Drill.is_demo.is_(True)))
        >= 15
    )


def test_demo_users_are_told_and_see_it_on_their_pages(demo, client):
    school = db.session.scalar(sa.select(User).where(User.username == "school"))
    kinds = set(db.session.scalars(sa.select(Notification.kind).where(Notification.user_id == school.id)))
    assert {"review_decided", "review_reopened"} <= kinds
    client.post("/login", data={"username": "wusu", "password": "drillmgr-demo"})
    reopened = db.session.scalar(sa.select(Review).where(Review.filing_status == FilingStatus.REOPENED))
    html = client.get(f"/drills/{reopened.drill_id}").get_data(as_text=True)
    assert 'id="reopen-reason"' in html and "疏散用时录入有误" in html
    accepted = db.session.scalar(sa.select(Review).where(Review.filing_status == FilingStatus.ACCEPTED))
    html = client.get(f"/drills/{accepted.drill_id}").get_data(as_text=True)
    assert 'id="filed-notice"' in html and 'id="reopen-review"' in html
