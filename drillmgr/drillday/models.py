from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import utcnow
from drillmgr.extensions import Model


class DrilldaySubmission(Model):
    """A drill-day record sent from a phone, by its one-time key: a repeat is answered, never applied twice."""

    __tablename__ = "drillday_submissions"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    drill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
