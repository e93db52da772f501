"""Web pages: the review/findings panel, its forms and the corrective actions list."""

import re

import pytest
import sqlalchemy as sa
from flask import render_template_string, url_for

from drillmgr.enums import ActionStatus, DrillStatus, FilingStatus, Role
from drillmgr.extensions import db
from drillmgr.findings import actions, reviews
from drillmgr.findings.models import Finding
from tests.conftest import at, local_day, login
from tests.findings_world import finding_data, let_time_pass, world  # noqa: F401 — fixtures

pytestmark = pytest.mark.usefixtures("english")


def english_session(client, user):
    client.post("/logout")
    login(client, user)
    with client.session_transaction() as session:
        session["lang"] = "en"


def page(client, drill):
    return client.get(f"/findings/drills/{drill.id}")


def test_page_in_chinese_by_default(client, world):
    actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    login(client, world.staff)
    html = page(client, world.drill).get_data(as_text=True)
    assert "总结评估" in html and "整改措施" in html and "待整改" in html


def test_organiser_writes_and_submits_the_review(client, world):
    english_session(client, world.staff)
    html = page(client, world.drill).get_data(as_text=True)
    assert 'id="review-form"' in html and 'id="new-finding-form"' in html
    response = client.post(
        f"/findings/drills/{world.drill.id}/review",
        data={
            "review-execution": "按预案疏散",
            "review-went_well": "有序",
            "review-plan_revision_needed": "y",
            "review-version": "0",
            "next": "/somewhere/else",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/somewhere/else")
    review = reviews.review_of(world.drill)
    assert review.execution == "按预案疏散" and review.plan_revision_needed is True
    response = client.post(f"/findings/drills/{world.drill.id}/review/submit", data={"filing-version": "1"})
    assert response.status_code == 302
    assert reviews.review_of(world.drill).filing_status == FilingStatus.SUBMITTED
    html = page(client, world.drill).get_data(as_text=True)
    assert 'id="review-form"' not in html and "按预案疏散" in html
    assert 'id="filing-history"' in html and "Submitted the review for filing" in html


def test_unsafe_next_is_ignored(client, world):
    english_session(client, world.staff)
    response = client.post(
        f"/findings/drills/{world.drill.id}/review",
        data={"review-execution": "x", "review-version": "0", "next": "//evil.example/"},
    )
    assert response.headers["Location"].endswith(f"/findings/drills/{world.drill.id}")


def test_stale_review_form_offers_a_reload_and_keeps_the_input(client, world):
    reviews.save_review(world.colleague, world.drill, {"execution": "同事的版本"})
    english_session(client, world.staff)
    response = client.post(
        f"/findings/drills/{world.drill.id}/review", data={"review-execution": "我的旧版本", "review-version": "0"}
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Reload the current state" in html and "我的旧版本" in html
    assert reviews.review_of(world.drill).execution == "同事的版本"


def test_coordinator_returns_with_a_reason_or_is_told_to_give_one(client, world):
    reviews.save_review(world.staff, world.drill, {"execution": "按预案疏散"})
    reviews.submit_review(world.staff, world.drill)
    english_session(client, world.coordinator)
    html = page(client, world.drill).get_data(as_text=True)
    assert 'id="accept-review"' in html and 'id="return-review"' in html
    response = client.post(f"/findings/drills/{world.drill.id}/review/return", data={"filing-reason": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "This field is required." in html
    # the re-rendered forms still lead back to the drill's page, not to the URL just posted to
    assert f'name="next" value="/findings/drills/{world.drill.id}"' in html
    assert reviews.review_of(world.drill).filing_status == FilingStatus.SUBMITTED
    client.post(f"/findings/drills/{world.drill.id}/review/return", data={"filing-reason": "请补充照片"})
    assert reviews.review_of(world.drill).filing_status == FilingStatus.RETURNED
    english_session(client, world.staff)
    html = page(client, world.drill).get_data(as_text=True)
    assert "请补充照片" in html and 'id="review-form"' in html


def test_viewer_sees_but_cannot_change(client, world):
    actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    english_session(client, world.viewer)
    html = page(client, world.drill).get_data(as_text=True)
    assert "疏散通道堵塞" in html and 'id="review-form"' not in html and 'id="new-finding-form"' not in html
    response = client.post(f"/findings/drills/{world.drill.id}/review", data={"review-execution": "x"})
    assert response.status_code == 403


def test_outsiders_get_404(client, world, make_drill):
    english_session(client, world.other_staff)
    assert page(client, world.drill).status_code == 404
    assert client.post(f"/findings/drills/{world.drill.id}/review", data={"review-execution": "x"}).status_code == 404


def test_double_blind_page_hidden_before_start(client, world, make_drill):
    secret = make_drill(organizer=world.org_a, starts_at=at(days=3), double_blind=True, participants=[world.org_b])
    english_session(client, world.other_staff)
    assert page(client, secret).status_code == 404


def test_finding_form_refuses_due_date_before_the_finding(client, world):
    english_session(client, world.staff)
    response = client.post(
        f"/findings/drills/{world.drill.id}/findings",
        data={
            "new-summary": "广播不响",
            "new-severity": "major",
            "new-category": "equipment",
            "new-found_on": local_day(-1).isoformat(),
            "new-description": "更换广播",
            "new-owner_id": str(world.colleague.id),
            "new-due_on": local_day(-4).isoformat(),
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The due date cannot be before the finding" in html and "广播不响" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Finding)) == 0
    response = client.post(
        f"/findings/drills/{world.drill.id}/findings",
        data={
            "new-summary": "广播不响",
            "new-severity": "major",
            "new-category": "equipment",
            "new-description": "更换广播",
            "new-owner_id": str(world.colleague.id),
            "new-due_on": local_day(4).isoformat(),
        },
    )
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Finding.summary)) == "广播不响"


def test_new_finding_asks_who_corrects_it_instead_of_picking_someone(client, world):
    english_session(client, world.staff)
    html = page(client, world.drill).get_data(as_text=True)
    assert '<option selected value="">— choose who corrects it —</option>' in html
    response = client.post(
        f"/findings/drills/{world.drill.id}/findings",
        data={
            "new-summary": "广播不响",
            "new-severity": "major",
            "new-category": "equipment",
            "new-description": "更换广播",
            "new-owner_id": "",
            "new-due_on": local_day(4).isoformat(),
        },
    )
    assert response.status_code == 422
    assert "广播不响" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Finding)) == 0


def test_owner_and_verifier_buttons(client, world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    english_session(client, world.staff)
    assert "Start correcting" not in page(client, world.drill).get_data(as_text=True)
    english_session(client, world.colleague)
    assert "Start correcting" in page(client, world.drill).get_data(as_text=True)
    for status in ("in_progress", "done"):
        response = client.post(f"/findings/{finding.id}/step", data={"status": status})
        assert response.status_code == 302
    html = page(client, world.drill).get_data(as_text=True)
    assert "Verify and close" not in html and "Marked as corrected" in html
    english_session(client, world.staff)
    html = page(client, world.drill).get_data(as_text=True)
    assert "Verify and close" in html and "Send back" in html
    response = client.post(f"/findings/{finding.id}/step", data={"status": "in_progress"})
    assert response.status_code == 422 and "Say what is still missing" in response.get_data(as_text=True)
    client.post(f"/findings/{finding.id}/step", data={"status": "in_progress", "reason": "照片模糊"})
    assert finding.corrective_action.status == ActionStatus.IN_PROGRESS
    assert "照片模糊" in page(client, world.drill).get_data(as_text=True)


def test_owner_cannot_verify_through_the_form(client, world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.staff))
    actions.update_finding(world.staff, finding, {"corrective_action": {"status": "in_progress"}})
    actions.update_finding(world.staff, finding, {"corrective_action": {"status": "done"}})
    english_session(client, world.staff)
    assert client.post(f"/findings/{finding.id}/step", data={"status": "verified"}).status_code == 403


def post_finding_edit(client, finding, summary, severity, description, owner, due_on):
    """The finding's edit form sent with these values (a facility finding, as found, at version 1)."""
    values = {
        "summary": summary,
        "severity": severity,
        "category": "facility",
        "found_on": finding.found_on.isoformat(),
        "description": description,
        "owner_id": str(owner.id),
        "due_on": due_on,
        "version": "1",
    }
    return client.post(
        f"/findings/{finding.id}/edit", data={f"f{finding.id}-{name}": value for name, value in values.items()}
    )


def test_edit_finding_form(client, world):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    english_session(client, world.staff)
    response = post_finding_edit(
        client, finding, "通道堵塞（已复核）", "critical", "清理并加装标识", world.staff, "2099-01-31"
    )
    assert response.status_code == 302
    db.session.refresh(finding)
    assert finding.summary == "通道堵塞（已复核）" and finding.corrective_action.owner_id == world.staff.id


def test_panel_partial_loads_in_a_fixed_number_of_queries(app, world, make_user):
    """The drill page includes the partial; its queries must not grow with the number of findings."""
    from flask_login import login_user

    def render_count(n_findings):
        for _ in range(n_findings):
            finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
            actions.update_finding(world.colleague, finding, {"corrective_action": {"status": "in_progress"}})
        statements = []
        connection = db.session.get_bind()

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        with app.test_request_context(f"/drills/{world.drill.id}"):
            login_user(world.staff)
            sa.event.listen(connection, "before_cursor_execute", count)
            try:
                html = render_template_string(
                    '{% include "findings/_drill_panel.html" ignore missing %}', drill=world.drill, can_edit=True
                )
            finally:
                sa.event.remove(connection, "before_cursor_execute", count)
        return html, len(statements)

    html_few, few = render_count(1)
    html_many, many = render_count(6)
    assert html_many.count('id="finding-') == 7 and html_few.count('id="finding-') == 1
    assert many == few, (few, many)


def test_actions_page_lists_scope_overdue_first(client, world):
    late = let_time_pass(
        actions.add_drill_finding(
            world.staff,
            world.drill,
            finding_data(world.colleague, 1, summary="逾期的问题", found_on=local_day(-10).isoformat()),
        ),
        -1,
    )
    actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague, 9, summary="未到期的问题"))
    english_session(client, world.coordinator)
    html = client.get("/findings/actions").get_data(as_text=True)
    assert html.index("逾期的问题") < html.index("未到期的问题")
    assert "Overdue" in html and f"#finding-{late.id}" in html
    html = client.get("/findings/actions?overdue=1").get_data(as_text=True)
    assert "逾期的问题" in html and "未到期的问题" not in html
    html = client.get("/findings/actions?severity=huge").get_data(as_text=True)
    assert "Unknown value" in html
    english_session(client, world.other_coordinator)
    html = client.get("/findings/actions").get_data(as_text=True)
    assert "逾期的问题" not in html and "No open corrective actions." in html


def test_menu_shows_corrective_actions(client, world):
    english_session(client, world.viewer)
    html = client.get("/findings/actions").get_data(as_text=True)
    assert re.search(r'href="/findings/actions"', html)


def test_planned_drill_panel_explains_why_empty(client, world, make_drill):
    planned = make_drill(organizer=world.org_a, starts_at=at(days=5), status=DrillStatus.PLANNED)
    english_session(client, world.staff)
    html = page(client, planned).get_data(as_text=True)
    assert "recorded once the drill is completed" in html and 'id="review-form"' not in html


def test_drill_detail_page_includes_the_panel(client, world, app):
    finding = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    english_session(client, world.staff)
    with app.test_request_context():
        url = url_for("drills.detail", drill_id=world.drill.id)
    html = client.get(url).get_data(as_text=True)
    assert 'id="review-form"' in html and f'id="finding-{finding.id}"' in html
    assert f'name="next" value="{url}"' in html
    response = client.post(
        f"/findings/drills/{world.drill.id}/review",
        data={"review-execution": "按预案疏散", "review-version": "0", "next": url},
    )
    assert response.headers["Location"].endswith(url)


def _checklist_finding(world, owner):
    from drillmgr.checklists.models import ChecklistRun, ChecklistTemplate

    template = ChecklistTemplate(name="学校常态准备清单")
    db.session.add(template)
    db.session.flush()
    run = ChecklistRun(template_id=template.id, org_id=world.org_a.id, region_code=world.org_a.region_code)
    db.session.add(run)
    db.session.commit()
    return actions.create_finding(
        world.staff,
        finding_data(owner, summary="应急照明损坏"),
        region_code=run.region_code,
        org_id=run.org_id,
        checklist_run_id=run.id,
    )


def test_checklist_finding_has_its_own_page_and_is_closed_out_there(client, world):
    finding = _checklist_finding(world, world.colleague)
    english_session(client, world.coordinator)
    html = client.get("/findings/actions").get_data(as_text=True)
    assert f'href="/findings/{finding.id}"' in html
    english_session(client, world.colleague)
    html = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    assert "应急照明损坏" in html and "Start correcting" in html
    for status in ("in_progress", "done"):
        response = client.post(f"/findings/{finding.id}/step", data={"status": status})
        assert response.headers["Location"].endswith(f"/findings/{finding.id}")
    english_session(client, world.staff)
    html = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    assert "Verify and close" in html and "Change this finding" in html and "Marked as corrected" in html
    client.post(f"/findings/{finding.id}/step", data={"status": "verified"})
    assert finding.corrective_action.status == ActionStatus.VERIFIED


def test_checklist_finding_page_scope_and_form_errors(client, world):
    finding = _checklist_finding(world, world.colleague)
    for outsider in (world.other_staff, world.other_coordinator):
        english_session(client, outsider)
        assert client.get(f"/findings/{finding.id}").status_code == 404
    english_session(client, world.staff)
    response = post_finding_edit(client, finding, "应急照明损坏", "major", "更换", world.colleague, "2001-01-01")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The due date cannot be before the finding" in html and "2001-01-01" in html
    assert f'name="next" value="/findings/{finding.id}"' in html


def test_edit_form_keeps_an_owner_who_is_no_longer_eligible(client, world, make_user):
    evaluator = make_user(role=Role.ORG_STAFF, org=world.org_c, display_name="外单位评估员")
    world.drill.evaluators = [evaluator]
    db.session.commit()
    actions.add_drill_finding(world.staff, world.drill, finding_data(evaluator))
    world.drill.evaluators = []
    db.session.commit()
    english_session(client, world.staff)
    html = page(client, world.drill).get_data(as_text=True)
    assert re.search(rf'<option selected value="{evaluator.id}">外单位评估员', html)


def test_filing_files_the_text_on_the_screen(client, world):
    """Typing into the review and pressing 'submit for filing' files what was typed, not the saved draft."""
    english_session(client, world.staff)
    reviews.save_review(world.staff, world.drill, {"execution": "旧的草稿", "version": 0})
    html = page(client, world.drill).get_data(as_text=True)
    form = html[html.index('id="review-form"') : html.index("</form>", html.index('id="review-form"'))]
    assert 'name="then" value="submit"' in form, "the filing button belongs to the review form"
    response = client.post(
        f"/findings/drills/{world.drill.id}/review",
        data={"review-execution": "屏幕上新写的内容", "review-version": "1", "then": "submit"},
    )
    assert response.status_code == 302
    review = reviews.review_of(world.drill)
    assert (review.execution, review.filing_status) == ("屏幕上新写的内容", FilingStatus.SUBMITTED)


def test_filing_refused_still_keeps_the_saved_text(client, world):
    english_session(client, world.staff)
    response = client.post(
        f"/findings/drills/{world.drill.id}/review",
        data={"review-execution": "", "review-went_well": "保留这一段", "review-version": "0", "then": "submit"},
    )
    assert response.status_code == 422 and "Describe how the drill was carried out" in response.get_data(as_text=True)
    review = reviews.review_of(world.drill)
    assert (review.went_well, review.filing_status) == ("保留这一段", FilingStatus.DRAFT)


def test_a_planned_drill_shows_no_filing_badge(client, world, make_drill):
    planned = make_drill(organizer=world.org_a, starts_at=at(days=5))
    english_session(client, world.staff)
    assert 'id="filing-status"' not in page(client, planned).get_data(as_text=True)
    assert 'id="filing-status"' in page(client, world.drill).get_data(as_text=True)
