"""Exceptions raised by services; the web views and the API turn them into answers."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

# The short name of each error status, in the user's language: the API problem's `title`, the error page's heading.
STATUS_TITLES = {
    400: _l("Bad request"),
    401: _l("Not logged in"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("Method not allowed"),
    409: _l("Conflict"),
    413: _l("Too large"),
    415: _l("Unsupported media type"),
    422: _l("Invalid input"),
    429: _l("Too many requests"),
    500: _l("Server error"),
    503: _l("Temporarily unavailable"),
}


STATUS_DETAILS = {
    400: _l("This request could not be handled."),
    403: _l("You are not allowed to see this page."),
    404: _l("This page does not exist, or you may not see it."),
    405: _l("This address does not accept this kind of request."),
    413: _l("What you sent is too large."),
    429: _l("Too many attempts. Please wait a minute and try again."),
    500: _l("Something went wrong on our side. Please try again later."),
    503: _l("The database is busy. Please try again in a few seconds."),
}
# Seconds a client should wait before retrying after a 503 (a lock or statement timeout).
RETRY_AFTER_SECONDS = 5


def status_title(status: int) -> str:
    return str(STATUS_TITLES.get(status) or _("Error"))


def status_detail(error) -> str:
    """What an HTTP error says, in the user's language: werkzeug's own English description is replaced
    by ours; a description the code chose (abort(404, …)) is kept."""
    status = error.code or 500
    if status in (429, 500) or not error.description or error.description == type(error).description:
        return str(STATUS_DETAILS.get(status) or error.description or "")
    return str(error.description)


class ServiceError(Exception):
    """A service refused: the request it happens in keeps none of its changes (drillmgr.unit_of_work)."""

    status = 400

    def __init__(self, detail: str = "", errors: dict | None = None):
        from drillmgr import unit_of_work

        super().__init__(detail)
        self.detail = str(detail)
        self.errors = errors or {}
        unit_of_work.refuse()


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

    return _(
        "Someone saved the same thing at the same moment (for example the same name); yours was not saved. "
        "Look at the current state and try again."
    )
