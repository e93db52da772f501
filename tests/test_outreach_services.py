from datetime import date

import pytest
import sqlalchemy as sa
from tests.conftest import PREFECTURE, SHAWAN, WUSU

from drillmgr.audit.services import entries_for
from drillmgr.enums import ObservanceDay, OutreachKind, RegionLevel, Role, SiteStatus, SixIntoSetting
from drillmgr.errors import Forbidden, ValidationError
from drillmgr.extensions import db
from drillmgr.outreach import activities, audience, coverage, observance, sites
from drillmgr.outreach.models import OutreachActivity
from drillmgr.outreach.schemas import OutreachActivitySchema

YEAR = date.today().year - 1  # a year wholly past: activities are recorded once held


def campaign(day="05-12", held_on=None, **extra):
    return {
        "kind": "observance_campaign",
        "title": "防灾减灾日宣传",
        "observance_day": day,
        "held_on": held_on or f"{YEAR}-05-12",
        "region_code": WUSU,
        "channels": ["radio", "tv"],
        "audience": 5000,
        **extra,
    }


def six_into(setting="school", region_code=WUSU, held_on=None, **extra):
    return {
        "kind": "six_into",
        "title": "防震减灾进校园",
        "setting": setting,
        "held_on": held_on or f"{YEAR}-04-01",
        "region_code": region_code,
        "channels": ["on_site"],
        "audience": 300,
        **extra,
    }


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def admin(make_user):
    return make_user(role=Role.ADMIN)


def test_campaign_inside_window_counts(admin, app):
    for held in ("05-09", "05-12", "05-15"):
        activity = activities.create_activity(admin, campaign(held_on=f"{YEAR}-{held}"))
        assert observance.counts_toward_observance(activity)
        assert observance.observance_verdict(activity).counts


def test_campaign_outside_window_is_kept_but_not_counted_with_reason(admin):
    activity = activities.create_activity(admin, campaign(held_on=f"{YEAR}-05-16"))
    assert db.session.get(OutreachActivity, activity.id) is not None
    verdict = observance.observance_verdict(activity)
    assert verdict.counts is False
    assert "not counted" in verdict.reason and f"{YEAR}" in verdict.reason
    as_dict = OutreachActivitySchema().dump(activity)
    assert as_dict["counts_toward_observance"] is False and as_dict["observance_note"] == verdict.reason


def test_window_is_configurable(admin, app):
    activity = activities.create_activity(admin, campaign(day="07-28", held_on=f"{YEAR}-08-02"))
    assert not observance.counts_toward_observance(activity)
    assert observance.counts_toward_observance(activity, days=7)
    app.config["OUTREACH_OBSERVANCE_WINDOW_DAYS"] = 7
    try:
        assert observance.counts_toward_observance(activity)
        assert observance.observance_window(ObservanceDay.INTERNATIONAL_DAY, 2026) == (
            date(2026, 10, 6),
            date(2026, 10, 20),
        )
    finally:
        del app.config["OUTREACH_OBSERVANCE_WINDOW_DAYS"]


def test_the_compliance_rule_window_wins(admin):
    from drillmgr.compliance.models import ComplianceRule

    activity = activities.create_activity(admin, campaign(held_on=f"{YEAR}-05-17"))
    assert not observance.counts_toward_observance(activity)
    db.session.add(ComplianceRule(key="observance-campaigns", year=YEAR, title="x", params={"window_days": 5}))
    db.session.flush()
    assert observance.window_days(YEAR) == 5 and observance.window_days(YEAR - 1) == 3
    assert observance.counts_toward_observance(activity)
    assert observance.verdicts([activity])[activity.id].counts
    assert activity.id in db.session.scalars(
        sa.select(OutreachActivity.id).where(observance.counted_campaign_clause(YEAR))
    )


