"""Half-year report submissions: frozen snapshots, the prefecture's decision, history, access, the
dashboard's county panel, the API and the deadline reminders that stop once a county submitted."""

from datetime import datetime, timedelta, timezone
from io import BytesIO

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import load_workbook

from drillmgr.audit.services import entries_for
from drillmgr.compliance import submissions
from drillmgr.compliance.models import ReportSubmission, SubmissionStatus
from drillmgr.compliance.periods import report_due_half, reporting_half
from drillmgr.db import utcnow
from drillmgr.drills.models import Participation
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.errors import Conflict, Forbidden, NotFound, ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import local_today
from drillmgr.notifications.models import Notification
from drillmgr.notifications.services import Kind
from drillmgr.scheduler import compliance_jobs
from tests.conftest import PREFECTURE, SHAWAN, WUSU, login, token_for

UTC = timezone.utc
# 2026 H1 runs 9 November 2025 .. 7 June 2026; filing opens 30 days before, on 8 May.
H1_DRILL = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
ON_TIME = datetime(2026, 6, 7, 10, 0, tzinfo=UTC)  # 18:00 Beijing on the deadline
LATE = datetime(2026, 6, 7, 16, 30, tzinfo=UTC)  # 00:30 Beijing on 8 June


def notes(kind):
    return list(db.session.scalars(sa.select(Notification).where(Notification.kind == kind).order_by(Notification.id)))


@pytest.fixture
def world(make_user, make_org, make_drill):
    school = make_org(kind=OrgKind.SCHOOL, name="乌苏提交测试中学")
    drill = make_drill(organizer=school, starts_at=H1_DRILL, status=DrillStatus.COMPLETED, title="春季疏散演练")
    db.session.add(Participation(drill_id=drill.id, students=800, staff=60, evacuation_seconds=110))
    db.session.commit()
    return {
        "school": school,
        "drill": drill,
        "coordinator": make_user(role=Role.COORDINATOR, region_code=WUSU, email="wusu@example.cn"),
        "shawan": make_user(role=Role.COORDINATOR, region_code=SHAWAN, email="shawan@example.cn"),
        "prefecture_coordinator": make_user(role=Role.COORDINATOR, region_code=PREFECTURE),
        "admin": make_user(role=Role.ADMIN, email="admin@example.cn"),
        "viewer": make_user(role=Role.VIEWER, region_code=WUSU),
        "staff": make_user(role=Role.ORG_STAFF, org=school),
    }


def participants_cell(document: dict) -> int:
    section = next(s for s in document["sections"] if s["key"] == "participation")
    return next(row[1] for row in section["rows"] if row[0] in ("学生", "Students"))


def test_submit_freezes_figures_and_workbook(world):
    submission = submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    assert (submission.version, submission.status, submission.late) == (1, SubmissionStatus.SUBMITTED, False)
    assert submission.submitted_by_id == world["coordinator"].id and submission.submitted_at == ON_TIME
    assert submission.document["participation"]["students"] == 800
    assert participants_cell(submission.document) == 800
    book = load_workbook(BytesIO(submission.xlsx))
    assert submission.document["title"] == book.worksheets[0]["A1"].value
    assert submissions.figures_changed(submission) is False
    assert [e.action for e in entries_for("report_submission", submission.id)] == ["submit"]
    assert [n.user_id for n in notes(Kind.REPORT_SUBMITTED)] == [world["admin"].id]


def test_snapshot_unchanged_after_drill_changes_and_says_so(world):
    submission = submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    frozen_document, frozen_xlsx = submission.document, bytes(submission.xlsx)
    world["drill"].participation.students = 1200
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(ReportSubmission, submission.id)
    assert again.document == frozen_document and bytes(again.xlsx) == frozen_xlsx
    assert again.document["participation"]["students"] == 800
    assert submissions.figures_changed(again) is True


def test_late_is_after_the_deadline_in_beijing_time(world):
    assert submissions.submit(world["coordinator"], WUSU, 2026, 1, now=LATE).late is True


def test_filing_opens_thirty_days_before_the_deadline(world):
    with pytest.raises(Conflict):
        submissions.submit(world["coordinator"], WUSU, 2026, 1, now=datetime(2026, 5, 6, 12, 0, tzinfo=UTC))
    assert (
        submissions.submit(world["coordinator"], WUSU, 2026, 1, now=datetime(2026, 5, 8, 12, 0, tzinfo=UTC)).version
        == 1
    )


