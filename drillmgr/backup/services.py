"""Backups: the database (a consistent online copy) and the uploaded attachments, in one archive.

SQLite is copied with SQLite's online backup API; PostgreSQL with pg_dump in its custom format
(restore with pg_restore). Attachments are added as they are on disk. The archive holds password
hashes and feed secrets, so only its owner may read it.
"""

import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.engine import URL, make_url


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
        partial.unlink(missing_ok=True)
        with (
            os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz") as tar,
        ):
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


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump and pg_restore, with the password in the environment, not on the command line."""
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return url._replace(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _run_pg(program: str, args: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run([program, *args], env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{program} is not installed (Debian: apt-get install postgresql-client)") from None
    if done.returncode != 0:
        raise BackupError(f"{program} failed: {done.stderr.strip()}")


def _pg_dump(url: URL, dump: Path) -> None:
    libpq, env = _libpq(url)
    _run_pg("pg_dump", ["--format=custom", "--no-owner", f"--file={dump}", f"--dbname={libpq}"], env)


# Into an empty database or over an existing drillmgr one alike, all or nothing, exit status 0.
PG_RESTORE_OPTIONS = ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error"]


def restore(archive: str | Path, database_url: str, upload_dir: str | Path) -> None:
    """Puts a backup's database and attachments in place of the configured ones. Stop the web server and
    the scheduler first: whatever they write meanwhile is lost."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    expected = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}.get(backend)
    if expected is None:
        raise BackupError(f"no restore method for {backend} databases")
    with tempfile.TemporaryDirectory() as folder:
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(folder, filter="data")
        except (OSError, tarfile.TarError) as error:
            raise BackupError(f"cannot read {archive}: {error}") from None
        dump = Path(folder) / expected
        if not dump.is_file():
            held = ", ".join(sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("database")))
            raise BackupError(f"{archive} holds no {expected} for a {backend} database (it holds: {held or 'none'})")
        if backend == "sqlite":
            _restore_sqlite(dump, url.database)
        else:
            libpq, env = _libpq(url)
            _run_pg("pg_restore", [*PG_RESTORE_OPTIONS, f"--dbname={libpq}", str(dump)], env)
        _replace_uploads(Path(folder) / "uploads", Path(upload_dir))


def _restore_sqlite(dump: Path, database: str | None) -> None:
    if not database or database == ":memory:":
        raise BackupError("cannot restore into an in-memory SQLite database")
    source = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    target = sqlite3.connect(database)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _replace_uploads(restored: Path, upload_dir: Path) -> None:
    """The attachments become exactly the backup's: files added since are removed with the rows they had."""
    staging = upload_dir.with_name(upload_dir.name + ".restoring")
    old = upload_dir.with_name(upload_dir.name + ".replaced")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    if restored.is_dir():
        shutil.copytree(restored, staging)
    else:
        staging.mkdir(parents=True)
    if upload_dir.exists():
        upload_dir.rename(old)
    staging.rename(upload_dir)
    shutil.rmtree(old, ignore_errors=True)
