"""Backups only their owner can read, and restores that exit 0 and give back the same data: with
`drillmgr restore`, and on PostgreSQL with the pg_restore command README gives."""

import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from drillmgr.backup.services import PG_RESTORE_OPTIONS, BackupError, backup, restore
from tests.conftest import ON_POSTGRESQL

BIN = Path(sys.executable).parent


@pytest.fixture
def loose_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def sqlite_world(tmp_path) -> tuple[str, Path]:
    database = tmp_path / "live.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT, password_hash TEXT)")
        connection.execute("INSERT INTO users VALUES (1, '张老师', 'scrypt:32768:8:1$salt$hash')")
    uploads = tmp_path / "uploads"
    (uploads / "drill-1").mkdir(parents=True)
    (uploads / "drill-1" / "方案.pdf").write_bytes(b"%PDF-1.4 plan")
    return f"sqlite:///{database}", uploads


def test_the_archive_is_readable_by_its_owner_only(tmp_path, loose_umask):
    url, uploads = sqlite_world(tmp_path)
    archive = backup(url, uploads, tmp_path / "out")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600


def test_restore_gives_back_the_database_and_exactly_the_attachments(tmp_path):
    url, uploads = sqlite_world(tmp_path)
    archive = backup(url, uploads, tmp_path / "out")
    with sqlite3.connect(tmp_path / "live.sqlite3") as connection:
        connection.execute("UPDATE users SET username = 'changed'")
        connection.execute("INSERT INTO users VALUES (2, 'later', 'x')")
    (uploads / "drill-1" / "方案.pdf").write_bytes(b"overwritten")
    (uploads / "drill-9").mkdir()
    (uploads / "drill-9" / "later.jpg").write_bytes(b"\xff\xd8")
    restore(archive, url, uploads)
    with sqlite3.connect(tmp_path / "live.sqlite3") as connection:
        assert connection.execute("SELECT * FROM users").fetchall() == [(1, "张老师", "scrypt:32768:8:1$salt$hash")]
    assert sorted(str(p.relative_to(uploads)) for p in uploads.rglob("*")) == ["drill-1", "drill-1/方案.pdf"]
    assert (uploads / "drill-1" / "方案.pdf").read_bytes() == b"%PDF-1.4 plan"
    assert not list(tmp_path.glob("uploads.*"))


def test_restore_refuses_an_archive_of_the_other_engine_and_leaves_everything(tmp_path):
    url, uploads = sqlite_world(tmp_path)
    archive = backup(url, uploads, tmp_path / "out")
    with pytest.raises(BackupError, match="holds no database.pgdump"):
        restore(archive, "postgresql+psycopg://postgres@127.0.0.1:1/none", uploads)
    not_an_archive = tmp_path / "notes.txt"
    not_an_archive.write_text("hello")
    with pytest.raises(BackupError, match="cannot read"):
        restore(not_an_archive, url, uploads)
    assert (uploads / "drill-1" / "方案.pdf").read_bytes() == b"%PDF-1.4 plan"


def test_restore_command_asks_first(app, runner, tmp_path):
    url, uploads = sqlite_world(tmp_path)
    archive = backup(url, uploads, tmp_path / "out")
    result = runner.invoke(args=["restore", str(archive)], input="n\n")
    assert result.exit_code == 1 and "Replace the database" in result.output and "Aborted" in result.output


# --- PostgreSQL ---------------------------------------------------------------------------------------


def _server_url() -> sa.URL:
    return sa.make_url(os.environ["TEST_DATABASE_URL"])


@pytest.fixture
def databases():
    """Makes empty PostgreSQL databases on the test server and drops them afterwards."""
    admin = sa.create_engine(_server_url().set(database="postgres"), isolation_level="AUTOCOMMIT")
    made = []

    def make() -> sa.URL:
        name = f"drillmgr_restore_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _server_url().set(database=name)

    yield make
    with admin.connect() as connection:
        for name in made:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def fingerprint(url: sa.URL) -> dict:
    """Every table's rows, as an order-independent digest, and their count."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        tables = connection.scalars(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).all()
        result = {
            table: connection.execute(
                sa.text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
                )
            )
            .one()
            ._tuple()
            for table in tables
        }
    engine.dispose()
    return result


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "drillmgr"), *args], env=env, capture_output=True, text=True, timeout=300)


def libpq(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.skipif(not ON_POSTGRESQL, reason="checked in the PostgreSQL run of make test")
def test_postgres_backup_restores_with_exit_0_and_equal_data(databases, tmp_path):
    source = databases()
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_URL"}
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=source.render_as_string(hide_password=False),
        DRILLMGR_INSTANCE=str(tmp_path / "instance"),
        DRILLMGR_SECRET_KEY="restore-test",
        DRILLMGR_UPLOAD_DIR=str(tmp_path / "uploads"),
        LANG="C.UTF-8",
    )
    for args in (["db", "upgrade"], ["seed-demo", "--orgs", "12", "--drills", "20"]):
        done = cli(env, *args)
        assert done.returncode == 0, done.stderr
    done = cli(env, "backup", "--to", str(tmp_path / "backups"))
    assert done.returncode == 0, done.stderr
    (archive,) = (tmp_path / "backups").glob("drillmgr-backup-*.tar.gz")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    expected = fingerprint(source)
    assert expected["users"][0] > 0 and expected["drills"][0] > 0

    # README's commands, by hand, into a fresh database: no error message at all, exit status 0.
    by_hand = databases()
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    done = subprocess.run(
        [
            "pg_restore",
            *PG_RESTORE_OPTIONS,
            f"--dbname={libpq(by_hand)}",
            str(tmp_path / "unpacked" / "database.pgdump"),
        ],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert fingerprint(by_hand) == expected

    # `drillmgr restore`, into a fresh database and then again over the restored one.
    target = databases()
    env.update(
        DRILLMGR_SQLALCHEMY_DATABASE_URI=target.render_as_string(hide_password=False),
        DRILLMGR_UPLOAD_DIR=str(tmp_path / "up2"),
    )
    for _ in range(2):
        done = cli(env, "restore", "--yes", str(archive))
        assert done.returncode == 0, done.stderr
        assert fingerprint(target) == expected
    assert cli(env, "db", "check").returncode == 0
