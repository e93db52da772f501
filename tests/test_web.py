"""Shared web behaviour: a form whose CSRF token no longer holds comes back with what was typed."""

import re

import sqlalchemy as sa

from drillmgr.drills.models import Drill
from drillmgr.enums import OrgKind, Role
from drillmgr.extensions import db
from tests.conftest import WUSU, at
from tests.test_drills_web import form_data, sign_in


def test_an_expired_form_is_shown_again_with_its_input_and_a_fresh_token(app, client, make_org, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU)
    sign_in(client, make_user(role=Role.ORG_STAFF, org=school))
    data = form_data(school, title="过期表单里的演练", location="教学楼A座", start=at(days=9))
    expired = client.post("/drills/new", data=data | {"csrf_token": "stale"}, headers={"Origin": "http://localhost"})
    html = expired.get_data(as_text=True)
    assert expired.status_code == 400 and "The form has expired" in html
    assert 'value="过期表单里的演练"' in html and "教学楼A座" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Drill)) == 0

    form = html[html.index('id="form-again"') :]
    resent = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    assert resent["csrf_token"] != "stale" and resent["title"] == "过期表单里的演练"
    response = client.post("/drills/new", data=resent, headers={"Origin": "http://localhost"})
    assert response.status_code == 302
    assert db.session.scalars(sa.select(Drill.title)).all() == ["过期表单里的演练"]


def test_a_cross_site_post_is_not_echoed_back(app, client, make_org, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU)
    sign_in(client, make_user(role=Role.ORG_STAFF, org=school))
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/form"}, {}):
        response = client.post("/drills/new", data=form_data(school, title="伪造的演练"), headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 400 and "伪造的演练" not in html and 'id="form-again"' not in html


def test_files_that_cannot_be_kept_are_named(app, client, make_org, make_user, make_drill, monkeypatch):
    import io

    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU)
    sign_in(client, make_user(role=Role.ORG_STAFF, org=school))
    drill = make_drill(organizer=school, starts_at=at(days=2))
    response = client.post(
        f"/drills/{drill.id}/attachments",
        headers={"Referer": f"http://localhost/drills/{drill.id}"},
        data={"file": (io.BytesIO(b"%PDF-1.4"), "方案.pdf"), "csrf_token": "x"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "方案.pdf" in response.get_data(as_text=True)


def test_every_page_carries_the_upload_limit_for_the_browser(app, client, make_org, make_user):
    sign_in(client, make_user(role=Role.ADMIN))
    html = client.get("/").get_data(as_text=True)
    assert f'data-max-upload-bytes="{app.config["MAX_ATTACHMENT_BYTES"]}"' in html
    assert "forms.js" in html
