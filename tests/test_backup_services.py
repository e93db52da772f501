"""`drillmgr backup`: a consistent copy of the database and the attachments in one archive."""

import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest

from drillmgr.backup.services import BackupError, backup
from drillmgr.extensions import db


def test_backup_command_archives_database_and_uploads(app, runner, tmp_path):
    uploads = Path(app.config["UPLOAD_DIR"])
    (uploads / "drill-1").mkdir(parents=True, exist_ok=True)
    (uploads / "drill-1" / "方案.pdf").write_bytes(b"%PDF-1.4 plan")
    result = runner.invoke(args=["backup", "--to", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (archive,) = (tmp_path / "out").glob("drillmgr-backup-*.tar.gz")
    assert f"backup written to {archive}" in result.output
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "uploads/drill-1/方案.pdf" in names
        assert tar.extractfile("uploads/drill-1/方案.pdf").read() == b"%PDF-1.4 plan"
        tar.extractall(tmp_path / "restored", filter="data")
    restored = tmp_path / "restored"
    if db.engine.dialect.name == "sqlite":
        copy = sqlite3.connect(restored / "database.sqlite3")
        assert copy.execute("SELECT count(*) FROM regions WHERE parent_code = '654200'").fetchone() == (7,)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        copy.close()
    else:
        listing = subprocess.run(
            ["pg_restore", "--list", str(restored / "database.pgdump")], capture_output=True, text=True
        )
        assert listing.returncode == 0 and "TABLE public regions" in listing.stdout


def test_backup_refuses_what_it_cannot_copy(tmp_path):
    with pytest.raises(BackupError, match="in-memory"):
        backup("sqlite://", tmp_path / "uploads", tmp_path)
    with pytest.raises(BackupError, match="no database file"):
        backup(f"sqlite:///{tmp_path / 'missing.sqlite3'}", tmp_path / "uploads", tmp_path)
    with pytest.raises(BackupError, match="no backup method"):
        backup("mysql://u@h/db", tmp_path / "uploads", tmp_path)
    assert not list(tmp_path.glob("*.tar.gz")) and not list(tmp_path.glob("*.partial"))


def test_backup_command_reports_failures(runner, app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'gone.sqlite3'}")
    result = runner.invoke(args=["backup", "--to", str(tmp_path)])
    assert result.exit_code == 1 and "no database file" in result.output


def test_postgres_password_is_not_on_the_command_line(monkeypatch, tmp_path):
    seen = {}

    def fake_run(args, env, **kwargs):
        seen.update(args=args, env=env)
        Path(args[3].removeprefix("--file=")).write_bytes(b"PGDMP")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    archive = backup("postgresql+psycopg://drill:s3cret@db.example:5432/drillmgr", tmp_path / "uploads", tmp_path)
    assert "s3cret" not in " ".join(seen["args"]) and seen["env"]["PGPASSWORD"] == "s3cret"
    assert "--dbname=postgresql://drill@db.example:5432/drillmgr" in seen["args"]
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["database.pgdump"]
