"""Units' groups (班级/年级/病区/楼层): the model, the API, the web page, the import, and the roll call by group
feeding a drill's participation."""

import io

import pytest
from openpyxl import Workbook

from drillmgr.drills.lifecycle import complete_drill
from drillmgr.drills.schemas import DrillSchema
from drillmgr.enums import DrillStatus, OrgKind, Role
from drillmgr.errors import Conflict, Forbidden, ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import local_today
from drillmgr.orgs import services
from drillmgr.orgs.models import OrgGroup
from tests.conftest import TACHENG_CITY, WUSU, at, issue_kept_token, login

pytestmark = pytest.mark.usefixtures("english")


def auth(user) -> dict:
    return {"Authorization": f"Bearer {issue_kept_token(user)}", "Accept-Language": "en"}


def xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def school(make_org):
    return make_org(kind=OrgKind.SCHOOL, region_code=WUSU, headcount=100)


@pytest.fixture
def staff(make_user, school):
    return make_user(role=Role.ORG_STAFF, org=school)


def test_set_groups_replaces_all_keeping_ids_of_unchanged_names(school, staff):
    first = services.set_groups(staff, school, [{"name": "一班", "expected": 40}, {"name": "二班", "expected": 38}])
    one_id = first[0].id
    services.set_groups(staff, school, [{"name": "三班", "expected": "41"}, {"name": "一班", "expected": 39}])
    db.session.expire_all()
    assert [(g.name, g.expected) for g in school.groups] == [("三班", 41), ("一班", 39)]
    assert school.groups[1].id == one_id
    assert db.session.query(OrgGroup).filter_by(name="二班").count() == 0


def test_set_groups_refuses_all_on_one_bad_group(school, staff):
    services.set_groups(staff, school, [{"name": "一班", "expected": 40}])
    db.session.commit()  # the test is the unit of work: the first request's groups are kept
    with pytest.raises(ValidationError) as caught:
        services.set_groups(
            staff,
            school,
            [
                {"name": "二班", "expected": 30},
                {"name": "二班", "expected": 1},
                {"name": "", "expected": 2},
                {"name": "四班", "expected": -1},
                {"name": "五班", "expected": 2**31},
                {"name": "六\x00班", "expected": 1},
            ],
        )
    db.session.rollback()
    errors = caught.value.errors["groups"]
    assert errors[0].startswith("Group 2, name: Duplicate")
    assert any(e.startswith("Group 3, name:") for e in errors)
    assert any(e.startswith("Group 4, expected: Must be at least 0") for e in errors)
    assert any(e.startswith("Group 5, expected: Must be at most") for e in errors)
    assert [g.name for g in school.groups] == ["一班"]


def test_stale_version_is_a_conflict(school, staff):
    version = school.version
    services.set_groups(staff, school, [{"name": "一班", "expected": 40}], version)
    with pytest.raises(Conflict):
        services.set_groups(staff, school, [{"name": "二班", "expected": 40}], version)


def test_only_the_units_staff_and_managers_change_groups(school, make_org, make_user):
    stranger = make_user(role=Role.ORG_STAFF, org=make_org(region_code=TACHENG_CITY))
    with pytest.raises(Forbidden):
        services.set_groups(stranger, school, [{"name": "一班", "expected": 40}])
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    assert len(services.set_groups(coordinator, school, [{"name": "一班", "expected": 40}])) == 1


def test_api_get_and_put_groups(client, school, staff, make_org, make_user):
    answer = client.put(
        f"/api/v1/orgs/{school.id}/groups",
        headers=auth(staff),
        json={
            "groups": [{"name": "一班", "expected": 40}, {"name": "二班", "expected": 38}],
            "version": school.version,
        },
    )
    assert answer.status_code == 200, answer.get_json()
    body = client.get(f"/api/v1/orgs/{school.id}/groups", headers=auth(staff)).get_json()
    assert [(g["name"], g["expected"]) for g in body["items"]] == [("一班", 40), ("二班", 38)]
    stale = client.put(
        f"/api/v1/orgs/{school.id}/groups", headers=auth(staff), json={"groups": [], "version": body["version"] - 1}
    )
    assert stale.status_code == 409
    bad = client.put(f"/api/v1/orgs/{school.id}/groups", headers=auth(staff), json={"groups": "一班"})
    assert bad.status_code == 422
    stranger = make_user(role=Role.ORG_STAFF, org=make_org(region_code=TACHENG_CITY))
    assert client.get(f"/api/v1/orgs/{school.id}/groups", headers=auth(stranger)).status_code == 404
    assert client.put(f"/api/v1/orgs/{2**31}/groups", headers=auth(staff), json={"groups": []}).status_code == 404


