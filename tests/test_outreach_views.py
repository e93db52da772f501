import io
from datetime import date

import pytest
import sqlalchemy as sa
from tests.conftest import SHAWAN, WUSU, login

from drillmgr.attachments.models import Attachment
from drillmgr.attachments.services import attachment_path
from drillmgr.enums import Role, SiteStatus
from drillmgr.extensions import db
from drillmgr.outreach import activities
from drillmgr.outreach.models import DemonstrationSite, OutreachActivity

YEAR = date.today().year - 1  # a year wholly past: activities are recorded once held
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _request(app, _transaction):
    """Services called directly from a test translate their messages too."""
    with app.test_request_context():
        yield


def form(**overrides):
    data = {
        "kind": "observance_campaign",
        "title": "全国防灾减灾日宣传",
        "observance_day": "05-12",
        "setting": "",
        "held_on": f"{YEAR}-05-12",
        "region_code": WUSU,
        "organizer_org_id": "",
        "channels": ["radio", "tv"],
        "audience": "8000",
        "description": "广场宣传",
    }
    data.update(overrides)
    return data


def campaign(**overrides):
    return {
        "kind": "observance_campaign",
        "title": "全国防灾减灾日宣传",
        "observance_day": "05-12",
        "held_on": f"{YEAR}-05-12",
        "region_code": WUSU,
        "channels": ["radio"],
        "audience": 1,
        **overrides,
    }


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_coordinator_records_and_sees_campaign_in_chinese(client, make_user):
    user = make_user(role=Role.COORDINATOR, region_code=WUSU)
    login(client, user)
    assert client.get("/outreach/new").status_code == 200
    response = client.post("/outreach/new", data=form())
    assert response.status_code == 302
    activity = db.session.scalar(sa.select(OutreachActivity))
    assert activity.channels == ["radio", "tv"] and activity.audience == 8000
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "全国防灾减灾日宣传" in page and "observance-verdict" in page and "alert-success" in page
    listing = client.get("/outreach/").get_data(as_text=True)
    assert "全国防灾减灾日宣传" in listing


def test_late_campaign_is_saved_and_the_reason_shown(client, make_user):
    login(client, make_user(role=Role.COORDINATOR, region_code=WUSU))
    response = client.post("/outreach/new", data=form(held_on=f"{YEAR}-05-30"))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "alert-warning" in page
    listing = client.get("/outreach/").get_data(as_text=True)
    assert "bi-exclamation-triangle" in listing


def test_bad_form_rerenders_with_errors_and_saves_nothing(client, make_user):
    login(client, make_user(role=Role.COORDINATOR, region_code=WUSU))
    response = client.post("/outreach/new", data=form(audience="20000000", observance_day=""))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count("invalid-feedback") >= 2
    assert count(OutreachActivity) == 0


def test_org_staff_form_and_scope(client, make_user, make_org):
    school = make_org()
    staff = make_user(org=school)
    login(client, staff)
    response = client.post(
        "/outreach/new",
        data=form(
            kind="six_into",
            observance_day="",
            setting="family",
            region_code=school.region_code,
            organizer_org_id=str(school.id),
        ),
    )
    assert response.status_code == 302
    mine = db.session.scalar(sa.select(OutreachActivity))
    other = activities.create_activity(
        make_user(role=Role.ADMIN),
        {"kind": "six_into", "setting": "school", "title": "别人的", "held_on": f"{YEAR}-03-01", "region_code": WUSU},
    )
    assert client.get(f"/outreach/{mine.id}").status_code == 200
    assert client.get(f"/outreach/{other.id}").status_code == 404
    assert client.get(f"/outreach/{other.id}/edit").status_code == 404
    assert client.post(f"/outreach/{other.id}/delete").status_code == 404
    assert "别人的" not in client.get("/outreach/").get_data(as_text=True)


def test_viewer_cannot_record(client, make_user):
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    login(client, viewer)
    assert client.get("/outreach/new").status_code == 403
    activity = activities.create_activity(make_user(role=Role.ADMIN), campaign())
    assert client.get(f"/outreach/{activity.id}").status_code == 200
    assert client.get(f"/outreach/{activity.id}/edit").status_code == 403
    assert client.post(f"/outreach/{activity.id}/delete").status_code == 403


