"""Issue 16 item 7: from 2027 a double-blind tabletop counts for the key-county rule only if it was run blind,
revealed at its start by the exercise console; 2026 drills, held before the console, keep counting."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from drillmgr.access.services import SYSTEM
from drillmgr.compliance.evaluation import evaluate
from drillmgr.compliance.labels import describe_params, evidence_description, missing_label
from drillmgr.compliance.rules import effective_params, ensure_rules, get_rule, params_of, update_rule
from drillmgr.enums import ComplianceStatus, DrillForm, DrillStatus, Role
from drillmgr.exercises.enums import SessionStatus
from drillmgr.exercises.models import ExerciseSession
from drillmgr.extensions import db
from tests.conftest import SHAWAN, WUSU

BJ = ZoneInfo("Asia/Shanghai")
RULE = "key-county-double-blind-tabletop"
S = ComplianceStatus


@pytest.fixture(autouse=True)
def _request(app, _transaction):
    with app.test_request_context("/api/v1/", headers={"Accept-Language": "en"}):
        yield


def bj(year, month, day, hour=10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=BJ).astimezone(timezone.utc)


def result(year, subject, now):
    (rule_result,) = evaluate(year, actor=SYSTEM, now=now, rule_keys=[RULE])
    return next(r for r in rule_result.results if r.subject_id == subject)


@pytest.fixture
def tabletop(make_drill):
    def make(starts_at, region=WUSU, console=None, double_blind=True):
        drill = make_drill(
            organizer=region,
            starts_at=starts_at,
            form=DrillForm.TABLETOP,
            double_blind=double_blind,
            status=DrillStatus.COMPLETED,
        )
        if console is not None:  # run through the exercise console; revealed by it or already known
            db.session.add(
                ExerciseSession(
                    drill_id=drill.id,
                    status=SessionStatus.ENDED,
                    started_at=starts_at,
                    revealed_by_console=console,
                    ended_at=starts_at,
                )
            )
            db.session.commit()
        return drill

    return make


def test_defaults_require_it_from_2027_only(make_user):
    assert get_rule(2026, RULE).params["run_blind_required"] is False
    # 2027 is materialised from 2026's rules, yet takes the console's requirement.
    assert get_rule(2027, RULE).params["run_blind_required"] is True
    assert get_rule(2028, RULE).params["run_blind_required"] is True
    other = get_rule(2027, "key-county-comprehensive-live")
    assert "run_blind_required" not in other.params and not effective_params(other).get("run_blind_required")


def test_2027_double_blind_tabletop_counts_only_if_the_console_revealed_it(tabletop):
    plain = tabletop(bj(2027, 3, 1))
    r = result(2027, WUSU, bj(2027, 6, 10))
    assert r.slots[0].status == S.MISSED and r.slots[0].achieved == 0
    assert r.missing == [f"not_run_blind:drill-{plain.id}", "2027-H2"]
    assert r.reasons[0] == f"not_run_blind:drill-{plain.id}"
    assert missing_label(r.missing[0]) == (
        f"double-blind drill {plain.id} was not run blind: the exercise console did not reveal it at its start"
    )

    tabletop(bj(2027, 3, 2), region=SHAWAN, console=False)  # started by the console, but known before
    r = result(2027, SHAWAN, bj(2027, 6, 10))
    assert r.slots[0].status == S.MISSED and r.slots[0].achieved == 0
    assert r.missing[0].startswith("not_run_blind:drill-")

    run = tabletop(bj(2027, 4, 1), console=True)
    r = result(2027, WUSU, bj(2027, 6, 10))
    assert r.slots[0].status == S.MET and r.slots[0].achieved == 1 and r.slots[0].evidence[0]["id"] == run.id
    # The evaluation without evidence (the dashboard's matrix) agrees.
    (bare,) = evaluate(2027, actor=SYSTEM, now=bj(2027, 6, 10), rule_keys=[RULE], evidence=False)
    assert {x.subject_id: x.slots[0].achieved for x in bare.results}[WUSU] == 1


def test_a_plain_tabletop_run_through_the_console_still_does_not_count(tabletop):
    tabletop(bj(2027, 3, 1), double_blind=False, console=True)
    r = result(2027, WUSU, bj(2027, 6, 10))
    assert r.slots[0].achieved == 0 and r.missing == ["2027-H1", "2027-H2"]


def test_2026_double_blind_tabletop_counts_without_the_console(tabletop):
    tabletop(bj(2026, 3, 1))
    r = result(2026, WUSU, bj(2026, 6, 10))
    assert r.slots[0].status == S.MET and r.slots[0].achieved == 1


def test_admin_switches_the_requirement_off_for_2027(tabletop, make_user):
    tabletop(bj(2027, 3, 1))
    assert result(2027, WUSU, bj(2027, 6, 10)).slots[0].status == S.MISSED
    rule = get_rule(2027, RULE)
    update_rule(
        make_user(role=Role.ADMIN),
        rule,
        {"warning_days": "60", "count": "1", "period": "reporting_half", "enabled": "on"},
        version=rule.version,
    )
    assert rule.params["run_blind_required"] is False and rule.version == 2
    assert result(2027, WUSU, bj(2027, 6, 10)).slots[0].status == S.MET
    update_rule(
        make_user(role=Role.ADMIN),
        rule,
        {"warning_days": "60", "count": "1", "period": "reporting_half", "enabled": "on", "run_blind_required": "on"},
        version=2,
    )
    assert rule.params["run_blind_required"] is True
    assert result(2027, WUSU, bj(2027, 6, 10)).slots[0].status == S.MISSED


def test_a_rule_materialised_before_the_param_reads_its_years_default(tabletop):
    ensure_rules(2027)
    rule = get_rule(2027, RULE)
    rule.params = {k: v for k, v in rule.params.items() if k != "run_blind_required"}
    db.session.commit()
    tabletop(bj(2027, 3, 1))
    assert result(2027, WUSU, bj(2027, 6, 10)).slots[0].status == S.MISSED
    assert ("Run blind", "revealed at its start by the exercise console") in describe_params(params_of(rule))
    assert "run blind: revealed at its start by the exercise console" in evidence_description(params_of(rule))


def test_rule_form_shows_and_saves_the_switch(client, make_user):
    from tests.conftest import login

    admin = make_user(role=Role.ADMIN)
    login(client, admin)
    rule = get_rule(2027, RULE)
    page = client.get(f"/compliance/rules/{rule.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'name="run_blind_required" id="run_blind_required" checked' in page
    listing = client.get("/compliance/rules?year=2027", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "开始时由导调台揭晓" in listing
    saved = client.post(
        f"/compliance/rules/{rule.id}",
        data={"version": rule.version, "warning_days": "60", "count": "1", "period": "reporting_half", "enabled": "on"},
    )
    assert saved.status_code == 302
    db.session.refresh(rule)
    assert rule.params["run_blind_required"] is False and rule.version == 2
    page = client.get(f"/compliance/rules/{rule.id}").get_data(as_text=True)
    assert 'name="run_blind_required" id="run_blind_required" >' in page


def test_the_reason_reads_in_chinese(app):
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert missing_label("not_run_blind:drill-7") == "双盲演练7未以双盲方式实施：开始时未经导调台揭晓"
