from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from flask import abort, current_app, g, has_request_context, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.pagination import Pagination
from flask_wtf import CSRFProtect

from drillmgr.db import Base

MAX_PAGE = 1_000_000
MAX_PER_PAGE = 500


class Database(SQLAlchemy):
    def paginate(
        self,
        select: sa.Select[Any],
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = MAX_PER_PAGE,
        **kwargs: bool,
    ) -> Pagination:
        """A page number beyond MAX_PAGE names no page (404), before its offset overflows the database's
        integers; per_page is never more than MAX_PER_PAGE."""
        if page is None and has_request_context():
            page = request.args.get("page", type=int)
        if page is not None and page > MAX_PAGE:
            abort(404)
        return super().paginate(select, page=page, per_page=per_page, max_per_page=max_per_page, **kwargs)


db = Database(model_class=Base)
# The models' base class. db.Model is made at run time from Base, and mypy cannot take an attribute of an
# object as a base class (python/mypy#8603): to it, the models derive from Base.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def _login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_username() -> str:
    """The username a login attempt names, however it is sent (form or JSON) and spelled."""
    name = request.form.get("username")
    if name is None and request.is_json:
        body = request.get_json(silent=True)
        name = body.get("username") if isinstance(body, dict) else None
    return name.strip().lower()[:64] if isinstance(name, str) else ""


def _failed_login(response) -> bool:
    return g.get("failed_login", False)


# One budget of wrong guesses per client address and one per username, shared by the web login and
# /api/v1/auth/token; with RATELIMIT_STORAGE_URI=redis://… all workers and servers share it too. Only
# failed logins use it up (a school's staff behind one address can all log in), but once it is spent
# every attempt is refused, the right password too.
login_limit_by_address = limiter.shared_limit(
    _login_rate_limit, scope="login-address", methods=["POST"], deduct_when=_failed_login
)
login_limit_by_username = limiter.shared_limit(
    _login_rate_limit, scope="login-username", methods=["POST"], key_func=_login_username, deduct_when=_failed_login
)
