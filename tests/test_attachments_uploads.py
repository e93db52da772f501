"""Uploads never leave a file without its row: a file is written under a temporary name, takes its
real name once its row is committed, and the sweep job removes what a killed worker left behind."""

import hashlib
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from drillmgr.attachments import services
from drillmgr.attachments.models import Attachment
from drillmgr.enums import Role
from drillmgr.extensions import db
from drillmgr.scheduler import housekeeping_jobs, jobs
from tests.conftest import WUSU, at

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PDF = b"%PDF-1.7\n%evidence\n" + b"0" * 2048
PASSWORD = "upload-kill-test-pw"


def age(path: Path, hours: float = 2) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def stored_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if services.STORED_NAME.fullmatch(p.name))


@pytest.fixture
def uploads(app):
    folder = services.upload_dir()
    before = set(folder.iterdir())
    yield folder
    for path in set(folder.iterdir()) - before:
        path.unlink()


# --- in one process ---------------------------------------------------------------------------


def test_file_takes_its_name_only_when_its_row_is_committed(app, uploads, make_user, make_drill):
    admin = make_user(role=Role.ADMIN)
    drill = make_drill(organizer=WUSU)
    before = set(stored_files(uploads))  # other tests' files share the folder
    attachment = services.add_attachment(admin, drill, "plan", io.BytesIO(PDF), "方案.pdf")
    db.session.commit()
    assert sorted(set(stored_files(uploads)) - before) == [attachment.stored_name]
    assert services.attachment_path(attachment).read_bytes() == PDF


def test_a_rolled_back_upload_leaves_no_file(app, uploads, make_user, make_drill):
    make_user(role=Role.ADMIN)
    drill = make_drill(organizer=WUSU)
    before = stored_files(uploads)
    with app.test_request_context():
        name = services.stage(PDF)
        assert (uploads / (name + services.PART)).exists()
        db.session.rollback()
    assert stored_files(uploads) == before
    assert drill.id  # the session is usable after the rollback


def test_a_file_is_removed_only_when_its_deletion_is_committed(app, uploads, make_user, make_drill):
    admin = make_user(role=Role.ADMIN)
    drill = make_drill(organizer=WUSU)
    attachment = services.add_attachment(admin, drill, "plan", io.BytesIO(PDF), "方案.pdf")
    db.session.commit()
    path = services.attachment_path(attachment)
    services.delete_attachment(admin, attachment)
    assert path.exists()
    db.session.rollback()  # a request that refused something after the deletion
    assert path.exists() and db.session.get(Attachment, attachment.id) is not None
    services.delete_attachment(admin, attachment)
    db.session.commit()
    assert not path.exists()


def test_sweep_removes_orphans_completes_interrupted_renames_and_is_idempotent(app, english, uploads, make_user):
    admin = make_user(role=Role.ADMIN)
    orphan, young, half_done = (uploads / uuid.uuid4().hex for _ in range(3))
    orphan.write_bytes(PDF)
    young.with_name(young.name + services.PART).write_bytes(PDF)
    half_done.with_name(half_done.name + services.PART).write_bytes(PDF)
    foreign = uploads / "README"
    foreign.write_text("not an upload")
    db.session.add(
        Attachment(
            corrective_action_id=None,
            drill_id=None,
            kind="other",
            filename="x.pdf",
            stored_name=half_done.name,
            content_type="application/pdf",
            size=len(PDF),
            sha256=hashlib.sha256(PDF).hexdigest(),
            uploaded_by_id=admin.id,
        )
    )
    db.session.flush()
    for path in (orphan, half_done.with_name(half_done.name + services.PART), foreign):
        age(path)
    first, second = housekeeping_jobs.sweep_uploads(at()), housekeeping_jobs.sweep_uploads(at())
    assert not orphan.exists() and half_done.read_bytes() == PDF and foreign.exists()
    assert (young.with_name(young.name + services.PART)).exists()  # may still be uploading
    assert (first, second) == ("1 orphaned files removed, 1 completed.", "0 orphaned files removed, 0 completed.")
    foreign.unlink()


def test_sweep_is_a_scheduled_job():
    assert jobs.JOBS["sweep_uploads"] is housekeeping_jobs.sweep_uploads
    assert jobs.DEFAULT_SCHEDULE["sweep_uploads"].startswith("daily")
    assert "sweep_uploads" in jobs.JOB_TITLES


# --- a real worker killed in the middle of an upload ----------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nplan\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def worker_pid(master: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError("gunicorn started no worker")


