"""The settings of a starting app: config.py's defaults, then the environment's DRILLMGR_<NAME> variables
(app.config.from_prefixed_env), then what follows from them (the SQLite file, the upload folder…)."""

import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Config, Flask

PREFIX = "DRILLMGR"
# The names read before one prefix was the rule; each still works for this release, with a warning.
_UNPREFIXED = (
    "SECRET_KEY",
    "SESSION_COOKIE_SECURE",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX",
    "LOGIN_RATE_LIMIT",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_TLS",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_FROM",
    "SMTP_RETRY_SECONDS",
    "SCHEDULER_LEASE_SECONDS",
    "SCHEDULER_SCHEDULE",
)
OLD_NAMES = {name: name for name in _UNPREFIXED} | {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "CACHE_REDIS_URL",
    "DRILLMGR_OBSERVANCE_WINDOW_DAYS": "OUTREACH_OBSERVANCE_WINDOW_DAYS",
}
TRUE_WORDS = {"1", "true", "yes", "on"}
# Settings whose default is None, so their type cannot be read from it.
TYPES_OF_UNSET: dict[str, type] = {"LINKS_FROM_REQUEST": bool}

log = logging.getLogger(__name__)
_warned: set[str] = set()


def configure(app: Flask) -> None:
    """Reads the environment (unless the config class says not to) and works out the derived settings."""
    if app.config.get("READ_ENVIRONMENT"):
        defaults = dict(app.config)
        _read_old_names(app.config)
        app.config.from_prefixed_env(PREFIX, loads=str)
        _give_types(app.config, defaults)
    _derive(app)


def env_name(key: str) -> str:
    return f"{PREFIX}_{key}"


def _read_old_names(config: Config) -> None:
    for old, key in OLD_NAMES.items():
        new = env_name(key)
        if old in os.environ and new not in os.environ:
            if old not in _warned:
                _warned.add(old)
                log.warning("The environment variable %s is read for this release only: set %s instead.", old, new)
            config[key] = os.environ[old]


def _give_types(config: Config, defaults: dict[str, Any]) -> None:
    """The environment gives text: a setting whose default is a number or a yes/no gets one."""
    for key, value in config.items():
        if not isinstance(value, str):
            continue
        kind: type = TYPES_OF_UNSET.get(key) or type(defaults.get(key))
        if kind is bool:
            config[key] = value.strip().lower() in TRUE_WORDS
        elif kind is int:
            try:
                config[key] = int(value)
            except ValueError:
                raise RuntimeError(f"{env_name(key)} must be a whole number, not {value!r}") from None


def _derive(app: Flask) -> None:
    config, instance = app.config, Path(app.instance_path)
    config["SQLALCHEMY_DATABASE_URI"] = (
        config.get("SQLALCHEMY_DATABASE_URI") or f"sqlite:///{instance / 'drillmgr.sqlite3'}"
    )
    config["UPLOAD_DIR"] = config.get("UPLOAD_DIR") or str(instance / "uploads")
    config["MAX_CONTENT_LENGTH"] = config["MAX_ATTACHMENT_BYTES"] + 1024 * 1024
    config["BABEL_DEFAULT_TIMEZONE"] = config["TIMEZONE"]
    if config.get("LINKS_FROM_REQUEST") is None:
        config["LINKS_FROM_REQUEST"] = not config.get("BASE_URL")
    # Without a configured address, mails link to this machine at the port `make run` serves.
    config["BASE_URL"] = config.get("BASE_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 5000}"
    config.setdefault("REMEMBER_COOKIE_SECURE", config["SESSION_COOKIE_SECURE"])
    if not config.get("SECRET_KEY"):
        if not config.get("GENERATE_SECRET_KEY"):
            raise RuntimeError(f"SECRET_KEY must be set in the environment ({env_name('SECRET_KEY')})")
        config["SECRET_KEY"] = development_secret_key(instance)


def development_secret_key(instance: Path) -> str:
    """A generated key kept under instance/, so sessions survive restarts in development."""
    path = instance / "dev-secret-key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()