def test_double_submit_is_a_conflict(world):
    submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    with pytest.raises(Conflict):
        submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportSubmission)) == 1


def test_return_resubmit_accept_keeps_history(world):
    first = submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    with pytest.raises(ValidationError):
        submissions.decide(world["admin"], first.id, accept=False, reason="  ")
    with pytest.raises(ValidationError):
        submissions.decide(world["admin"], first.id, accept=False, reason="bad\x00reason")
    submissions.decide(world["admin"], first.id, accept=False, reason="学生人数有误")
    assert (first.status, first.reason, first.decided_by_id) == (
        SubmissionStatus.RETURNED,
        "学生人数有误",
        world["admin"].id,
    )
    returned = notes(Kind.REPORT_RETURNED)
    assert [n.user_id for n in returned] == [world["coordinator"].id] and "学生人数有误" in returned[0].body
    with pytest.raises(Conflict):  # decided once only
        submissions.decide(world["admin"], first.id, accept=True)
    second = submissions.submit(world["coordinator"], WUSU, 2026, 1, now=LATE)
    assert (second.version, second.late) == (2, True)
    submissions.decide(world["admin"], second.id, accept=True)
    assert second.status == SubmissionStatus.ACCEPTED
    assert [h.version for h in submissions.history(second)] == [2, 1]
    assert first.status == SubmissionStatus.RETURNED and first.submitted_at == ON_TIME
    assert first.document["participation"] == second.document["participation"]
    assert [e.action for e in entries_for("report_submission", second.id)] == ["submit", "accept"]
    with pytest.raises(Conflict):  # accepted: nothing more to submit
        submissions.submit(world["coordinator"], WUSU, 2026, 1, now=LATE)


@pytest.mark.parametrize(
    "who, allowed",
    [
        ("coordinator", True),
        ("prefecture_coordinator", True),
        ("shawan", False),
        ("admin", False),
        ("viewer", False),
        ("staff", False),
    ],
)
def test_who_submits(world, who, allowed):
    if allowed:
        assert submissions.submit(world[who], WUSU, 2026, 1, now=ON_TIME).version == 1
    else:
        with pytest.raises(Forbidden):
            submissions.submit(world[who], WUSU, 2026, 1, now=ON_TIME)


def test_only_counties_submit_and_only_admins_decide(world):
    with pytest.raises(ValidationError):
        submissions.submit(world["prefecture_coordinator"], PREFECTURE, 2026, 1, now=ON_TIME)
    with pytest.raises(NotFound):
        submissions.submit(world["coordinator"], "999999", 2026, 1, now=ON_TIME)
    with pytest.raises(ValidationError):
        submissions.submit(world["coordinator"], WUSU, 2026, 3, now=ON_TIME)
    submission = submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    for who in ("coordinator", "prefecture_coordinator", "viewer", "staff"):
        with pytest.raises(Forbidden):
            submissions.decide(world[who], submission.id, accept=True)
    with pytest.raises(NotFound):
        submissions.decide(world["admin"], 2**31 - 1, accept=True)


def test_board_states(world):
    submissions.submit(world["coordinator"], WUSU, 2026, 1, now=LATE)
    states = {
        row.region.code: (row.status, row.submission.late if row.submission else None)
        for row in submissions.board(world["admin"], 2026, 1)
    }
    assert states[WUSU] == ("submitted", True) and states[SHAWAN] == ("not_submitted", None)
    assert [row.region.code for row in submissions.board(world["shawan"], 2026, 1)] == [SHAWAN]