@pytest.fixture
def server(tmp_path):
    """gunicorn with one worker, on its own SQLite database and upload folder."""
    env = {
        **os.environ,
        "DRILLMGR_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DRILLMGR_SECRET_KEY": "k" * 32,
        "DRILLMGR_UPLOAD_DIR": str(tmp_path / "uploads"),
        "DRILLMGR_INSTANCE": str(tmp_path),
    }
    env.pop("TEST_DATABASE_URL", None)
    drillmgr = str(BIN / "drillmgr")
    subprocess.run([drillmgr, "db", "upgrade"], env=env, cwd=PROJECT_DIR, check=True, capture_output=True)
    subprocess.run(
        [drillmgr, "create-user", "boss", "--role", "admin", "--password", PASSWORD],
        env=env,
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    port = free_port()
    master = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", "1", "--timeout", "60", "-b", f"127.0.0.1:{port}", "drillmgr:create_app()"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if call(base, "GET", "/login")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    try:
        yield {
            "base": base,
            "env": env,
            "master": master,
            "db": tmp_path / "db.sqlite3",
            "uploads": tmp_path / "uploads",
        }
    finally:
        master.terminate()
        master.wait(timeout=20)


def run_sweeps(env: dict) -> list[str]:
    """The sweep job in a process of its own: once as things are, then twice once every file is old."""
    code = (
        "import os, time\nfrom pathlib import Path\nfrom drillmgr import create_app\n"
        "from drillmgr.db import utcnow\nfrom drillmgr.scheduler.housekeeping_jobs import sweep_uploads\n"
        "app = create_app()\nwith app.app_context():\n"
        "    print(sweep_uploads(utcnow()))\n"
        "    for path in Path(app.config['UPLOAD_DIR']).iterdir():\n"
        "        os.utime(path, (time.time() - 7200, time.time() - 7200))\n"
        "    print(sweep_uploads(utcnow()))\n    print(sweep_uploads(utcnow()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env | {"LANG": "en_US.UTF-8", "LC_ALL": ""},
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()


def test_a_worker_killed_mid_upload_leaves_only_a_temporary_file_which_the_sweep_removes(server):
    base = server["base"]
    status, body = call(
        base,
        "POST",
        "/api/v1/auth/token",
        json.dumps({"username": "boss", "password": PASSWORD}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, body
    auth = {"Authorization": f"Bearer {json.loads(body)['token']}"}
    status, body = call(
        base,
        "POST",
        "/api/v1/drills",
        json.dumps(
            {
                "title": "疏散演练",
                "form": "evacuation",
                "organizer_region_code": WUSU,
                "starts_at": at(days=3).isoformat(),
                "ends_at": at(days=3, hours=1).isoformat(),
            }
        ).encode(),
        auth | {"Content-Type": "application/json"},
    )
    assert status == 201, body
    drill_id = json.loads(body)["id"]

    # Another connection holds the database's write lock: the worker receives the upload, stores the
    # file and then waits to insert its row. That is when it is killed.
    lock = sqlite3.connect(server["db"], isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    victim = worker_pid(server["master"].pid)
    upload, content_type = multipart("方案.pdf", PDF)
    answers = []

    def send():
        try:
            answers.append(
                call(
                    base,
                    "POST",
                    f"/api/v1/drills/{drill_id}/attachments",
                    upload,
                    auth | {"Content-Type": content_type},
                )[0]
            )
        except OSError:
            answers.append("connection lost")

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 10
    while not any(server["uploads"].glob("*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    sender.join(timeout=30)
    lock.execute("ROLLBACK")
    lock.close()

    assert answers == ["connection lost"] or answers[0] >= 500, answers
    left = stored_files(server["uploads"])
    assert len(left) == 1 and left[0].endswith(services.PART), left  # never under a name a row could own
    rows = sqlite3.connect(server["db"]).execute("SELECT count(*) FROM attachments").fetchone()[0]
    assert rows == 0

    # The respawned worker takes uploads as before; then the sweep, once the orphan is old enough.
    for _ in range(100):
        try:
            status, body = call(
                base, "POST", f"/api/v1/drills/{drill_id}/attachments", upload, auth | {"Content-Type": content_type}
            )
            break
        except OSError:
            time.sleep(0.1)
    assert status == 201, body
    kept = json.loads(body)
    assert run_sweeps(server["env"]) == [
        "0 orphaned files removed, 0 completed.",  # too young to judge
        "1 orphaned files removed, 0 completed.",
        "0 orphaned files removed, 0 completed.",
    ]
    left = stored_files(server["uploads"])
    assert len(left) == 1 and not left[0].endswith(services.PART)
    status, body = call(base, "GET", f"/api/v1/attachments/{kept['id']}", headers=auth)
    assert (status, body) == (200, PDF)


def test_a_session_closed_without_commit_keeps_no_file(app, uploads):
    with app.test_request_context():
        name = services.stage(PDF)
        db.session.remove()  # what a request's teardown does after an unhandled error
    assert not (uploads / (name + services.PART)).exists() and not (uploads / name).exists()
