"""One unit of work per request, job run and command: services flush and never commit; this module commits
the whole of it once, or rolls the whole of it back.

A unit is kept when it ends well: an HTTP answer below 400, a job or command that returned. It is discarded
when it ends in an error; a request also when a service refused anything in it (a ServiceError was raised, even
one a view caught to show the form again), so that no view has to remember to roll back. A job may go on past
one refused item (the others are still kept); a command that fails raises, and keeps nothing.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Response, g, has_app_context

from drillmgr.extensions import db

P = ParamSpec("P")
R = TypeVar("R")


def refuse() -> None:
    """Marks the current unit as refused: it will be rolled back whatever its answer."""
    if has_app_context():
        g.unit_of_work_refused = True


def refused() -> bool:
    return bool(g.get("unit_of_work_refused", False))


def finish(kept: bool) -> None:
    """Ends the unit: commits it if `kept`, else rolls it back."""
    if kept:
        db.session.commit()
    else:
        db.session.rollback()
    g.unit_of_work_refused = False


def _begin_request() -> None:
    g.unit_of_work_refused = False


def _finish_request(response: Response) -> Response:
    finish(response.status_code < 400 and not refused())
    return response


def init_app(app: Flask) -> None:
    """Call before any other after_request is registered: Flask runs them in reverse, so this one runs last,
    after the others (the submission keys) have added their part to the unit."""
    app.before_request(_begin_request)
    app.after_request(_finish_request)


@contextmanager
def unit() -> Iterator[None]:
    """A job run or a command: kept if the block returns, discarded if it raises."""
    try:
        yield
    except BaseException:
        finish(False)
        raise
    finish(True)


def one_unit(func: Callable[P, R]) -> Callable[P, R]:
    """A command (or job) that is one unit of work."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit():
            return func(*args, **kwargs)

    return wrapper