def test_sql_clause_agrees_with_python(admin):
    held = ["05-08", "05-09", "05-15", "05-16", "07-25", "07-31", "10-10", "10-17"]
    made = [
        activities.create_activity(admin, campaign(day=day, held_on=f"{YEAR}-{md}"))
        for day, md in [
            ("05-12", h) if h.startswith("05") else ("07-28", h) if h.startswith("07") else ("10-13", h) for h in held
        ]
    ]
    made.append(activities.create_activity(admin, six_into(held_on=f"{YEAR}-05-12")))
    counted = set(db.session.scalars(sa.select(OutreachActivity.id).where(observance.counted_campaign_clause(YEAR))))
    assert counted == {a.id for a in made if observance.counts_toward_observance(a)}
    assert len(counted) == 5


@pytest.mark.parametrize(
    "audience, message", [(-1, "at least 0"), (10_000_001, "not plausible"), ("many", "whole number")]
)
def test_absurd_audience_refused(admin, audience, message):
    with pytest.raises(ValidationError) as error:
        activities.create_activity(admin, campaign(audience=audience))
    assert message in " ".join(error.value.errors["audience"])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutreachActivity)) == 0


def test_audience_limit_depends_on_region_level(admin, make_region):
    township = make_region(code="654202901")
    village = make_region(code="654202901001", level=RegionLevel.VILLAGE, parent_code=township.code)
    assert audience.audience_limit(village) == 500_000
    with pytest.raises(ValidationError) as error:
        activities.create_activity(admin, six_into(region_code=village.code, audience=500_001))
    assert "audience" in error.value.errors
    assert (
        activities.create_activity(
            admin, six_into(region_code=village.code, audience=500_000, channels=["radio"])
        ).audience
        == 500_000
    )
    assert activities.create_activity(admin, campaign(audience=10_000_000)).audience == 10_000_000


@pytest.mark.parametrize(
    "data, field",
    [
        (campaign(observance_day=None), "observance_day"),
        (campaign(observance_day="05-13"), "observance_day"),
        (six_into(setting=None), "setting"),
        (six_into(setting="hospital"), "setting"),
        (six_into(observance_day="05-12"), "observance_day"),
        (campaign(setting="school"), "setting"),
        (campaign(held_on="2026-02-30"), "held_on"),
        (campaign(held_on="1999-05-12"), "held_on"),
        (campaign(region_code="999999"), "region_code"),
        (campaign(channels=["pigeon"]), "channels"),
        (campaign(channels="radio"), "channels"),
        (campaign(title=""), "title"),
        (campaign(kind="party"), "kind"),
        (campaign(organizer_org_id=987654), "organizer_org_id"),
    ],
)
def test_bad_input_names_the_field(admin, data, field):
    with pytest.raises(ValidationError) as error:
        activities.create_activity(admin, data)
    assert field in error.value.errors


def test_update_validates_against_merged_state(admin):
    activity = activities.create_activity(admin, campaign())
    with pytest.raises(ValidationError):
        activities.update_activity(admin, activity, {"kind": "six_into"})
    updated = activities.update_activity(
        admin, activity, {"kind": "six_into", "observance_day": None, "setting": "family"}
    )
    assert updated.setting == SixIntoSetting.FAMILY and updated.observance_day is None
    assert [e.action for e in entries_for("outreach_activity", activity.id)] == ["outreach.create", "outreach.update"]


def test_org_staff_record_for_their_own_unit_only(admin, make_org, make_user, make_region):
    township = make_region()
    school = make_org(region_code=township.code)
    other = make_org(region_code=township.code)
    staff = make_user(org=school)
    activity = activities.create_activity(staff, six_into(region_code=township.code))
    assert activity.organizer_org_id == school.id
    with pytest.raises(Forbidden):
        activities.create_activity(staff, six_into(region_code=township.code, organizer_org_id=other.id))
    with pytest.raises(Forbidden):
        activities.create_activity(staff, six_into(region_code=SHAWAN))
    other_activity = activities.create_activity(admin, six_into(region_code=township.code, organizer_org_id=other.id))
    visible = set(db.session.scalars(activities.activity_query(staff)))
    assert visible == {activity}
    with pytest.raises(Forbidden):
        activities.update_activity(staff, other_activity, {"title": "x"})


