"""Filed means fixed (DESIGN §2 "Filing lock"): once a review is accepted the drill's record is read-only for
everyone; a coordinator of the region reopens it with a reason, everyone involved is told, and it must be
filed and accepted again. Removing a file asks first; histories show each change field by field."""

import io

import pytest
import sqlalchemy as sa

from drillmgr.attachments import services as attachments
from drillmgr.attachments.models import Attachment
from drillmgr.audit.changes import changes
from drillmgr.audit.services import entries_for
from drillmgr.drills.lifecycle import complete_drill, update_drill
from drillmgr.enums import FilingStatus, Role
from drillmgr.errors import Conflict, Forbidden, ValidationError
from drillmgr.extensions import db
from drillmgr.findings import actions, history, reviews
from drillmgr.notifications.models import Notification
from drillmgr.notifications.services import Kind
from tests.conftest import at, login
from tests.findings_world import finding_data, world  # noqa: F401 — fixtures

pytestmark = pytest.mark.usefixtures("english")

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
REVIEW = {"execution": "按方案组织全校师生疏散，用时1分35秒。", "went_well": "各班组织有序"}


def complete(world, seconds=95, **counts):
    return complete_drill(
        world.staff,
        world.drill,
        {"participation": {"counts": counts or {"students": 300, "staff": 40}, "evacuation_seconds": seconds}},
    )


def file_it(world):
    """The whole path to 已备案: participation, a file, a finding, the review written, submitted, accepted."""
    complete(world)
    attachment = attachments.add_attachment(world.staff, world.drill, "plan", io.BytesIO(PDF), "疏散方案.pdf")
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    reviews.save_review(world.staff, world.drill, REVIEW)
    reviews.submit_review(world.staff, world.drill)
    reviews.accept_review(world.coordinator, world.drill)
    db.session.commit()
    return attachment, finding


def english_session(client, user):
    client.post("/logout")
    login(client, user)
    with client.session_transaction() as session:
        session["lang"] = "en"


# --- services: the record is read-only for everyone once filed -------------------------------


@pytest.mark.parametrize("who", ["staff", "coordinator", "admin"])
def test_filed_drill_refuses_every_change_for_everyone(world, who):
    attachment, finding = file_it(world)
    actor = getattr(world, who)
    version = world.drill.version
    attempts = [
        lambda: update_drill(actor, world.drill, {"title": "改过的标题", "version": version}),
        lambda: complete_drill(
            actor, world.drill, {"participation": {"counts": {"students": 300, "staff": 40}, "evacuation_seconds": 60}}
        ),
        lambda: reviews.save_review(actor, world.drill, {"went_well": "事后补写"}),
        lambda: actions.add_drill_finding(actor, world.drill, finding_data(world.colleague)),
        lambda: actions.update_finding(actor, finding, {"summary": "改过的问题"}),
        lambda: attachments.add_attachment(actor, world.drill, "photo", io.BytesIO(PDF), "补充.pdf"),
        lambda: attachments.delete_attachment(actor, attachment),
    ]
    for attempt in attempts:
        with pytest.raises(Conflict) as caught:
            attempt()
        assert "filed" in caught.value.detail and "reopen" in caught.value.detail
        db.session.rollback()
    db.session.expire_all()
    assert world.drill.participation.evacuation_seconds == 95
    assert world.drill.title != "改过的标题" and world.drill.version == version
    assert reviews.review_of(world.drill).went_well == "各班组织有序"
    assert db.session.get(Attachment, attachment.id) is not None
    assert len(actions.drill_findings(world.drill)) == 1
    assert actions.drill_findings(world.drill)[0].summary == "疏散通道堵塞"


def test_corrective_actions_still_progress_after_filing(world):
    _attachment, finding = file_it(world)
    actions.update_finding(world.colleague, finding, {"corrective_action": {"status": "in_progress"}})
    assert finding.corrective_action.status.value == "in_progress"


def test_reopen_only_by_a_coordinator_of_the_region_with_a_reason(world):
    file_it(world)
    for who in ("staff", "viewer", "other_coordinator", "other_staff"):
        with pytest.raises(Forbidden):
            reviews.reopen_review(getattr(world, who), world.drill, {"reason": "改正疏散时间"})
    with pytest.raises(ValidationError) as caught:
        reviews.reopen_review(world.coordinator, world.drill, {"reason": "  "})
    assert list(caught.value.errors) == ["reason"]
    assert reviews.review_of(world.drill).filing_status == FilingStatus.ACCEPTED


def test_reopen_only_what_is_filed(world):
    complete(world)
    reviews.save_review(world.staff, world.drill, REVIEW)
    with pytest.raises(Conflict):
        reviews.reopen_review(world.coordinator, world.drill, {"reason": "改正"})
    reviews.submit_review(world.staff, world.drill)
    with pytest.raises(Conflict):
        reviews.reopen_review(world.coordinator, world.drill, {"reason": "改正"})