def test_attachments_checked_and_served_in_scope(client, make_user):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    activity = activities.create_activity(coordinator, campaign())
    login(client, coordinator)
    bad = client.post(
        f"/outreach/{activity.id}/attachments",
        data={"file": (io.BytesIO(b"MZ\x90\x00"), "virus.exe")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 302 and count(Attachment) == 0
    good = client.post(
        f"/outreach/{activity.id}/attachments",
        data={"file": (io.BytesIO(PNG), "现场.png")},
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    attachment = db.session.scalar(sa.select(Attachment))
    assert attachment.outreach_id == activity.id
    assert client.get(f"/outreach/attachments/{attachment.id}").data == PNG
    stored = attachment_path(attachment)
    assert stored.exists()
    client.post("/logout")
    login(client, make_user(role=Role.COORDINATOR, region_code=SHAWAN))
    assert client.get(f"/outreach/attachments/{attachment.id}").status_code == 404
    activities.delete_activity(coordinator, activity)
    db.session.commit()  # the test is the unit of work: its files go once the deletion is kept
    assert count(Attachment) == 0 and not stored.exists()


def test_edit_and_delete(client, make_user):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    activity = activities.create_activity(coordinator, campaign())
    login(client, coordinator)
    assert "全国防灾减灾日宣传" in client.get(f"/outreach/{activity.id}/edit").get_data(as_text=True)
    response = client.post(f"/outreach/{activity.id}/edit", data=form(title="改过的标题"))
    assert response.status_code == 302 and activity.title == "改过的标题"
    assert client.post(f"/outreach/{activity.id}/delete").status_code == 302
    assert count(OutreachActivity) == 0


def test_coverage_page_highlights_gaps(client, make_user):
    admin = make_user(role=Role.ADMIN)
    activities.create_activity(
        admin,
        {"kind": "six_into", "setting": "school", "title": "进校园", "held_on": f"{YEAR}-03-01", "region_code": WUSU},
    )
    login(client, admin)
    page = client.get(f"/outreach/coverage?year={YEAR}").get_data(as_text=True)
    assert "乌苏市" in page and "沙湾市" in page
    assert page.count("table-success") == 1 and page.count("table-danger") == 7 * 6 - 1
    county = client.get(f"/outreach/coverage?region={WUSU}&year={YEAR}")
    assert county.status_code == 200
    assert client.get("/outreach/coverage?region=nowhere").status_code == 404


def test_sites_list_create_edit(client, make_user, make_org):
    coordinator = make_user(role=Role.COORDINATOR, region_code=WUSU)
    login(client, coordinator)
    response = client.post(
        "/outreach/sites/new",
        data={
            "kind": "science_base",
            "name": "乌苏市地震科普教育基地",
            "region_code": WUSU,
            "org_id": "",
            "status": "created",
            "year": str(YEAR),
        },
    )
    assert response.status_code == 302
    site = db.session.scalar(sa.select(DemonstrationSite))
    assert "乌苏市地震科普教育基地" in client.get("/outreach/sites").get_data(as_text=True)
    response = client.post(
        f"/outreach/sites/{site.id}/edit",
        data={
            "kind": "science_base",
            "name": site.name,
            "region_code": WUSU,
            "org_id": "",
            "status": "recognised",
            "year": str(YEAR),
        },
    )
    assert response.status_code == 302 and site.status == SiteStatus.RECOGNISED
    bad = client.post(
        "/outreach/sites/new",
        data={"kind": "community", "name": "x", "region_code": WUSU, "org_id": "", "status": "planned", "year": "1800"},
    )
    assert bad.status_code == 200 and "invalid-feedback" in bad.get_data(as_text=True)
    client.post("/logout")
    login(client, make_user(org=make_org()))
    assert client.get("/outreach/sites/new").status_code == 403
    assert client.get(f"/outreach/sites/{site.id}/edit").status_code == 404


def test_menu_entry(client, make_user):
    login(client, make_user(role=Role.VIEWER))
    assert 'href="/outreach/"' in client.get("/").get_data(as_text=True)


def test_audience_is_grouped_and_kind_specific_fields_are_marked(client, make_user):
    login(client, make_user(role=Role.COORDINATOR, region_code=WUSU))
    new = client.get("/outreach/new").get_data(as_text=True)
    campaign_only = new.split('<div data-show-when="kind=observance_campaign">', 1)[1].split("data-show-when", 1)[0]
    six_into_only = new.split('<div data-show-when="kind=six_into">', 1)[1].split('name="held_on"', 1)[0]
    assert 'name="observance_day"' in campaign_only and 'name="setting"' not in campaign_only
    assert 'name="setting"' in six_into_only and "data-warn-unsaved" in new
    response = client.post("/outreach/new", data=form(audience="12345"))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "12,345" in page
    assert "12,345" in client.get("/outreach/").get_data(as_text=True)
