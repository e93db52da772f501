"""The append-only audit log: who changed what, when, before and after."""

import enum
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from drillmgr.audit.models import AuditEntry
from drillmgr.extensions import db

if TYPE_CHECKING:
    from drillmgr.access.actors import Actor


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """The listed attributes of `obj` as JSON-ready values."""
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def record(
    actor: "Actor",
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Adds an entry to the current transaction; it lands or not with the change it describes. An entry of
    SYSTEM (a job, a command) names no user."""
    entry = AuditEntry(
        user_id=getattr(actor, "id", None),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
    )
    db.session.add(entry)
    return entry


def entries_for(entity_type: str, entity_id: object) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


class AuditLogIsAppendOnly(Exception):
    pass


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: object, instances: object) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditLogIsAppendOnly("audit log entries cannot be changed or deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_audit_bulk_changes(state: ORMExecuteState) -> None:
    """The same for bulk UPDATE/DELETE statements run through a session."""
    if (state.is_update or state.is_delete) and any(m.class_ is AuditEntry for m in state.all_mappers):
        raise AuditLogIsAppendOnly("audit log entries cannot be changed or deleted")