def test_reopen_unlocks_tells_everyone_and_needs_filing_again(world, make_user):
    evaluator = make_user(role=Role.ORG_STAFF, org=world.org_b)
    world.drill.evaluators = [evaluator]
    db.session.commit()
    file_it(world)
    review = reviews.reopen_review(world.coordinator, world.drill, {"reason": "疏散用时录入有误，应为60秒"})
    assert review.filing_status == FilingStatus.REOPENED
    assert review.return_reason == "疏散用时录入有误，应为60秒"
    assert review.decided_by_id is None

    told = {
        n.user_id: n
        for n in db.session.scalars(sa.select(Notification).where(Notification.kind == Kind.REVIEW_REOPENED))
    }
    assert set(told) == {world.staff.id, world.colleague.id, evaluator.id}  # not the coordinator who reopened
    assert "疏散用时录入有误" in told[world.staff.id].body
    assert told[world.staff.id].link == f"/drills/{world.drill.id}"

    drill = complete_drill(
        world.staff,
        world.drill,
        {"participation": {"counts": {"students": 300, "staff": 40}, "evacuation_seconds": 60}},
    )
    assert drill.participation.evacuation_seconds == 60
    reviews.save_review(world.staff, world.drill, {"execution": "按方案组织疏散，用时1分钟。"})
    reviews.submit_review(world.staff, world.drill)
    accepted = reviews.accept_review(world.coordinator, world.drill)
    assert accepted.filing_status == FilingStatus.ACCEPTED
    steps = [e.action for e in history.filing_history(world.drill)]
    assert steps == ["review.submit", "review.accept", "review.reopen", "review.submit", "review.accept"]
    with pytest.raises(Conflict):  # filed again: fixed again
        complete_drill(world.staff, world.drill, {"participation": {"counts": {"students": 1}}})


def test_attachment_removal_is_audited(world):
    complete(world)
    attachment = attachments.add_attachment(world.staff, world.drill, "plan", io.BytesIO(PDF), "疏散方案.pdf")
    attachments.delete_attachment(world.staff, attachment)
    entry = entries_for("drill", world.drill.id)[-1]
    assert (entry.action, entry.user_id, entry.before["filename"], entry.after) == (
        "attachment.delete",
        world.staff.id,
        "疏散方案.pdf",
        None,
    )
    assert [(c.label, c.before, c.after) for c in changes(entry)] == [("File", "疏散方案.pdf", "—")]


# --- history: field by field, before → after --------------------------------------------------


def test_history_shows_each_changed_field_with_labels_and_values(world):
    complete(world, seconds=95, students=300, staff=40)
    complete(world, seconds=60, students=320, staff=40)
    entry = entries_for("drill", world.drill.id)[-1]
    rows = [(c.label, c.before, c.after) for c in changes(entry)]
    assert rows == [("Students", "300", "320"), ("Evacuation time", "1 min 35 s", "1 min 0 s")]

    reviews.save_review(world.staff, world.drill, REVIEW)
    reviews.save_review(world.staff, world.drill, {"went_well": "各班组织有序，用时缩短", "version": 1})
    review_entry = entries_for("review", world.drill.id)[-1]
    assert [(c.label, c.before, c.after) for c in changes(review_entry)] == [
        ("What went well", "各班组织有序", "各班组织有序，用时缩短")
    ]

    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    actions.update_finding(
        world.staff, finding, {"severity": "critical", "corrective_action": {"owner": world.staff.id}}
    )
    finding_entry = entries_for("finding", finding.id)[-1]
    staff_name = world.staff.display_name or world.staff.username
    colleague_name = world.colleague.display_name or world.colleague.username
    assert [(c.label, c.before, c.after) for c in changes(finding_entry)] == [
        ("Severity", "Major", "Critical"),
        ("Owner", colleague_name, staff_name),
    ]


def test_history_of_a_move_shows_times_in_beijing_time(world, make_drill):
    drill = make_drill(organizer=world.org_a, starts_at=at(days=10))
    start = "2031-05-12T10:00:00+08:00"
    update_drill(
        world.staff, drill, {"starts_at": start, "ends_at": "2031-05-12T11:00:00+08:00", "version": drill.version}
    )
    rows = {c.field: (c.before, c.after) for c in changes(entries_for("drill", drill.id)[-1])}
    assert rows["starts_at"][1] == "2031-05-12 10:00" and rows["ends_at"][1] == "2031-05-12 11:00"
    assert "version" not in rows and "sequence" not in rows


