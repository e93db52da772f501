import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from werkzeug.security import check_password_hash, generate_password_hash

from drillmgr.db import str_enum, utcnow
from drillmgr.enums import Role
from drillmgr.extensions import Model
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region


def new_feed_secret() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The username in lower case: usernames are unique whatever their case, as login matches them.
    username_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), default="")
    email: Mapped[str | None] = mapped_column(sa.String(200))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    region_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    active: Mapped[bool] = mapped_column(default=True)
    is_demo: Mapped[bool] = mapped_column(default=False)
    # Signs this user's calendar feed links; rotating it kills every old link.
    feed_secret: Mapped[str] = mapped_column(sa.String(64), default=new_feed_secret)
    feed_alarms: Mapped[bool] = mapped_column(default=False)
    # Part of every login session's id: raising it ends all of this user's sessions and remember cookies.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    region: Mapped[Region | None] = relationship()
    org: Mapped[Organisation | None] = relationship()

    @validates("username")
    def _set_username_key(self, _name, value):
        self.username_key = value.lower() if value is not None else None
        return value

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_generation}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class ApiToken(Model):
    """A bearer token for the API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship()
