"""The public feeds as static files (public.ics and one public-<county code>.ics per county), for a web server
to serve without the app."""

import os
import tempfile
from datetime import datetime
from pathlib import Path

from drillmgr.calendars.feeds import config, public_feed
from drillmgr.calendars.serving import current_feed
from drillmgr.db import utcnow
from drillmgr.regions.services import counties


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Writes atomically (a temporary file in the same folder, then a rename), only when the bytes differ."""
    if path.exists() and path.read_bytes() == data:
        return False
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def static_file_name(region_code: str | None) -> str:
    return f"public-{region_code}.ics" if region_code else "public.ics"


def publish_static(directory: str | os.PathLike[str] | None = None, now: datetime | None = None) -> list[str]:
    """Writes the public feeds; returns the names of the files that changed. Safe to run again and again
    (the scheduler does). The public feeds are what anyone may see: no actor is involved."""
    folder = Path(directory or config("CALENDAR_DIR"))
    folder.mkdir(parents=True, exist_ok=True)
    now = now or utcnow()
    changed = []
    for region_code in [None, *(county.code for county in counties())]:
        rendered = current_feed(public_feed(region_code), now)
        name = static_file_name(region_code)
        if _write_if_changed(folder / name, rendered.body):
            changed.append(name)
    return changed
