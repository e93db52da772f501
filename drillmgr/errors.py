"""Exceptions raised by services; the web views and the API turn them into answers."""


class ServiceError(Exception):
    status = 400

    def __init__(self, detail: str = "", errors: dict | None = None):
        super().__init__(detail)
        self.detail = str(detail)
        self.errors = errors or {}


class ValidationError(ServiceError):
    """Invalid input; `errors` maps each field to its messages."""

    status = 422


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    """A stale `version`, or a state change that is not allowed from the current state."""

    status = 409


def concurrent_save_message() -> str:
    """For the loser of two saves of the same unique thing (a username, a unit's name) at the same moment."""
    from flask_babel import gettext as _

    return _("Someone saved the same thing at the same moment (for example the same name); yours was not saved. "
             "Look at the current state and try again.")