def test_drill_page_history_lists_the_changes(client, world):
    complete(world, seconds=95)
    complete(world, seconds=60)
    english_session(client, world.staff)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    history = html[html.index('id="history"') :]
    assert "Participation corrected" in history
    assert 'Evacuation time:</span> <del class="text-secondary">1 min 35 s</del> → ' in history
    assert '<ins class="text-decoration-none fw-semibold">1 min 0 s</ins>' in history


def test_drill_page_history_is_in_chinese_by_default(client, world):
    complete(world, seconds=95)
    complete(world, seconds=60)
    login(client, world.staff)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert '疏散用时:</span> <del class="text-secondary">1分35秒</del>' in html


# --- API ------------------------------------------------------------------------------------


def test_api_refuses_changes_to_a_filed_drill_with_409(client, world):
    attachment, _finding = file_it(world)
    headers = world.headers(world.staff)
    drill = client.get(f"/api/v1/drills/{world.drill.id}", headers=headers).get_json()
    answer = client.patch(
        f"/api/v1/drills/{world.drill.id}", headers=headers, json={"title": "改", "version": drill["version"]}
    )
    assert answer.status_code == 409 and answer.content_type == "application/problem+json"
    assert "filed" in answer.get_json()["detail"]
    answer = client.post(
        f"/api/v1/drills/{world.drill.id}/complete",
        headers=headers,
        json={"participation": {"counts": {"students": 300}, "evacuation_seconds": 60}},
    )
    assert answer.status_code == 409
    assert client.delete(f"/api/v1/attachments/{attachment.id}", headers=headers).status_code == 409
    review = client.get(f"/api/v1/drills/{world.drill.id}/review", headers=headers).get_json()
    assert (
        client.put(
            f"/api/v1/drills/{world.drill.id}/review",
            headers=headers,
            json={"went_well": "改", "version": review["version"]},
        ).status_code
        == 409
    )


