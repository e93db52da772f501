from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import utcnow
from drillmgr.extensions import Model


class IdempotencyKey(Model):
    """A submission key taken by one request: an API `Idempotency-Key` ("api:…") or a form's one-time key
    ("form:…"). The row is inserted in the same transaction as the change, so the change happens once;
    the first answer is stored with it for the repeats."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(255))
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    # The first answer; status is NULL while the first request is still being answered.
    status: Mapped[int | None]
    body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    content_type: Mapped[str] = mapped_column(sa.String(100), default="")
    location: Mapped[str] = mapped_column(sa.String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("user_id", "key", name="idempotency_user_key"),)
