"""drillmgr — earthquake drill and readiness manager (地震应急演练与准备管理)."""

import os
from pathlib import Path

from flask import Flask, current_app, has_request_context, request, session
from flask_login import current_user

from drillmgr import settings
from drillmgr.extensions import babel, csrf, db, limiter, login_manager, migrate

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def shipped_dir(name: str) -> Path:
    """`templates` or `migrations`: inside the package when installed from a wheel (see setup.py), else beside it."""
    packaged = PACKAGE_DIR / f"_{name}"
    return packaged if packaged.is_dir() else PROJECT_DIR / name


BLUEPRINT_MODULES = (
    "drillmgr.accounts.views",
    "drillmgr.home.views",
    "drillmgr.orgs.views",
    "drillmgr.api.views",
    "drillmgr.calendars.views",
    "drillmgr.findings.views",
    "drillmgr.notifications.views",
    "drillmgr.scheduler.views",
    "drillmgr.drills.views",
    "drillmgr.drills.plan_views",
    "drillmgr.drills.change_views",
    "drillmgr.drills.bulk_views",
    "drillmgr.attachments.views",
    "drillmgr.checklists.views",
    "drillmgr.outreach.views",
    "drillmgr.compliance.views",
    "drillmgr.compliance.submission_views",
    "drillmgr.compliance.nudge_views",
    "drillmgr.drillday.views",
    "drillmgr.exercises.views",
    "drillmgr.exercises.live_views",
    "drillmgr.exercises.report_views",
)


def _default_config():
    from config import DevelopmentConfig, ProductionConfig

    return ProductionConfig if os.environ.get("DRILLMGR_ENV") == "production" else DevelopmentConfig


def create_app(config_class=None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(shipped_dir("templates")),
        instance_path=os.environ.get("DRILLMGR_INSTANCE", str(PROJECT_DIR / "instance")),
    )
    app.config.from_object(config_class or _default_config())
    settings.configure(app)
    # Chinese stays readable in API answers (UTF-8, as JSON requires). app.json is Flask's DefaultJSONProvider,
    # typed as its base JSONProvider, which has no ensure_ascii.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config.get("PROXY_COUNT"):
        # Behind nginx or similar: client address and scheme from X-Forwarded-*, so that the login
        # rate limit counts per client rather than per proxy.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_COUNT"]
        # Flask's documented way to add WSGI middleware; its typing declares wsgi_app a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", _translation_directories())

    from drillmgr.validation import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any route is added: every <int:…> is bounded
    _init_extensions(app)
    from drillmgr import unit_of_work

    unit_of_work.init_app(app)  # first: its after_request runs last
    _register_input_guard(app)
    _register_blueprints(app)
    from drillmgr.idempotency.views import init_app as init_submission_keys

    init_submission_keys(app)
    _register_template_helpers(app)
    _register_security_headers(app)
    _register_error_pages(app)

    from drillmgr.cli import register_commands

    register_commands(app)
    return app


def _translation_directories() -> str:
    """Every feature's catalogue, for Flask-Babel's BABEL_TRANSLATION_DIRECTORIES (one domain, "messages", in
    each); the core one last, so its wording of a shared message wins the merge. A word that means two things
    is told apart by its context (pgettext), not by the catalogue it is in."""
    dirs = sorted(str(p) for p in PACKAGE_DIR.glob("*/translations") if p.is_dir())
    return ";".join([*dirs, str(PACKAGE_DIR / "translations")])


def select_locale() -> str:
    languages = list(current_app.config["LANGUAGES"])
    if not has_request_context():
        return _environment_locale(languages)
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(languages, default=languages[0])
    chosen = session.get("lang")
    if isinstance(chosen, str) and chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return languages[0]


