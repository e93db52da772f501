"""Who is told about filing and close-out steps, in their language, once."""

import pytest
import sqlalchemy as sa

from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.findings import actions, reviews
from drillmgr.notifications.models import Notification, OutboxMail
from tests.conftest import SHAWAN
from tests.findings_world import finding_data, world  # noqa: F401 — fixtures

pytestmark = pytest.mark.usefixtures("english")


def inbox(user) -> list[Notification]:
    return list(
        db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))
    )


def test_filing_steps_tell_the_deciders_and_the_submitter(world, make_user):
    county_viewer_coordinator = make_user(role=Role.COORDINATOR, region_code=SHAWAN)
    reviews.save_review(world.staff, world.drill, {"execution": "按预案疏散"})
    reviews.submit_review(world.staff, world.drill)
    submitted = inbox(world.coordinator)
    assert [n.kind for n in submitted] == ["review_submitted"]
    assert world.drill.title in submitted[0].subject and submitted[0].link.endswith(str(world.drill.id))
    assert inbox(world.other_coordinator) == inbox(county_viewer_coordinator) == inbox(world.viewer) == []
    reviews.return_review(world.coordinator, world.drill, {"reason": "缺少通信保障评估"})
    returned = inbox(world.staff)
    assert [n.kind for n in returned] == ["review_decided"] and "缺少通信保障评估" in returned[0].body
    reviews.submit_review(world.colleague, world.drill)
    assert len(inbox(world.coordinator)) == 2  # the resubmission is news too
    reviews.accept_review(world.coordinator, world.drill)
    assert [n.kind for n in inbox(world.colleague)] == ["review_decided"]  # who resubmitted
    assert len(inbox(world.staff)) == 1


def test_close_out_steps_tell_the_owner_and_the_checker(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    assigned = inbox(world.colleague)
    assert [n.kind for n in assigned] == ["action_assigned"] and "疏散通道堵塞" in assigned[0].subject
    actions.update_finding(world.colleague, finding, {"corrective_action": {"status": "in_progress"}})
    actions.update_finding(world.colleague, finding, {"corrective_action": {"status": "done"}})
    assert [n.kind for n in inbox(world.staff)] == ["action_done"]
    actions.update_finding(world.staff, finding, {"corrective_action": {"status": "in_progress", "reason": "照片模糊"}})
    sent_back = inbox(world.colleague)[-1]
    assert sent_back.kind == "action_sent_back" and "照片模糊" in sent_back.body
    actions.update_finding(world.staff, finding, {"corrective_action": {"owner": world.coordinator.id}})
    assert [n.kind for n in inbox(world.coordinator)] == ["action_assigned"]


def test_nobody_is_told_about_their_own_step(world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.staff))
    actions.update_finding(world.staff, finding, {"corrective_action": {"status": "in_progress"}})
    actions.update_finding(world.staff, finding, {"corrective_action": {"status": "done"}})
    assert inbox(world.staff) == []


def test_messages_are_in_the_recipients_language_and_mailed_when_they_have_an_address(world):
    world.colleague.locale = "zh_CN"
    world.colleague.email = "li@example.cn"
    db.session.commit()
    actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    notification = inbox(world.colleague)[0]
    assert notification.subject == "您有新的整改任务：疏散通道堵塞"
    assert "整改期限：" in notification.body
    mail = db.session.scalar(sa.select(OutboxMail).where(OutboxMail.notification_id == notification.id))
    assert mail is not None and mail.to_address == "li@example.cn"
