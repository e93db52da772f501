"""Evidence for close-out: the owner shows the correction with photos and files (several at once,
from a phone's camera too), the verifier sees them before verifying, a send-back says what is
missing and the owner answers with new evidence. Over the web pages and the API."""

import io
import re

import pytest
import sqlalchemy as sa

from drillmgr.attachments.models import Attachment
from drillmgr.extensions import db
from drillmgr.findings import actions
from drillmgr.notifications.models import Notification
from tests.findings_world import finding_data, world  # noqa: F401 — fixtures

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n%report\n"


@pytest.fixture
def finding(world):  # noqa: F811
    created = actions.add_drill_finding(world.staff, world.drill, finding_data(world.colleague))
    db.session.commit()  # the requests below are units of their own: one that refuses rolls back
    return created


def sign_in(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["lang"] = "en"


def step(client, finding, status, reason=""):
    return client.post(
        f"/findings/{finding.id}/step", data={"status": status, "reason": reason, "version": str(finding.version)}
    )


def evidence(finding) -> list[Attachment]:
    return list(
        db.session.scalars(
            sa.select(Attachment)
            .where(Attachment.corrective_action_id == finding.corrective_action.id)
            .order_by(Attachment.id)
        )
    )


def test_owner_sends_several_files_and_a_camera_photo_the_verifier_sees_them_first(client, world, finding):  # noqa: F811
    sign_in(client, world.colleague)
    page = client.get(f"/drills/{world.drill.id}").get_data(as_text=True)
    form = re.search(rf'<form[^>]*action="/findings/{finding.id}/evidence".*?</form>', page, re.S).group(0)
    assert 'enctype="multipart/form-data"' in form
    assert re.search(r'<input[^>]*name="files"[^>]*multiple[^>]*accept="image/jpeg,image/png,[^"]*\.pdf', form)
    assert re.search(r'<input[^>]*name="camera"[^>]*accept="image/\*"[^>]*capture="environment"', form)
    step(client, finding, "in_progress")
    response = client.post(
        f"/findings/{finding.id}/evidence",
        content_type="multipart/form-data",
        data={
            "files": [(io.BytesIO(PDF), "整改报告.pdf"), (io.BytesIO(PNG), "通道已清理.png")],
            "camera": (io.BytesIO(JPEG), "IMG_0001.jpg"),
            "next": f"/drills/{world.drill.id}",
        },
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/drills/{world.drill.id}")
    files = evidence(finding)
    assert [(f.filename, f.kind.value, f.uploaded_by_id) for f in files] == [
        ("整改报告.pdf", "other", world.colleague.id),
        ("通道已清理.png", "photo", world.colleague.id),
        ("IMG_0001.jpg", "photo", world.colleague.id),
    ]
    step(client, finding, "done")
    told = db.session.scalar(
        sa.select(Notification).where(Notification.user_id == world.staff.id, Notification.kind == "action_done")
    )
    assert "Evidence: 3 files" in told.body or "整改佐证：3 个文件" in told.body

    # The verifier (the drill's organiser) sees every file, served to them, beside the verify button.
    sign_in(client, world.staff)
    page = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    section = page[page.index(f'id="evidence-{finding.id}"') : page.index("Verify and close")]
    for attachment in files:
        assert f"/attachments/{attachment.id}" in section
    assert client.get(f"/attachments/{files[1].id}").data == PNG
    assert client.get(f"/attachments/{files[0].id}").data == PDF
    # Someone who may not see the drill gets none of it.
    sign_in(client, world.other_staff)
    assert client.get(f"/attachments/{files[1].id}").status_code == 404


def test_send_back_names_what_is_missing_and_the_owner_answers_with_new_evidence(client, world, finding):  # noqa: F811
    sign_in(client, world.colleague)
    step(client, finding, "in_progress")
    client.post(
        f"/findings/{finding.id}/evidence",
        content_type="multipart/form-data",
        data={"files": [(io.BytesIO(PNG), "一楼.png")]},
    )
    step(client, finding, "done")
    sign_in(client, world.staff)
    assert step(client, finding, "in_progress", reason="缺二楼东侧通道的照片").status_code == 302
    sign_in(client, world.colleague)
    page = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    assert re.search(r'class="alert[^"]*sent-back">[^<]*What is still missing: 缺二楼东侧通道的照片', page)
    client.post(
        f"/findings/{finding.id}/evidence",
        content_type="multipart/form-data",
        data={"camera": (io.BytesIO(JPEG), "二楼东侧.jpg")},
    )
    page = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    section = page[page.index(f'id="evidence-{finding.id}"') :]
    figures = {
        re.search(r'alt="([^"]+)"', f).group(1): "new since sent back" in f for f in section.split("<figure")[1:]
    }
    assert figures == {"一楼.png": False, "二楼东侧.jpg": True}
    assert "Added evidence: 二楼东侧.jpg" in page  # in the action's history, with who and when
    step(client, finding, "done")
    sign_in(client, world.staff)
    page = client.get(f"/findings/{finding.id}").get_data(as_text=True)
    assert "sent-back" not in page  # answered: the verifier decides on the new evidence
    assert step(client, finding, "verified").status_code == 302


def test_evidence_is_refused_whole_when_one_file_is_wrong_and_after_verification(client, world, finding):  # noqa: F811
    sign_in(client, world.colleague)
    response = client.post(
        f"/findings/{finding.id}/evidence",
        content_type="multipart/form-data",
        data={"files": [(io.BytesIO(PNG), "好.png"), (io.BytesIO(b"MZ\x90\x00"), "病毒.exe")]},
    )
    assert response.status_code == 422 and evidence(finding) == []
    assert "病毒.exe: Files of type .exe are not accepted" in response.get_data(as_text=True)
    assert (
        client.post(f"/findings/{finding.id}/evidence", content_type="multipart/form-data", data={}).status_code == 422
    )
    sign_in(client, world.other_staff)
    assert (
        client.post(
            f"/findings/{finding.id}/evidence",
            content_type="multipart/form-data",
            data={"files": [(io.BytesIO(PNG), "x.png")]},
        ).status_code
        == 404
    )
    sign_in(client, world.viewer)  # sees the drill, but neither owns nor manages the action
    assert (
        client.post(
            f"/findings/{finding.id}/evidence",
            content_type="multipart/form-data",
            data={"files": [(io.BytesIO(PNG), "x.png")]},
        ).status_code
        == 403
    )
    actions.update_finding(world.colleague, finding, {"corrective_action": {"status": "in_progress"}})
    actions.update_finding(world.colleague, finding, {"corrective_action": {"status": "done"}})
    actions.update_finding(world.staff, finding, {"corrective_action": {"status": "verified"}})
    db.session.commit()
    sign_in(client, world.colleague)
    assert (
        client.post(
            f"/findings/{finding.id}/evidence",
            content_type="multipart/form-data",
            data={"files": [(io.BytesIO(PNG), "晚了.png")]},
        ).status_code
        == 409
    )
    assert evidence(finding) == []


def test_evidence_over_the_api(client, world, finding):  # noqa: F811
    owner, verifier = world.headers(world.colleague), world.headers(world.staff)
    url = f"/api/v1/findings/{finding.id}/evidence"
    assert client.get(url, headers=verifier).get_json() == {"items": []}
    response = client.post(
        url,
        headers=owner,
        content_type="multipart/form-data",
        data={"files": [(io.BytesIO(PNG), "a.png"), (io.BytesIO(PDF), "b.pdf")]},
    )
    assert response.status_code == 201
    items = client.get(url, headers=verifier).get_json()["items"]
    assert [(i["filename"], i["kind"], i["uploaded_by"], i["from_checklist"]) for i in items] == [
        ("a.png", "photo", world.colleague.id, False),
        ("b.pdf", "other", world.colleague.id, False),
    ]
    assert client.get(items[1]["url"], headers=verifier).data == PDF
    missing = client.post(url, headers=owner, content_type="multipart/form-data", data={})
    assert missing.status_code == 422 and list(missing.get_json()["errors"]) == ["files"]
    assert client.get(url, headers=world.headers(world.other_staff)).status_code == 404
    assert client.delete(f"/api/v1/attachments/{items[0]['id']}", headers=verifier).status_code == 403