def test_coordinator_and_viewer_scope(admin, make_user):
    wusu = make_user(role=Role.COORDINATOR, region_code=WUSU)
    viewer = make_user(role=Role.VIEWER, region_code=PREFECTURE)
    mine = activities.create_activity(wusu, six_into())
    with pytest.raises(Forbidden):
        activities.create_activity(wusu, six_into(region_code=SHAWAN))
    theirs = activities.create_activity(admin, six_into(region_code=SHAWAN))
    assert set(db.session.scalars(activities.activity_query(wusu))) == {mine}
    assert set(db.session.scalars(activities.activity_query(viewer))) == {mine, theirs}
    with pytest.raises(Forbidden):
        activities.create_activity(viewer, six_into())
    with pytest.raises(Forbidden):
        activities.delete_activity(viewer, mine)


def test_filters(admin):
    a = activities.create_activity(admin, campaign())
    b = activities.create_activity(admin, six_into(region_code=SHAWAN, held_on=f"{YEAR - 1}-04-01"))
    assert list(db.session.scalars(activities.activity_query(admin, year=YEAR))) == [a]
    assert list(db.session.scalars(activities.activity_query(admin, region=SHAWAN))) == [b]
    assert list(db.session.scalars(activities.activity_query(admin, kind=OutreachKind.SIX_INTO))) == [b]
    with pytest.raises(ValidationError) as error:
        activities.read_filters({"year": "soon", "region": "000", "kind": "x"})
    assert set(error.value.errors) == {"year", "region", "kind"}


def test_coverage_matrix_counties_and_townships(admin, make_region):
    township = make_region(parent_code=WUSU)
    activities.create_activity(admin, six_into("school", region_code=township.code))
    activities.create_activity(admin, six_into("school", region_code=WUSU))
    activities.create_activity(admin, six_into("family", region_code=SHAWAN))
    activities.create_activity(admin, six_into("village", region_code=SHAWAN, held_on=f"{YEAR - 1}-06-01"))
    activities.create_activity(admin, campaign())
    rows = {row.region.code: row for row in coverage.coverage_matrix(admin, PREFECTURE, YEAR)}
    assert len(rows) == 7
    assert rows[WUSU].counts == {SixIntoSetting.SCHOOL: 2}
    assert rows[SHAWAN].counts == {SixIntoSetting.FAMILY: 1}
    assert rows[SHAWAN].covered == 1 and SixIntoSetting.VILLAGE in rows[SHAWAN].gaps
    county_rows = coverage.coverage_matrix(admin, WUSU, YEAR)
    assert county_rows[0].direct and county_rows[0].counts == {SixIntoSetting.SCHOOL: 1}
    by_code = {row.region.code: row for row in county_rows[1:]}
    assert by_code[township.code].counts == {SixIntoSetting.SCHOOL: 1}


def test_coverage_respects_scope(admin, make_user, make_org):
    school = make_org()
    staff = make_user(org=school)
    activities.create_activity(admin, six_into("agency"))
    activities.create_activity(staff, six_into("school", region_code=school.region_code))
    rows = {row.region.code: row for row in coverage.coverage_matrix(staff, PREFECTURE, YEAR)}
    assert rows[WUSU].counts == {SixIntoSetting.SCHOOL: 1}


def test_demonstration_sites(make_user, make_org):
    wusu = make_user(role=Role.COORDINATOR, region_code=WUSU)
    site = sites.create_site(wusu, {"kind": "community", "name": "虹桥社区", "region_code": WUSU, "year": YEAR})
    assert site.status == SiteStatus.PLANNED
    sites.update_site(wusu, site, {"status": "recognised"})
    assert site.status == SiteStatus.RECOGNISED
    with pytest.raises(Forbidden):
        sites.create_site(wusu, {"kind": "school", "name": "x", "region_code": SHAWAN, "year": YEAR})
    with pytest.raises(ValidationError) as error:
        sites.create_site(wusu, {"kind": "museum", "name": "", "region_code": WUSU, "year": 1990, "status": "famous"})
    assert set(error.value.errors) == {"kind", "name", "year", "status"}
    staff = make_user(org=make_org())
    with pytest.raises(Forbidden):
        sites.update_site(staff, site, {"status": "created"})
    assert list(db.session.scalars(sites.site_query(staff))) == []
    assert list(db.session.scalars(sites.site_query(wusu))) == [site]
