"""Backups: the database (a consistent online copy) and the uploaded attachments, in one archive.

SQLite is copied with SQLite's online backup API; PostgreSQL with pg_dump in its custom format
(restore with pg_restore). Attachments are added as they are on disk.
"""
import os
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    pass


def backup(database_url: str, upload_dir: str | Path, target_dir: str | Path, now: datetime | None = None) -> Path:
    """Writes drillmgr-backup-<UTC time>.tar.gz into `target_dir` and returns its path."""
    now = now or datetime.now(timezone.utc)
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    archive = target_dir / f"drillmgr-backup-{now:%Y%m%d-%H%M%S}.tar.gz"
    url = make_url(database_url)
    with tempfile.TemporaryDirectory() as folder:
        if url.get_backend_name() == "sqlite":
            dump = Path(folder) / "database.sqlite3"
            _copy_sqlite(url.database, dump)
        elif url.get_backend_name() == "postgresql":
            dump = Path(folder) / "database.pgdump"
            _pg_dump(url, dump)
        else:
            raise BackupError(f"no backup method for {url.get_backend_name()} databases")
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(dump, arcname=dump.name)
            uploads = Path(upload_dir)
            if uploads.is_dir():
                tar.add(uploads, arcname="uploads")
        partial.rename(archive)
    return archive


def _copy_sqlite(database: str | None, dump: Path) -> None:
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    if not Path(database).exists():
        raise BackupError(f"no database file at {database}")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    copy = sqlite3.connect(dump)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def _pg_dump(url, dump: Path) -> None:
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    libpq = url._replace(drivername="postgresql", password=None).render_as_string(hide_password=False)
    try:
        done = subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={libpq}"],
                              env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client)") from None
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
