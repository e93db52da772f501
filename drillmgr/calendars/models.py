from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from drillmgr.extensions import Model


class FeedVersion(Model):
    """The version of one feed link that was last served, and since when it has been current.

    Kept in the database so that every worker gives the same Last-Modified, and so that a change no
    drill row shows (a drill leaving the feed, a deletion) still moves it."""

    __tablename__ = "calendar_feed_versions"

    feed: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    validator: Mapped[str] = mapped_column(sa.String(64))
    last_modified: Mapped[datetime]
    # The earliest If-Modified-Since that proves a copy current: one second later than last_modified
    # when the previous version was served within the same second (HTTP dates have whole seconds).
    current_since: Mapped[datetime]