def test_import_xlsx_all_rows_or_none(school, staff, tmp_path):
    good = tmp_path / "groups.xlsx"
    good.write_bytes(xlsx([["班级", "应到人数"], ["一年级一班", 40], ["一年级二班", "38"], [None, None]]))
    created = services.import_groups(staff, school, services.read_group_rows(good))
    db.session.commit()
    assert [(g.name, g.expected) for g in created] == [("一年级一班", 40), ("一年级二班", 38)]
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx([["name", "expected"], ["三班", 30], ["四班", "many"], ["三班", 2]]))
    with pytest.raises(ValidationError) as caught:
        services.import_groups(staff, school, services.read_group_rows(bad))
    db.session.rollback()
    assert caught.value.errors["groups"] == [
        "Line 3, expected: Must be a whole number.",
        "Line 4, name: Duplicate of an earlier group.",
    ]
    assert [g.name for g in school.groups] == ["一年级一班", "一年级二班"]
    headless = tmp_path / "headless.xlsx"
    headless.write_bytes(xlsx([["class"], ["一班"]]))
    with pytest.raises(ValidationError, match="Line 1: missing columns: name, expected"):
        services.read_group_rows(headless)


@pytest.mark.parametrize("version", [None, "", "\u00b9", "99999999999999999999"])
def test_web_groups_without_a_version_the_form_carried_save_nothing(client, school, staff, version):
    login(client, staff)
    data = {"lines": "一班, 40\n"} | ({} if version is None else {"version": version})
    response = client.post(f"/orgs/{school.id}/groups", data=data)
    assert response.status_code == 200 and "该单位信息已被他人修改" in response.get_data(as_text=True)
    db.session.expire_all()
    assert school.groups == []


def test_web_edit_and_import(client, school, staff):
    login(client, staff)
    page = client.get(f"/orgs/{school.id}/groups")
    assert page.status_code == 200
    saved = client.post(f"/orgs/{school.id}/groups", data={"lines": "一班, 40\n二班，38\n", "version": school.version})
    assert saved.status_code == 302
    detail = client.get(f"/orgs/{school.id}").get_data(as_text=True)
    assert "一班" in detail and "78" in detail
    bad = client.post(f"/orgs/{school.id}/groups", data={"lines": "三班\n", "version": school.version})
    assert bad.status_code == 200 and "#1" not in bad.get_data(as_text=True)
    assert [g.name for g in school.groups] == ["一班", "二班"]
    upload = client.post(
        f"/orgs/{school.id}/groups/import",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(xlsx([["name", "expected"], ["四班", 41], ["五班", "x"]])), "g.xlsx")},
    )
    assert upload.status_code == 422 and "第 3 行，expected" in upload.get_data(as_text=True)
    assert [g.name for g in school.groups] == ["一班", "二班"]
    upload = client.post(
        f"/orgs/{school.id}/groups/import",
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(xlsx([["name", "expected"], ["四班", 41]])), "g.xlsx")},
    )
    assert upload.status_code == 302
    db.session.expire_all()
    assert [(g.name, g.expected) for g in school.groups] == [("四班", 41)]


@pytest.fixture
def drill_with_groups(school, staff, make_drill):
    groups = services.set_groups(staff, school, [{"name": "一班", "expected": 40}, {"name": "二班", "expected": 38}])
    drill = make_drill(organizer=school, starts_at=at(hours=-1))
    return drill, groups


def test_completion_by_group_feeds_counts(drill_with_groups, staff):
    drill, (one, two) = drill_with_groups
    complete_drill(
        staff,
        drill,
        {
            "participation": {
                "groups": [
                    {"group_id": one.id, "present": 40, "missing": 0},
                    {"group_id": two.id, "present": 37, "missing": 1},
                ],
                "counts": {"staff": 5},
                "evacuation_seconds": 95,
            }
        },
    )
    db.session.commit()
    db.session.expire_all()
    assert drill.status == DrillStatus.COMPLETED
    assert (drill.participation.students, drill.participation.staff, drill.participation.total) == (77, 5, 82)
    data = DrillSchema().dump(drill)["participation"]
    assert data["groups"] == [
        {"group_id": one.id, "name": "一班", "expected": 40, "present": 40, "missing": 0},
        {"group_id": two.id, "name": "二班", "expected": 38, "present": 37, "missing": 1},
    ]
    complete_drill(staff, drill, {"participation": {"groups": [{"group_id": one.id, "present": 39, "missing": 1}]}})
    db.session.commit()
    db.session.expire_all()
    assert [(g.name, g.present) for g in drill.participation.groups] == [("一班", 39)]
    assert drill.participation.students == 39


