"""Public earthquake-safety education activities (item 19): recording, changing and listing them, their files."""

from collections.abc import Mapping
from datetime import date
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import format_date
from flask_babel import gettext as _

from drillmgr.access import services as access
from drillmgr.accounts.models import User
from drillmgr.attachments.models import Attachment
from drillmgr.attachments.services import attachment_path, remove_when_kept
from drillmgr.api.schema import Reading
from drillmgr.audit import services as audit
from drillmgr.checklists import uploads
from drillmgr.db import claim_version, utcnow
from drillmgr.enums import OutreachKind, Role
from drillmgr.extensions import db
from drillmgr.localtime import to_local
from drillmgr.outreach.audience import check_audience, organizer
from drillmgr.outreach.models import EARLIEST_YEAR, OutreachActivity
from drillmgr.outreach.schemas import ActivityFilterSchema, OutreachActivitySchema
from drillmgr.regions.models import Region
from drillmgr.validation import confirmed_reason

ACTIVITY_FIELDS = (
    "kind",
    "title",
    "observance_day",
    "setting",
    "held_on",
    "region_code",
    "organizer_org_id",
    "channels",
    "audience",
    "description",
    "exceptional_reason",
)
# What a request sets directly (the exceptional reason is kept only with a confirmed exceptional audience).
INPUT_FIELDS = tuple(f for f in ACTIVITY_FIELDS if f != "exceptional_reason")
NULLABLE_FIELDS = ("observance_day", "setting", "organizer_org_id")
# A change to any of these may make the audience exceptional (or no longer so).
AUDIENCE_BOUNDS = ("audience", "organizer_org_id", "setting", "channels", "kind")


def _read_values(p: Reading, data: Mapping[str, Any]) -> dict[str, Any]:
    """The activity's fields read; a nullable one sent as null is cleared."""
    values = {f: v for f, v in p.values.items() if f in INPUT_FIELDS}
    for field in NULLABLE_FIELDS:
        if field in data and data[field] is None:
            values[field] = None
    return values


def _check_kind(p: Reading, merged: Mapping[str, Any]) -> None:
    """Campaigns have an observance day and six-into activities a setting; no other kind has either."""
    kind = merged.get("kind")
    if (
        kind == OutreachKind.OBSERVANCE_CAMPAIGN
        and merged.get("observance_day") is None
        and "observance_day" not in p.errors
    ):
        p.error("observance_day", _("An observance-day campaign needs its observance day."))
    if kind is not None and kind != OutreachKind.OBSERVANCE_CAMPAIGN and merged.get("observance_day") is not None:
        p.error("observance_day", _("Only observance-day campaigns have an observance day."))
    if kind == OutreachKind.SIX_INTO and merged.get("setting") is None and "setting" not in p.errors:
        p.error("setting", _("A six-into activity needs its setting."))
    if kind is not None and kind != OutreachKind.SIX_INTO and merged.get("setting") is not None:
        p.error("setting", _("Only six-into activities have a setting."))


def _check_held_on(p: Reading, held_on: date | None) -> None:
    today = to_local(utcnow()).date()
    if held_on is not None and held_on > today:
        p.error(
            "held_on",
            _("An activity is recorded once it has been held: %(day)s is still to come.", day=format_date(held_on)),
        )
    elif held_on is not None and held_on.year < EARLIEST_YEAR:
        p.error("held_on", _("Must be between %(a)d and %(b)d.", a=EARLIEST_YEAR, b=today.year))


def _read_region(p: Reading, code: str | None) -> Region | None:
    region = db.session.get(Region, code) if code else None
    if code and region is None:
        p.error("region_code", _("No such region: %(code)s.", code=code))
    return region


def _read_activity(data: dict[str, Any], current: OutreachActivity | None) -> tuple[Reading, dict[str, Any]]:
    p = OutreachActivitySchema().read(data, partial=current is not None)
    values = _read_values(p, data)
    merged = {f: getattr(current, f) for f in ACTIVITY_FIELDS} if current is not None else {}
    merged.update(values)
    _check_kind(p, merged)
    _check_held_on(p, values.get("held_on"))
    region = _read_region(p, merged.get("region_code"))
    if values.get("organizer_org_id") is not None and organizer(values["organizer_org_id"]) is None:
        p.error("organizer_org_id", _("No such organisation."))
    relevant = current is None or any(f in values for f in AUDIENCE_BOUNDS)
    reason = confirmed_reason(
        p,
        check_audience(p, region, merged, relevant),
        p.values.get("confirm_exceptional") is True,
        p.values.get("exceptional_reason", ""),
    )
    if relevant:
        values["exceptional_reason"] = reason
    return p, values


def _require_recording(actor: User, region_code: str, organizer_org_id: int | None) -> None:
    access.require(
        access.can_record_outreach(actor, region_code, organizer(organizer_org_id)),
        _("You cannot record activities for this region or organisation."),
    )


