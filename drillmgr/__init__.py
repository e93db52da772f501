"""drillmgr — earthquake drill and readiness manager (地震应急演练与准备管理)."""
import os
from pathlib import Path

from flask import Flask, current_app, has_request_context, request, session
from flask_login import current_user

from drillmgr.extensions import babel, csrf, db, limiter, login_manager, migrate

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent

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
    "drillmgr.attachments.views",
    "drillmgr.checklists.views",
    "drillmgr.outreach.views",
    "drillmgr.compliance.views",
)


def _default_config():
    from config import DevelopmentConfig, ProductionConfig

    return ProductionConfig if os.environ.get("DRILLMGR_ENV") == "production" else DevelopmentConfig


def create_app(config_class=None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PROJECT_DIR / "templates"),
        instance_path=os.environ.get("DRILLMGR_INSTANCE", str(PROJECT_DIR / "instance")),
    )
    app.config.from_object(config_class or _default_config())
    app.json.ensure_ascii = False  # Chinese stays readable in API answers (UTF-8, as JSON requires)
    if not app.config.get("SECRET_KEY"):
        if not app.config.get("GENERATE_SECRET_KEY"):
            raise RuntimeError("SECRET_KEY must be set in the environment")
        from config import development_secret_key

        app.config["SECRET_KEY"] = development_secret_key()
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if app.config.get("PROXY_COUNT"):
        # Behind nginx or similar: client address and scheme from X-Forwarded-*, so that the login
        # rate limit counts per client rather than per proxy.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", _translation_directories())

    _init_extensions(app)
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
    """Every feature's catalogue; the core one last, so its wording of a shared message wins the merge."""
    dirs = sorted(str(p) for p in PACKAGE_DIR.glob("*/translations") if p.is_dir())
    return ";".join([*dirs, str(PACKAGE_DIR / "translations")])


def select_locale() -> str:
    languages = list(current_app.config["LANGUAGES"])
    if not has_request_context():
        return _environment_locale(languages)
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(languages, default=languages[0])
    chosen = session.get("lang")
    if chosen in languages:
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

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_DIR / "migrations"), render_as_batch=True,
                     compare_type=True)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message_category = "warning"
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to see this page.")

    from drillmgr.accounts.models import User

    @login_manager.user_loader
    def load_user(user_id: str):
        user = db.session.get(User, int(user_id))
        return user if user is not None and user.active else None


def _register_blueprints(app: Flask) -> None:
    from importlib import import_module

    for name in BLUEPRINT_MODULES:
        app.register_blueprint(import_module(name).bp)


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


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _register_error_pages(app: Flask) -> None:
    from flask import flash, redirect, render_template, url_for
    from sqlalchemy.exc import IntegrityError
    from werkzeug.exceptions import HTTPException

    from drillmgr.api.core import TITLES, problem
    from drillmgr.errors import concurrent_save_message

    @app.errorhandler(IntegrityError)
    def integrity_error(error: IntegrityError):
        """Two saves of the same unique thing at once (the API answers 409 instead)."""
        db.session.rollback()
        flash(concurrent_save_message(), "warning")
        return redirect(request.referrer or url_for("home.index"))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if request.path.startswith("/api/"):
            return problem(error.code or 500, TITLES.get(error.code, error.name), error.description or "")
        if error.code in (403, 404):
            return render_template(f"errors/{error.code}.html"), error.code
        if error.code in (400, 405, 413, 429, 500):
            from flask_wtf.csrf import CSRFError

            return render_template("errors/error.html", error=error,
                                   csrf=isinstance(error, CSRFError)), error.code
        return error
