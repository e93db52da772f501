"""Drill attachments: allow-list by extension and content, size limit, random storage names, access."""

import io
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from drillmgr.attachments.models import Attachment
from drillmgr.audit.services import entries_for
from drillmgr.enums import OrgKind, Role
from drillmgr.extensions import db
from tests.conftest import WUSU, issue_kept_token

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64


def ooxml(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}document.xml", "<document/>")
    return buffer.getvalue()


@pytest.fixture
def setup(make_org, make_user, make_drill):
    school = make_org(kind=OrgKind.SCHOOL, region_code=WUSU)
    staff = make_user(role=Role.ORG_STAFF, org=school)
    drill = make_drill(organizer=school)
    return {
        "drill": drill,
        "headers": {"Authorization": f"Bearer {issue_kept_token(staff)}", "Accept-Language": "en"},
        "staff": staff,
    }


def upload(client, setup, content: bytes, name: str, kind="plan"):
    return client.post(
        f"/api/v1/drills/{setup['drill'].id}/attachments",
        headers=setup["headers"],
        data={"kind": kind, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def stored_files(app) -> set[str]:
    folder = Path(app.config["UPLOAD_DIR"])
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.mark.parametrize(
    "content, name, content_type",
    [
        (PDF, "演练方案.pdf", "application/pdf"),
        (JPEG, "现场照片.JPG", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "签到表.png", "image/png"),
        (OLE, "脚本.doc", "application/msword"),
        (OLE, "签到表.xls", "application/vnd.ms-excel"),
        (ooxml("word/"), "脚本.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (ooxml("xl/"), "签到表.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ],
)
def test_allowed_types_are_stored_and_served(client, app, setup, content, name, content_type):
    response = upload(client, setup, content, name)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["filename"] == name and data["content_type"] == content_type and data["size"] == len(content)
    attachment = db.session.get(Attachment, data["id"])
    assert attachment.stored_name != name and len(attachment.stored_name) == 32
    assert (Path(app.config["UPLOAD_DIR"]) / attachment.stored_name).read_bytes() == content
    download = client.get(f"/api/v1/attachments/{data['id']}", headers=setup["headers"])
    assert download.status_code == 200 and download.data == content and download.mimetype == content_type
    assert entries_for("drill", setup["drill"].id)[-1].action == "attachment.add"
    listed = client.get(f"/api/v1/drills/{setup['drill'].id}/attachments", headers=setup["headers"]).get_json()
    assert [a["id"] for a in listed["items"]] == [data["id"]]


@pytest.mark.parametrize(
    "content, name, message",
    [
        (b"MZ\x90\x00", "setup.exe", "Files of type .exe are not accepted"),
        (b"<script>alert(1)</script>", "page.html", "Files of type .html are not accepted"),
        (b"MZ\x90\x00 not a pdf", "方案.pdf", "is not a .pdf file"),
        (PDF, "photo.png", "is not a .png file"),
        (ooxml("xl/"), "脚本.docx", "is not a .docx file"),
        (b"PK\x03\x04garbage", "表.xlsx", "is not a .xlsx file"),
        (b"", "empty.pdf", "The file is empty."),
        (PDF, "noextension", "are not accepted"),
    ],
)
def test_forbidden_or_disguised_files_are_refused_and_nothing_kept(client, app, setup, content, name, message):
    before = stored_files(app)
    response = upload(client, setup, content, name)
    assert response.status_code == 422
    assert message in response.get_json()["errors"]["file"][0]
    assert stored_files(app) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_too_large_is_refused(client, app, setup, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_ATTACHMENT_BYTES", 1024)
    before = stored_files(app)
    response = upload(client, setup, PDF + b"0" * 2000, "big.pdf")
    assert response.status_code == 422
    assert "too large" in response.get_json()["errors"]["file"][0]
    assert stored_files(app) == before
    assert upload(client, setup, PDF, "small.pdf").status_code == 201


def test_unknown_kind_and_missing_file(client, setup):
    response = upload(client, setup, PDF, "a.pdf", kind="selfie")
    assert response.status_code == 422 and "kind" in response.get_json()["errors"]
    missing = client.post(
        f"/api/v1/drills/{setup['drill'].id}/attachments",
        headers=setup["headers"],
        data={"kind": "plan"},
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422 and "file" in missing.get_json()["errors"]


def test_path_in_filename_is_dropped(client, setup):
    data = upload(client, setup, PDF, "../../etc/方案.pdf").get_json()
    assert data["filename"] == "方案.pdf"


def test_delete(client, app, setup, make_user, make_org):
    data = upload(client, setup, PDF, "a.pdf").get_json()
    stored = db.session.get(Attachment, data["id"]).stored_name
    viewer = make_user(role=Role.VIEWER, region_code=WUSU)
    assert (
        client.delete(
            f"/api/v1/attachments/{data['id']}", headers={"Authorization": f"Bearer {issue_kept_token(viewer)}"}
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/attachments/{data['id']}", headers=setup["headers"]).status_code == 204
    assert not (Path(app.config["UPLOAD_DIR"]) / stored).exists()
    assert client.get(f"/api/v1/attachments/{data['id']}", headers=setup["headers"]).status_code == 404


@pytest.mark.parametrize("name", ["方" * 252 + ".pdf", "a" * 300 + ".pdf"])
def test_a_name_over_255_characters_is_refused_as_too_long(client, app, setup, name):
    before = stored_files(app)
    response = upload(client, setup, PDF, name)
    assert response.status_code == 422
    assert response.get_json()["errors"]["file"] == [
        "The file name is too long: at most 255 characters. Rename the file and try again."
    ]
    assert stored_files(app) == before
    zh = client.post(
        f"/api/v1/drills/{setup['drill'].id}/attachments",
        headers=setup["headers"] | {"Accept-Language": "zh-CN"},
        data={"kind": "plan", "file": (io.BytesIO(PDF), name)},
        content_type="multipart/form-data",
    )
    assert zh.get_json()["errors"]["file"] == ["文件名过长：最多 255 个字符。请重命名文件后再试。"]


def test_a_name_of_exactly_255_characters_is_kept_whole(client, setup):
    name = "方" * 251 + ".pdf"
    response = upload(client, setup, PDF, name)
    assert response.status_code == 201 and response.get_json()["filename"] == name