def _require_editing(actor: User, activity: OutreachActivity) -> None:
    access.require(access.can_edit_outreach(actor, activity), _("You cannot change this activity."))


def create_activity(actor: User, data: dict[str, Any], is_demo: bool = False) -> OutreachActivity:
    if actor.role == Role.ORG_STAFF and isinstance(data, dict) and data.get("organizer_org_id") is None:
        data = {**data, "organizer_org_id": actor.org_id}
    p, values = _read_activity(data, None)
    p.check()
    values.setdefault("channels", [])
    values.setdefault("audience", 0)
    _require_recording(actor, values["region_code"], values.get("organizer_org_id"))
    activity = OutreachActivity(**values, created_by_id=actor.id, is_demo=is_demo)
    activity.channels = [c.value for c in values["channels"]]
    db.session.add(activity)
    db.session.flush()
    audit.record(
        actor, "outreach.create", "outreach_activity", activity.id, None, audit.snapshot(activity, ACTIVITY_FIELDS)
    )
    return activity


def update_activity(actor: User, activity: OutreachActivity, data: dict[str, Any]) -> OutreachActivity:
    _require_editing(actor, activity)
    p, values = _read_activity(data, activity)
    p.check()
    _require_recording(
        actor,
        values.get("region_code", activity.region_code),
        values.get("organizer_org_id", activity.organizer_org_id),
    )
    claim_version(
        activity,
        p.values.get("version"),
        _("Someone else changed this activity meanwhile. Reload it and apply your change again."),
    )
    before = audit.snapshot(activity, ACTIVITY_FIELDS)
    for field, value in values.items():
        setattr(activity, field, [c.value for c in value] if field == "channels" else value)
    audit.record(
        actor, "outreach.update", "outreach_activity", activity.id, before, audit.snapshot(activity, ACTIVITY_FIELDS)
    )
    return activity


def delete_activity(actor: User, activity: OutreachActivity) -> None:
    """Deletes the activity and its attachments; their files go once the deletion is kept."""
    _require_editing(actor, activity)
    attachments = activity_attachments(activity)
    audit.record(
        actor,
        "outreach.delete",
        "outreach_activity",
        activity.id,
        audit.snapshot(activity, ACTIVITY_FIELDS) | {"attachments": [a.filename for a in attachments]},
        None,
    )
    remove_when_kept([attachment_path(a) for a in attachments])
    for attachment in attachments:
        db.session.delete(attachment)
    db.session.delete(activity)


def attach_file(actor: User, activity: OutreachActivity, stream: IO[bytes], filename: str) -> Attachment:
    """A photo or document about the activity (same checks as drill files)."""
    _require_editing(actor, activity)
    attachment = uploads.store(stream, filename, actor, outreach_id=activity.id)
    db.session.flush()
    audit.record(
        actor,
        "attachment.add",
        "outreach_activity",
        activity.id,
        None,
        {"attachment_id": attachment.id, "filename": attachment.filename, "size": attachment.size},
    )
    return attachment


def activity_attachments(activity: OutreachActivity) -> list[Attachment]:
    return list(
        db.session.scalars(
            sa.select(Attachment)
            .where(Attachment.outreach_id == activity.id)
            .order_by(Attachment.uploaded_at, Attachment.id)
        )
    )


def get_visible_attachment(user: User, attachment_id: int) -> Attachment:
    """An activity's file, if the activity is visible to `user`; else NotFound."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.outreach_id is None:
        access.not_found(_("No such file."))
    get_visible_activity(user, attachment.outreach_id)
    return attachment


def get_visible_activity(user: User, activity_id: int) -> OutreachActivity:
    activity = db.session.get(OutreachActivity, activity_id)
    if activity is None or not access.can_view_outreach(user, activity):
        access.not_found(_("No such activity."))
    return activity


def read_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Validated list filters from query arguments: year, region, kind (bad values are a 422)."""
    p = ActivityFilterSchema().read(dict(args), partial=True)
    region = p.values.get("region")
    if region and "region" not in p.errors and db.session.get(Region, region) is None:
        p.error("region", _("No such region: %(code)s.", code=region))
    p.check()
    return {k: v for k, v in p.values.items() if v != ""}


def activity_query(
    user: User, year: int | None = None, region: str | None = None, kind: OutreachKind | None = None
) -> sa.Select[tuple[OutreachActivity]]:
    query = sa.select(OutreachActivity).where(access.outreach_clause(user))
    if year:
        query = query.where(OutreachActivity.held_on.between(date(year, 1, 1), date(year, 12, 31)))
    if region:
        query = query.where(OutreachActivity.region_code.in_(access.subtree_codes(region)))
    if kind:
        query = query.where(OutreachActivity.kind == kind)
    return query.order_by(OutreachActivity.held_on.desc(), OutreachActivity.id.desc())
