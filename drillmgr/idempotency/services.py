"""Exactly once: a request takes its submission key in the same transaction as its change, so a repeat of the
same key (a double tap, Back and send again, a client's retry) changes nothing and gets the first answer."""

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from drillmgr.db import rows_changed, utcnow
from drillmgr.extensions import db
from drillmgr.idempotency.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
# How long a repeat waits for the first request's answer before saying that it is still being made.
WAIT_SECONDS = 10.0


@dataclass
class First:
    fingerprint: str
    status: int | None
    body: bytes | None
    content_type: str
    location: str


@dataclass
class Claim:
    """`id`: the key row this request took, to be kept with its answer or released; None for a repeat,
    whose first answer is `first` (its status is None if that answer is still being made)."""

    id: int | None
    first: First | None = None


def fingerprint(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def take(user_id: int, key: str, print_: str) -> Claim:
    """Reserves the key in the current transaction (before the change is made), or returns the first answer."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        db.session.execute(
            sa.delete(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.key == key,
                IdempotencyKey.created_at < utcnow() - KEY_LIFETIME,
            )
        )
        row = IdempotencyKey(user_id=user_id, key=key, fingerprint=print_)
        db.session.add(row)
        try:
            db.session.flush()
            return Claim(row.id)
        except IntegrityError:
            db.session.rollback()
        while True:
            found = db.session.execute(
                sa.select(
                    IdempotencyKey.fingerprint,
                    IdempotencyKey.status,
                    IdempotencyKey.body,
                    IdempotencyKey.content_type,
                    IdempotencyKey.location,
                ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            ).one_or_none()
            db.session.rollback()  # ends the snapshot, so that the next look sees the first request's commit
            if found is None:
                break  # the first request failed and gave the key back: this one is a first try
            first = First(*found)
            if first.status is not None or time.monotonic() > deadline:
                return Claim(None, first)
            time.sleep(0.05)


def keep(claim_id: int, status: int, body: bytes = b"", content_type: str = "", location: str = "") -> None:
    """Stores the first answer with the key, in the request's unit of work; a key whose unit is rolled back is
    given back with it."""
    db.session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(status=status, body=body, content_type=content_type, location=location)
    )


def release(claim_id: int) -> None:
    """The request failed: nothing it did stays, its key (taken in the same unit of work) included."""
    db.session.rollback()


def prune(now: datetime | None = None) -> int:
    result = db.session.execute(
        sa.delete(IdempotencyKey).where(IdempotencyKey.created_at < (now or utcnow()) - KEY_LIFETIME)
    )
    return rows_changed(result)