def test_deadline_reminders_stop_once_a_county_submitted(world):
    morning = datetime(2026, 5, 24, 0, 0, tzinfo=UTC)  # 08:00 Beijing, 14 days before 7 June
    submissions.submit(world["coordinator"], WUSU, 2026, 1, now=datetime(2026, 5, 20, 3, 0, tzinfo=UTC))
    with force_locale("en"):
        compliance_jobs.report_deadline_reminders(morning)
    reminded = {n.user_id for n in notes(Kind.REPORT_DEADLINE)}
    assert world["coordinator"].id not in reminded
    assert {world["shawan"].id, world["prefecture_coordinator"].id} <= reminded
    # Returned: the county is reminded again in the next window.
    submissions.decide(world["admin"], submissions.latest(WUSU, 2026, 1).id, accept=False, reason="重报")
    with force_locale("en"):
        compliance_jobs.report_deadline_reminders(datetime(2026, 6, 4, 0, 0, tzinfo=UTC))
    assert world["coordinator"].id in {n.user_id for n in notes(Kind.REPORT_DEADLINE)}


# --- web and API ---------------------------------------------------------------------------------


@pytest.fixture
def due(make_drill, world):
    """The period the report page offers today, with a completed drill of the school in it."""
    year, half = report_due_half(local_today(utcnow()))
    period = reporting_half(year, half)
    drill = make_drill(
        organizer=world["school"],
        starts_at=period.start + timedelta(days=20),
        status=DrillStatus.COMPLETED,
        title="本期疏散演练",
    )
    db.session.add(Participation(drill_id=drill.id, students=321))
    db.session.commit()
    return {"year": year, "half": half, "drill": drill}


def test_web_submit_snapshot_print_xlsx_and_decide(client, world, due):
    login(client, world["coordinator"])
    page = client.get(f"/compliance/report?region={WUSU}&year={due['year']}&half={due['half']}").get_data(as_text=True)
    assert 'id="submit-report"' in page
    response = client.post("/compliance/submissions/", data={"region": WUSU, "year": due["year"], "half": due["half"]})
    assert response.status_code == 302
    submission = submissions.latest(WUSU, due["year"], due["half"])
    assert response.headers["Location"].endswith(f"/compliance/submissions/{submission.id}")
    snapshot = client.get(f"/compliance/submissions/{submission.id}").get_data(as_text=True)
    assert "乌苏提交测试中学" in snapshot and "figures-changed" not in snapshot and "accept-report" not in snapshot
    assert "321" in client.get(f"/compliance/submissions/{submission.id}?print=1").get_data(as_text=True)
    download = client.get(f"/compliance/submissions/{submission.id}.xlsx")
    assert download.data == submission.xlsx
    # Twice: the second is refused, nothing new is stored.
    again = client.post("/compliance/submissions/", data={"region": WUSU, "year": due["year"], "half": due["half"]})
    assert again.status_code == 302 and "/compliance/report" in again.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportSubmission)) == 1

    due["drill"].status = DrillStatus.CANCELLED
    db.session.commit()
    assert 'id="figures-changed"' in client.get(f"/compliance/submissions/{submission.id}").get_data(as_text=True)

    client.post("/logout")
    login(client, world["admin"])
    assert 'id="submission-board"' in client.get("/compliance/").get_data(as_text=True)
    assert (
        client.post(
            f"/compliance/submissions/{submission.id}/decision", data={"decision": "return", "reason": ""}
        ).status_code
        == 302
    )
    assert submission.status == SubmissionStatus.SUBMITTED
    client.post(f"/compliance/submissions/{submission.id}/decision", data={"decision": "return", "reason": "请核对"})
    db.session.refresh(submission)
    assert (submission.status, submission.reason) == (SubmissionStatus.RETURNED, "请核对")


@pytest.mark.parametrize(
    "who, status", [("admin", 200), ("coordinator", 200), ("viewer", 200), ("shawan", 404), ("staff", 403)]
)
def test_snapshot_page_access(client, world, due, who, status):
    submission = submissions.submit(world["coordinator"], WUSU, due["year"], due["half"])
    login(client, world[who])
    for url in (f"/compliance/submissions/{submission.id}", f"/compliance/submissions/{submission.id}.xlsx"):
        assert client.get(url).status_code == (404 if status == 403 else status)


def test_web_submit_refused_for_others(client, world, due):
    for who in ("shawan", "viewer", "staff", "admin"):
        login(client, world[who])
        response = client.post(
            "/compliance/submissions/", data={"region": WUSU, "year": due["year"], "half": due["half"]}
        )
        assert response.status_code == 403, who
        client.post("/logout")
    assert submissions.latest(WUSU, due["year"], due["half"]) is None