def _environment_locale(languages: list[str]) -> str:
    """Outside a request (command line, jobs): the language of LC_ALL/LC_MESSAGES/LANG if offered, else the default."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            wanted = value.split(".")[0].replace("-", "_")
            for code in languages:
                if code == wanted or code.split("_")[0] == wanted.split("_")[0]:
                    return code
            break
    return languages[0]


def _init_extensions(app: Flask) -> None:
    import drillmgr.audit.services  # noqa: F401 — registers the append-only guard
    import drillmgr.models  # noqa: F401 — every table on the metadata
    import drillmgr.cache.generations  # noqa: F401 — raises the generations on every change

    db.init_app(app)
    migrate.init_app(app, db, directory=str(shipped_dir("migrations")), render_as_batch=True, compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message_category = "warning"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    with app.app_context():
        from drillmgr.db import configure_sessions

        configure_sessions(db.engine, app.config)

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to see this page.")

    from drillmgr.accounts.services import user_for_session

    login_manager.user_loader(user_for_session)


def _register_blueprints(app: Flask) -> None:
    from importlib import import_module

    # A blueprint's pages may be spread over several listed modules: all are imported (their routes join it)
    # before it is registered, once.
    blueprints = {id(bp): bp for bp in (import_module(name).bp for name in BLUEPRINT_MODULES)}
    for blueprint in blueprints.values():
        app.register_blueprint(blueprint)


def _register_template_helpers(app: Flask) -> None:
    from flask_babel import get_locale

    from drillmgr import formatting
    from drillmgr.navigation import menu_items

    app.jinja_env.globals.update(
        local_dt=formatting.local_datetime,
        local_date=formatting.local_date,
        languages=app.config["LANGUAGES"],
        menu_items=menu_items,
        get_locale=get_locale,
    )
    app.jinja_env.filters["duration"] = formatting.duration
    app.jinja_env.filters["number"] = formatting.number


# Only drillmgr's own files run or style a page: no inline script, handler or style attribute (they live in
# drillmgr/static), nothing from elsewhere, no plugins, and no other site may frame a page. Bootstrap's
# CSS draws a few icons as data: images.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def _register_input_guard(app: Flask) -> None:
    """Text no column can hold (NUL bytes) in the path, the query or a form is refused before any view sees it."""
    from flask import abort
    from flask_babel import gettext as _

    from drillmgr.errors import ValidationError
    from drillmgr.validation import bad_text, printable

    @app.before_request
    def refuse_bad_text():
        if bad_text(request.path):
            abort(404)
        sources = [request.args]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sources.append(request.form)
        fields = sorted(
            {
                printable(key)
                for source in sources
                for key, value in source.items(multi=True)
                if bad_text(key) or bad_text(value)
            }
        )
        if fields:
            message = _("Must not contain NUL bytes or unpaired surrogates.")
            raise ValidationError(message, {field: [message] for field in fields})


def _back_url() -> str | None:
    """The page the user came from, when it is one of ours and not the failing request itself."""
    from urllib.parse import urlsplit

    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.netloc != request.host or parts.scheme not in ("http", "https"):
        return None
    if parts.path == request.path and request.method == "GET":
        return None
    return referrer


def _rollback() -> None:
    """After a database error the transaction is aborted (PostgreSQL): end it, or rendering the error page
    (the bell's count, the menu) fails in turn."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 — a dead connection: the pool replaces it on the next checkout
        current_app.logger.warning("rollback after an error failed", exc_info=True)


def _register_error_pages(app: Flask) -> None:
    import sqlalchemy as sa
    from flask import flash, redirect, render_template, url_for
    from sqlalchemy.exc import IntegrityError
    from flask_babel import gettext as _
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, ServiceUnavailable

    from drillmgr.api.core import http_problem, problem
    from drillmgr.db import database_busy
    from drillmgr.errors import RETRY_AFTER_SECONDS, ServiceError, concurrent_save_message, status_detail, status_title
    from drillmgr.web import expired_form_again

    def error_page(status: int, message: str, headers=None):
        context = {"status": status, "title": status_title(status), "message": message, "back_url": _back_url()}
        try:
            return render_template("errors/error.html", **context), status, headers or {}
        except Exception:  # noqa: BLE001 — the page's frame needs the database that just failed
            current_app.logger.warning("error page without its frame", exc_info=True)
            _rollback()
            return render_template("errors/bare.html", **context), status, headers or {}

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError):
        """Two saves of the same unique thing at once (the API answers 409 instead)."""
        _rollback()
        flash(concurrent_save_message(), "warning")
        return redirect(_back_url() or url_for("home.index"))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if (error.code or 500) >= 500:
            _rollback()
        if request.path.startswith("/api/"):
            return http_problem(error)
        headers = {name: value for name, value in error.get_headers() if name in ("Allow", "Retry-After")}
        if isinstance(error, CSRFError):
            again = expired_form_again()
            if again is not None:
                return again
            message = _("The form has expired or was not sent from this site. Go back, reload the page and try again.")
            return error_page(400, message, headers)
        back = _back_url()
        if error.code == 413 and back:
            # An over-size upload: back to the page it came from, which says why.
            flash(
                _(
                    "The file is too large (at most %(mb)d MB).",
                    mb=current_app.config["MAX_ATTACHMENT_BYTES"] // (1024 * 1024),
                ),
                "danger",
            )
            return redirect(back, 303)
        return error_page(error.code or 500, status_detail(error), headers)

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        """Views catch their services' errors; this answers those raised before a view (input checks)."""
        if request.path.startswith("/api/"):
            return problem(error.status, status_title(error.status), error.detail, error.errors or None)
        fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.errors.items())
        return error_page(error.status if error.status < 500 else 400, fields or error.detail)

    @app.errorhandler(sa.exc.OperationalError)
    def database_error(error: sa.exc.OperationalError):
        """A lock or statement timeout (or SQLite's "database is locked") is a 503 to retry, never a killed
        worker; any other database failure stays a 500."""
        _rollback()
        if not database_busy(error):
            raise error
        current_app.logger.warning("database busy: %s", error.orig)
        return http_error(ServiceUnavailable(retry_after=RETRY_AFTER_SECONDS))
