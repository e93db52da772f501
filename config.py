"""Settings classes, read from the environment."""
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("DRILLMGR_INSTANCE", BASE_DIR / "instance"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def development_secret_key() -> str:
    """A generated key kept under instance/, so sessions survive restarts in development."""
    path = INSTANCE_DIR / "dev-secret-key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'drillmgr.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Longest wait for a row or table lock (PostgreSQL; SQLite: for the locked database file) and longest
    # statement (PostgreSQL), in milliseconds; then the request answers 503 with Retry-After. Keep the
    # statement limit below gunicorn's --timeout (30 s by default). 0: no limit.
    DB_LOCK_TIMEOUT_MS = int(os.environ.get("DRILLMGR_DB_LOCK_TIMEOUT_MS", 5000))
    DB_STATEMENT_TIMEOUT_MS = int(os.environ.get("DRILLMGR_DB_STATEMENT_TIMEOUT_MS", 20000))
    DRILLMGR_TIMEZONE = os.environ.get("DRILLMGR_TIMEZONE", "Asia/Shanghai")
    DRILLMGR_HOST = os.environ.get("DRILLMGR_HOST", "drillmgr.local")
    # The address users reach the site at (e.g. https://drills.example.cn). Unset, pages and API answers
    # link to the address each request came to (through DRILLMGR_PROXY_COUNT proxies); mails, written
    # with no request of the reader's at hand, link to this machine at PORT, as `make run` serves it.
    DRILLMGR_BASE_URL = os.environ.get("DRILLMGR_BASE_URL") or f"http://127.0.0.1:{os.environ.get('PORT') or 5000}"
    DRILLMGR_LINKS_FROM_REQUEST = not os.environ.get("DRILLMGR_BASE_URL")
    DRILLMGR_CALENDAR_DIR = os.environ.get("DRILLMGR_CALENDAR_DIR", str(BASE_DIR / "calendars"))
    UPLOAD_DIR = os.environ.get("DRILLMGR_UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
    MAX_ATTACHMENT_BYTES = int(os.environ.get("DRILLMGR_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024))
    MAX_CONTENT_LENGTH = MAX_ATTACHMENT_BYTES + 1024 * 1024

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = DRILLMGR_TIMEZONE
    LANGUAGES = {"zh_CN": "简体中文", "en": "English"}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Keeps the counts of several installations (or test runs) apart in one Redis.
    RATELIMIT_KEY_PREFIX = os.environ.get("RATELIMIT_KEY_PREFIX", "drillmgr")
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # How many reverse proxies (nginx…) stand in front and set X-Forwarded-For/-Proto/-Host; 0 for none.
    PROXY_COUNT = int(os.environ.get("DRILLMGR_PROXY_COUNT", "0"))

    SMTP_HOST = os.environ.get("SMTP_HOST", "")
    SMTP_PORT = os.environ.get("SMTP_PORT", "25")
    SMTP_TLS = os.environ.get("SMTP_TLS", "none")
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_FROM = os.environ.get("SMTP_FROM", "drillmgr@localhost")
    SMTP_RETRY_SECONDS = os.environ.get("SMTP_RETRY_SECONDS", "60")

    # Days either side of 12 May, 28 July and 13 October within which a campaign counts, unless that
    # year's observance-campaigns compliance rule sets its own window_days.
    OUTREACH_OBSERVANCE_WINDOW_DAYS = int(os.environ.get("DRILLMGR_OBSERVANCE_WINDOW_DAYS", 3))
    # Rendered feeds and events, kept compliance results: shared by every worker and machine, in Redis when
    # this is set (e.g. redis://127.0.0.1:6379/0), else in the database (table cache_entries).
    DRILLMGR_CACHE_REDIS_URL = os.environ.get("DRILLMGR_CACHE_REDIS_URL") or os.environ.get("REDIS_URL", "")
    DRILLMGR_CACHE_PREFIX = os.environ.get("DRILLMGR_CACHE_PREFIX", "drillmgr")
    DRILLMGR_CACHE_TTL_SECONDS = int(os.environ.get("DRILLMGR_CACHE_TTL_SECONDS", 30 * 24 * 3600))
    DRILLMGR_CACHE_MAX_BYTES = int(os.environ.get("DRILLMGR_CACHE_MAX_BYTES", 512 * 1024 * 1024))
    # Longest time a kept compliance result is served when nothing changed (changes are seen at once):
    # what the clock alone changes (a period ending, a warning window opening) shows within this.
    COMPLIANCE_KEPT_SECONDS = int(os.environ.get("DRILLMGR_COMPLIANCE_KEPT_SECONDS", 60))
    SCHEDULER_LEASE_SECONDS = int(os.environ.get("SCHEDULER_LEASE_SECONDS", 30))
    # Overrides of the job schedules, e.g. "send_mail=every 10s;compliance=daily 03:00;publish_calendars=off"
    SCHEDULER_SCHEDULE = os.environ.get("SCHEDULER_SCHEDULE", "")


class DevelopmentConfig(Config):
    GENERATE_SECRET_KEY = True


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = True
    LOGIN_RATE_LIMIT = "5 per minute"
    DRILLMGR_HOST = "drillmgr.test"
    DRILLMGR_BASE_URL = "http://localhost"
    DRILLMGR_LINKS_FROM_REQUEST = True
    DRILLMGR_CACHE_REDIS_URL = ""  # the database store; tests of the Redis store set it themselves
