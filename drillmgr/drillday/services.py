"""Drill day on a phone: what the phone keeps for offline use, and the record it sends back once.

The phone measures the evacuation (Start … All clear), counts the roll call by group and takes photos,
all without network; when it is back online it sends the record with a one-time key. A key seen before is
answered with the first result and changes nothing, so a record is never applied twice.
"""

import io
import json
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments import services as attachments
from drillmgr.db import utcnow
from drillmgr.drillday.models import DrilldaySubmission
from drillmgr.drillday.schemas import DrilldayRecordSchema
from drillmgr.drills import lifecycle
from drillmgr.drills.models import Drill
from drillmgr.enums import AttachmentKind, DrillForm, DrillStatus
from drillmgr.errors import Conflict, ValidationError
from drillmgr.extensions import db
from drillmgr.localtime import api_datetime, local_zone
from drillmgr.orgs.schemas import GroupSchema
from drillmgr.validation import check_json

KEY = re.compile(r"[A-Za-z0-9-]{16,64}")
MAX_PHOTOS = 10
# Drills that ended this long ago still count as "just ended": staff record them right after the all clear.
JUST_ENDED = timedelta(hours=12)
# A phone may stay offline for weeks before it hears the answer to a record it sent: its key is kept as long.
KEY_LIFETIME = timedelta(days=60)


def drill_choice(drill: Drill) -> dict[str, Any]:
    return {
        "id": drill.id,
        "title": drill.title,
        "starts_at": api_datetime(drill.starts_at),
        "ends_at": api_datetime(drill.ends_at),
        "status": drill.status.value,
        "version": drill.version,
    }


def todays_drills(user: User, now: datetime | None = None) -> list[Drill]:
    """The drills of the user's unit that run today or have just ended, and that the user may record."""
    if user.org_id is None:
        return []
    now = now or utcnow()
    local_now = now.astimezone(local_zone())
    end_of_day = local_now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    query = (
        sa.select(Drill)
        .where(
            Drill.organizer_org_id == user.org_id,
            Drill.status != DrillStatus.CANCELLED,
            Drill.starts_at < end_of_day,
            Drill.ends_at > now - JUST_ENDED,
        )
        .order_by(Drill.starts_at)
    )
    return [d for d in db.session.scalars(query) if access.can_edit_drill(user, d)]


def context_for(user: User, now: datetime | None = None) -> dict[str, Any]:
    """What the phone keeps to run a drill day offline: the unit, its groups and today's drills."""
    org = user.org
    return {
        "user": {"id": user.id, "name": user.display_name or user.username, "role": str(user.role.label)},
        "org": {"id": org.id, "name": org.name} if org is not None else None,
        "groups": GroupSchema(many=True).dump(org.groups) if org is not None else [],
        "drills": [drill_choice(d) for d in todays_drills(user, now)],
    }


def _read_record(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw or "")
    except ValueError:
        raise ValidationError(
            _("The drill-day record is not valid JSON."), {"record": [_("Not valid JSON.")]}
        ) from None
    check_json(data)
    p = DrilldayRecordSchema().read(data)
    values = {"notes": ""} | p.values
    groups = data.get("groups")
    if not isinstance(groups, list):
        p.error("groups", _("Must be a list of groups."))
    started, cleared = values.get("started_at"), values.get("cleared_at")
    if isinstance(started, datetime) and isinstance(cleared, datetime) and cleared <= started:
        p.error("cleared_at", _("The all clear must come after the start."))
    p.check()
    values["groups"] = groups
    return values


def _photos(files: Sequence[FileStorage]) -> list[tuple[str, bytes]]:
    """Every photo checked (type, size, content) before anything is stored: all are kept, or the record is refused."""
    if len(files) > MAX_PHOTOS:
        raise ValidationError(
            _("At most %(n)d photos.", n=MAX_PHOTOS), {"photos": [_("At most %(n)d photos.", n=MAX_PHOTOS)]}
        )
    checked = []
    for upload in files:
        name, file_type, content = attachments.read_upload(upload.stream, upload.filename or "")
        if not file_type.content_type.startswith("image/"):
            raise ValidationError(_("Only photos (JPEG or PNG) can be sent."), {"photos": [name]})
        checked.append((name, content))
    return checked


