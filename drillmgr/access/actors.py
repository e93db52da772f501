"""Who acts: a signed-in user, or SYSTEM (the scheduler's jobs and the command line); and the refusals."""

from typing import NoReturn

from flask_babel import gettext as _

from drillmgr.accounts.models import User
from drillmgr.enums import Role
from drillmgr.errors import Forbidden, NotFound


class SystemActor:
    """The scheduler's jobs and the command line: they act for the whole prefecture, with no user behind them.
    Features pass it on as the actor; only this module decides what it may do."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()
Actor = User | SystemActor

ROLE_POWER = {Role.ADMIN: 3, Role.COORDINATOR: 2, Role.ORG_STAFF: 1, Role.VIEWER: 1}
REGIONAL_ROLES = (Role.COORDINATOR, Role.VIEWER)


def deny(message: str | None = None) -> NoReturn:
    raise Forbidden(message or _("You are not allowed to do this."))


def not_found(message: str | None = None) -> NoReturn:
    raise NotFound(message or _("Not found."))


def acts_for_all(actor: Actor) -> bool:
    """SYSTEM (jobs, commands) and admins act for the whole prefecture."""
    return isinstance(actor, SystemActor) or actor.role == Role.ADMIN


def require(allowed: bool, message: str | None = None) -> None:
    if not allowed:
        deny(message)