def test_api_reopen(client, world):
    file_it(world)
    path = f"/api/v1/drills/{world.drill.id}/review/reopen"
    assert client.post(path, headers=world.headers(world.staff), json={"reason": "改"}).status_code == 403
    missing = client.post(path, headers=world.headers(world.coordinator), json={})
    assert missing.status_code == 422 and list(missing.get_json()["errors"]) == ["reason"]
    answer = client.post(path, headers=world.headers(world.coordinator), json={"reason": "疏散用时有误"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["filing_status"] == "reopened" and body["return_reason"] == "疏散用时有误"
    assert [h["step"] for h in body["history"]] == ["submit", "accept", "reopen"]
    assert client.post(path, headers=world.headers(world.coordinator), json={"reason": "再来"}).status_code == 409
    fixed = client.post(
        f"/api/v1/drills/{world.drill.id}/complete",
        headers=world.headers(world.staff),
        json={"participation": {"counts": {"students": 300, "staff": 40}, "evacuation_seconds": 60}},
    )
    assert fixed.status_code == 200 and fixed.get_json()["participation"]["evacuation_seconds"] == 60


def test_openapi_documents_reopen(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/drills/{drill_id}/review/reopen"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FilingReopen"
    }
    assert "409" in operation["responses"]
    assert "reopened" in document["components"]["schemas"]["Review"]["properties"]["filing_status"]["enum"]


# --- pages ----------------------------------------------------------------------------------


def test_filed_drill_page_hides_every_edit_button(client, world):
    attachment, finding = file_it(world)
    english_session(client, world.staff)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert 'id="filed-notice"' in html and "Filed: read-only" in html
    for marker in (
        'id="edit-drill"',
        'id="complete-drill"',
        'id="upload-form"',
        'class="btn btn-sm btn-link',
        'id="review-form"',
        'id="new-finding-form"',
        f'action="/findings/{finding.id}/edit"',
        'id="reopen-review"',
    ):
        assert marker not in html, marker
    english_session(client, world.coordinator)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert 'id="reopen-review"' in html and 'id="edit-drill"' not in html


def test_reopen_page_works_without_script(client, world):
    file_it(world)
    english_session(client, world.coordinator)
    page = client.get(f"/findings/drills/{world.drill.id}/review/reopen")
    assert page.status_code == 200 and 'id="reopen-form"' in page.get_data(as_text=True)
    empty = client.post(f"/findings/drills/{world.drill.id}/review/reopen", data={"reason": ""})
    assert empty.status_code == 422 and "This field is required." in empty.get_data(as_text=True)
    assert reviews.review_of(world.drill).filing_status == FilingStatus.ACCEPTED
    done = client.post(f"/findings/drills/{world.drill.id}/review/reopen", data={"reason": "疏散用时有误"})
    assert done.status_code == 302 and done.headers["Location"] == f"/drills/{world.drill.id}"
    assert reviews.review_of(world.drill).filing_status == FilingStatus.REOPENED
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert 'id="reopen-reason"' in html and "疏散用时有误" in html
    english_session(client, world.staff)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert 'id="edit-drill"' in html and 'id="review-form"' in html
    assert client.get(f"/findings/drills/{world.drill.id}/review/reopen").status_code == 403


def test_removing_a_file_asks_first(client, world):
    complete(world)
    attachment = attachments.add_attachment(world.staff, world.drill, "plan", io.BytesIO(PDF), "疏散方案.pdf")
    english_session(client, world.staff)
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert f'href="/attachments/{attachment.id}/delete"' in html  # a link to a question, not a one-click form
    question = client.get(f"/attachments/{attachment.id}/delete")
    assert question.status_code == 200 and "Remove “疏散方案.pdf”?" in question.get_data(as_text=True)
    assert db.session.get(Attachment, attachment.id) is not None
    answer = client.post(f"/attachments/{attachment.id}/delete")
    assert answer.status_code == 302
    assert db.session.get(Attachment, attachment.id) is None
    assert entries_for("drill", world.drill.id)[-1].action == "attachment.delete"


def test_removing_a_file_of_a_filed_drill_is_refused_on_the_page(client, world):
    attachment, _finding = file_it(world)
    english_session(client, world.staff)
    question = client.get(f"/attachments/{attachment.id}/delete").get_data(as_text=True)
    assert 'id="filed-notice"' in question and 'id="confirm-delete"' not in question
    client.post(f"/attachments/{attachment.id}/delete")
    assert db.session.get(Attachment, attachment.id) is not None
    english_session(client, world.other_staff)
    assert client.get(f"/attachments/{attachment.id}/delete").status_code in (403, 404)


@pytest.mark.parametrize("page", ["edit", "reschedule", "complete"])
def test_change_pages_of_a_filed_drill_lead_back_to_it(client, world, page):
    file_it(world)
    english_session(client, world.coordinator)
    answer = client.get(f"/drills/{world.drill.id}/{page}")
    assert answer.status_code == 302 and answer.headers["Location"] == f"/drills/{world.drill.id}"
    answer = client.post(f"/drills/{world.drill.id}/{page}", data={"students": "1", "title": "改"})
    assert answer.status_code == 302
    html = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    assert "its record is read-only" in html
    db.session.expire_all()
    assert world.drill.participation.students == 300


def test_first_participation_lists_only_what_was_recorded(world, make_drill):
    drill = make_drill(organizer=world.org_a, starts_at=at(days=-2))
    complete_drill(
        world.staff, drill, {"participation": {"counts": {"students": 300, "staff": 40}, "evacuation_seconds": 95}}
    )
    entry = entries_for("drill", drill.id)[-1]
    assert [(c.label, c.before, c.after) for c in changes(entry)] == [
        ("Status", "Planned", "Completed"),
        ("Students", "—", "300"),
        ("Staff", "—", "40"),
        ("Evacuation time", "—", "1 min 35 s"),
    ]


def test_a_checklist_cannot_add_findings_to_a_filed_drill(world, make_drill):
    from drillmgr.checklists import runs, shortcomings
    from drillmgr.enums import DrillForm, DrillScope, DrillStatus

    drill = make_drill(
        organizer="654202",
        form=DrillForm.LIVE,
        scope=DrillScope.COMPREHENSIVE,
        starts_at=at(days=-5),
        status=DrillStatus.COMPLETED,
    )
    run = runs.start_drill_run(world.coordinator, drill)
    item = runs.run_lines(run)[0].item
    runs.save_answers(world.coordinator, run, {str(item.id): {"answer": "no", "note": "指挥部通信未测试"}})
    reviews.save_review(world.coordinator, drill, REVIEW)
    reviews.submit_review(world.coordinator, drill)
    reviews.accept_review(world.admin, drill)
    with pytest.raises(Conflict):
        shortcomings.make_corrective_action(world.coordinator, run, item.id)
    db.session.rollback()
    assert actions.drill_findings(drill) == []


def test_reasons_with_control_characters_are_refused_not_a_server_error(client, world):
    file_it(world)
    answer = client.post(
        f"/api/v1/drills/{world.drill.id}/review/reopen",
        headers=world.headers(world.coordinator),
        json={"reason": "疏散\x07用时"},
    )
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {"reason": ["Must not contain control characters."]}
    assert reviews.review_of(world.drill).filing_status == FilingStatus.ACCEPTED
    reviews.reopen_review(world.coordinator, world.drill, {"reason": "第一行\n第二行\t缩进"})
    with pytest.raises(ValidationError) as caught:
        complete_drill(
            world.staff,
            world.drill,
            {
                "participation": {
                    "counts": {"students": 9000},
                    "confirm_exceptional": True,
                    "exceptional_reason": "家长\x07参演",
                }
            },
        )
    assert caught.value.errors["participation.exceptional_reason"] == ["Must not contain control characters."]