def _completion(values: dict[str, Any]) -> dict[str, Any]:
    seconds = max(1, int((values["cleared_at"] - values["started_at"]).total_seconds()))
    participation: dict[str, Any] = {"groups": values["groups"], "evacuation_seconds": seconds}
    if values["notes"]:
        participation["notes"] = values["notes"]
    return participation


def repeated(user: User, key: str) -> Drill:
    """The drill a key already sent has recorded (the key is the user's own)."""
    seen = db.session.get(DrilldaySubmission, key)
    if seen is None or seen.user_id != user.id or seen.drill_id is None:
        raise Conflict(_("This submission key was used by someone else."))
    return db.session.get_one(Drill, seen.drill_id)  # a key is kept with the drill it recorded (ON DELETE CASCADE)


def submit(user: User, key: str, raw_record: str, files: Sequence[FileStorage]) -> tuple[Drill, bool]:
    """Applies a drill-day record once; returns the drill and whether it was applied now (False: a repeat).

    With `drill_id` it completes that drill, if it is still at the `version` the phone saw (else a Conflict
    carrying the drill as it is now); without, it records an unplanned evacuation drill of the user's unit.
    """
    if not KEY.fullmatch(key or ""):
        raise ValidationError(_("A one-time submission key is required."), {"key": [_("Invalid key.")]})
    if db.session.get(DrilldaySubmission, key) is not None:
        return repeated(user, key), False
    values = _read_record(raw_record)
    photos = _photos(files)
    participation = _completion(values)
    if "drill_id" in values:
        drill = _complete_planned(user, key, values, participation)
    else:
        drill = _record_unplanned(user, key, values["started_at"], participation)
    for name, content in photos:
        attachments.add_attachment(user, drill, AttachmentKind.PHOTO.value, io.BytesIO(content), name)
    return drill, True


def _take_key(user: User, key: str, drill_id: int | None = None) -> DrilldaySubmission:
    """Adds the key now, so that the same key sent twice at once fails here (an IntegrityError) in the later one."""
    submission = DrilldaySubmission(key=key, user_id=user.id, drill_id=drill_id)
    db.session.add(submission)
    db.session.flush()
    return submission


def _complete_planned(user: User, key: str, values: dict[str, Any], participation: dict[str, Any]) -> Drill:
    drill = access.get_visible_drill(user, values["drill_id"])
    version = values.get("version", drill.version)
    if version != drill.version:
        raise StaleDrill(drill)
    _take_key(user, key, drill.id)
    lifecycle.complete_drill(user, drill, {"participation": participation, "version": version})
    return drill


def _record_unplanned(user: User, key: str, started: datetime, participation: dict[str, Any]) -> Drill:
    if user.org_id is None:
        access.deny(_("Only staff of a unit can record an unplanned drill."))
    submission = _take_key(user, key)
    local_start = started.astimezone(local_zone())
    drill = lifecycle.create_drill(
        user,
        {
            "title": _("Unplanned evacuation drill %(day)s", day=local_start.strftime("%Y-%m-%d %H:%M")),
            "form": DrillForm.EVACUATION.value,
            "organizer_org_id": user.org_id,
            "starts_at": started.isoformat(),
            "ends_at": (started + timedelta(seconds=participation["evacuation_seconds"])).isoformat(),
            "participation": participation,
        },
    )
    submission.drill_id = drill.id
    return drill


def prune_keys(now: datetime) -> int:
    """Forgets the keys of records sent more than KEY_LIFETIME ago; returns how many."""
    result = db.session.execute(sa.delete(DrilldaySubmission).where(DrilldaySubmission.created_at < now - KEY_LIFETIME))
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML statement's Result is a CursorResult


class StaleDrill(Conflict):
    """The drill changed after the phone loaded it: the user decides, nothing is overwritten silently."""

    def __init__(self, drill: Drill):
        super().__init__(
            _(
                "This drill was changed after your phone loaded it (it is now at version %(v)d). "
                "Look at it as it is now, then send your record over it or keep it on the phone.",
                v=drill.version,
            )
        )
        self.drill = drill