def test_api_submit_board_detail_decide(client, world, due):
    coordinator = token_for(client, world["coordinator"])
    body = {"region": WUSU, "year": due["year"], "half": due["half"]}
    created = client.post("/api/v1/reports/half-year/submissions", json=body, headers=coordinator)
    assert created.status_code == 201, created.get_json()
    data = created.get_json()
    assert (data["version"], data["status"], data["region"]["code"]) == (1, "submitted", WUSU)
    assert data["submitted_at"].endswith("+08:00") and data["decided_at"] is None  # instants in Beijing time
    assert client.post("/api/v1/reports/half-year/submissions", json=body, headers=coordinator).status_code == 409
    assert (
        client.post("/api/v1/reports/half-year/submissions", json={**body, "half": 3}, headers=coordinator).status_code
        == 422
    )
    admin = token_for(client, world["admin"])
    board = client.get(
        f"/api/v1/reports/half-year/submissions?year={due['year']}&half={due['half']}", headers=admin
    ).get_json()
    states = {c["code"]: c["state"] for c in board["counties"]}
    assert states[WUSU] == "submitted" and states[SHAWAN] == "not_submitted"
    detail = client.get(f"/api/v1/reports/half-year/submissions/{data['id']}", headers=admin).get_json()
    assert detail["figures_changed"] is False and detail["document"]["participation"]["students"] == 321
    xlsx = client.get(f"/api/v1/reports/half-year/submissions/{data['id']}?format=xlsx", headers=admin)
    assert xlsx.data == submissions.latest(WUSU, due["year"], due["half"]).xlsx
    shawan = token_for(client, world["shawan"])
    assert client.get(f"/api/v1/reports/half-year/submissions/{data['id']}", headers=shawan).status_code == 404
    decision = f"/api/v1/reports/half-year/submissions/{data['id']}/decision"
    assert client.post(decision, json={"decision": "accept"}, headers=coordinator).status_code == 403
    assert client.post(decision, json={"decision": "return"}, headers=admin).status_code == 422
    accepted = client.post(decision, json={"decision": "accept"}, headers=admin)
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["decided_at"].endswith("+08:00")
    assert client.post(decision, json={"decision": "accept"}, headers=admin).status_code == 409
    assert [n.user_id for n in notes(Kind.REPORT_ACCEPTED)] == [world["coordinator"].id]


def test_api_board_region_filter_is_checked(client, world, due):
    """The board's region must exist, be within 12 characters and within the caller's reach (fuzzer)."""
    board = f"/api/v1/reports/half-year/submissions?year={due['year']}&half={due['half']}"
    coordinator, admin = token_for(client, world["coordinator"]), token_for(client, world["admin"])
    only_wusu = client.get(f"{board}&region={WUSU}", headers=admin).get_json()
    assert [c["code"] for c in only_wusu["counties"]] == [WUSU]
    assert client.get(f"{board}&region={SHAWAN}", headers=coordinator).status_code == 403
    for hostile in ("0", "0" * 13, "6542\x0002", "9" * 400):
        answer = client.get(
            "/api/v1/reports/half-year/submissions",
            headers=admin,
            query_string={"year": due["year"], "half": due["half"], "region": hostile},
        )
        assert answer.status_code == 422 and "region" in answer.get_json()["errors"], hostile
    assert [c["code"] for c in client.get(board, headers=coordinator).get_json()["counties"]] == [WUSU]


def test_two_submissions_at_once_store_one(world, monkeypatch):
    """The second request read "nothing submitted" before the first landed: the version's uniqueness refuses it."""
    submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    monkeypatch.setattr(submissions, "latest", lambda *args: None)
    with pytest.raises(Conflict):
        submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    monkeypatch.undo()
    assert [s.version for s in db.session.scalars(sa.select(ReportSubmission))] == [1]
    assert len(notes(Kind.REPORT_SUBMITTED)) == 1


def test_snapshot_page_survives_the_submitter_leaving(client, world):
    submission = submissions.submit(world["coordinator"], WUSU, 2026, 1, now=ON_TIME)
    world["coordinator"].role, world["coordinator"].region_code = Role.ORG_STAFF, None
    db.session.commit()
    assert submissions.figures_changed(submission) is False
    login(client, world["admin"])
    assert client.get(f"/compliance/submissions/{submission.id}").status_code == 200
