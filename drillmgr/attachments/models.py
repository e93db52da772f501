from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import AttachmentKind
from drillmgr.extensions import Model


class Attachment(Model):
    """A file kept under the instance folder; who may read it follows what it is attached to."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    drill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    outreach_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outreach_activities.id", ondelete="CASCADE"), index=True
    )
    checklist_run_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("checklist_runs.id", ondelete="CASCADE"), index=True
    )
    corrective_action_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("corrective_actions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[AttachmentKind] = mapped_column(str_enum(AttachmentKind))
    filename: Mapped[str] = mapped_column(sa.String(255))
    stored_name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