def test_completion_by_group_refuses_bad_groups(drill_with_groups, staff, make_org):
    drill, (one, two) = drill_with_groups
    other = make_org(region_code=WUSU)
    foreign = OrgGroup(org=other, name="外班", expected=10)
    db.session.add(foreign)
    db.session.commit()
    with pytest.raises(ValidationError) as caught:
        complete_drill(
            staff,
            drill,
            {
                "participation": {
                    "groups": [
                        {"group_id": foreign.id, "present": 1},
                        {"group_id": one.id, "present": 3},
                        {"group_id": one.id, "present": 3},
                        {"group_id": two.id, "present": -1},
                    ],
                    "counts": {"students": 4},
                }
            },
        )
    db.session.rollback()
    errors = caught.value.errors
    assert "participation.groups.0.group_id" in errors and "participation.groups.2.group_id" in errors
    assert "participation.groups.3.present" in errors
    with pytest.raises(ValidationError) as caught:
        complete_drill(
            staff, drill, {"participation": {"groups": [{"group_id": one.id, "present": 3}], "counts": {"students": 4}}}
        )
    db.session.rollback()
    assert caught.value.errors == {"participation.counts.students": ["Must equal the sum of the groups' present, 3."]}
    assert drill.status == DrillStatus.PLANNED


def test_api_completion_with_groups_and_the_drill_answer(client, drill_with_groups, staff):
    drill, (one, two) = drill_with_groups
    answer = client.post(
        f"/api/v1/drills/{drill.id}/complete",
        headers=auth(staff),
        json={
            "participation": {
                "groups": [{"group_id": one.id, "present": 40}, {"group_id": two.id, "present": 37, "missing": 1}],
                "evacuation_seconds": 88,
            }
        },
    )
    assert answer.status_code == 200, answer.get_json()
    part = answer.get_json()["participation"]
    assert part["counts"]["students"] == 77 and part["total"] == 77 and part["evacuation_seconds"] == 88
    assert [(g["name"], g["present"], g["missing"]) for g in part["groups"]] == [("一班", 40, 0), ("二班", 37, 1)]


def test_half_year_report_counts_the_roll_calls_by_group(client, drill_with_groups, staff, make_user):
    from drillmgr.compliance.periods import reporting_half_of
    from drillmgr.compliance.reports import half_year_report
    from drillmgr.db import utcnow

    drill, (one, two) = drill_with_groups
    complete_drill(
        staff,
        drill,
        {
            "participation": {
                "groups": [{"group_id": one.id, "present": 39, "missing": 1}, {"group_id": two.id, "present": 38}],
                "evacuation_seconds": 90,
            }
        },
    )
    services.set_groups(
        staff, drill.organizer_org, [{"name": "一班", "expected": 40}]
    )  # 二班 gone: its roll call stays
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    year, half = reporting_half_of(local_today(utcnow()))
    report = half_year_report(coordinator, WUSU, year, half)
    unit = drill.organizer_org.name
    assert report.by_group == [
        {"unit": unit, "group": "一班", "drills": 1, "expected": 40, "present": 39, "absent": 1},
        {"unit": unit, "group": "二班", "drills": 1, "expected": 38, "present": 38, "absent": 0},
    ]
    table = next(t for t in report.document.tables if t.key == "by-group")
    assert [[c.value for c in row] for row in table.rows] == [
        [unit, "一班", 1, 40, 39, 1],
        [unit, "二班", 1, 38, 38, 0],
    ]
    answer = client.get(f"/api/v1/reports/half-year?region={WUSU}&year={year}&half={half}", headers=auth(coordinator))
    assert answer.status_code == 200
    assert answer.get_json()["participation_by_group"] == report.by_group
    # Another county's coordinator sees none of it.
    other = make_user(role=Role.COORDINATOR, region_code=TACHENG_CITY)
    assert half_year_report(other, TACHENG_CITY, year, half).by_group == []
