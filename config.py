"""Settings: the defaults. Each one is set in the environment as DRILLMGR_<its name> (e.g. DRILLMGR_SMTP_HOST),
read by create_app (drillmgr/settings.py) after these classes; None means "worked out when the app starts"."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


class Config:
    READ_ENVIRONMENT = True
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: instance/drillmgr.sqlite3
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Longest wait for a row or table lock (PostgreSQL; SQLite: for the locked database file) and longest
    # statement (PostgreSQL), in milliseconds; then the request answers 503 with Retry-After. Keep the
    # statement limit below gunicorn's --timeout (30 s by default). 0: no limit.
    DB_LOCK_TIMEOUT_MS = 5000
    DB_STATEMENT_TIMEOUT_MS = 20000
    TIMEZONE = "Asia/Shanghai"
    HOST = "drillmgr.local"
    # The address users reach the site at (e.g. https://drills.example.cn). Unset, pages and API answers
    # link to the address each request came to (through PROXY_COUNT proxies); mails, written with no
    # request of the reader's at hand, link to this machine at $PORT, as `make run` serves it.
    BASE_URL: str | None = None
    LINKS_FROM_REQUEST: bool | None = None  # None: when BASE_URL is unset
    CALENDAR_DIR = str(BASE_DIR / "calendars")
    UPLOAD_DIR: str | None = None  # None: instance/uploads
    MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # MAX_CONTENT_LENGTH is this plus 1 MiB

    BABEL_DEFAULT_LOCALE = "zh_CN"
    LANGUAGES = {"zh_CN": "简体中文", "en": "English"}

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # REMEMBER_COOKIE_SECURE follows it
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None

    RATELIMIT_STORAGE_URI = "memory://"
    # Keeps the counts of several installations (or test runs) apart in one Redis.
    RATELIMIT_KEY_PREFIX = "drillmgr"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute"
    # How many reverse proxies (nginx…) stand in front and set X-Forwarded-For/-Proto/-Host; 0 for none.
    PROXY_COUNT = 0

    SMTP_HOST = ""
    SMTP_PORT = "25"
    SMTP_TLS = "none"
    SMTP_USERNAME = ""
    SMTP_PASSWORD = ""
    SMTP_FROM = "drillmgr@localhost"
    SMTP_RETRY_SECONDS = "60"

    # Days either side of 12 May, 28 July and 13 October within which a campaign counts, unless that
    # year's observance-campaigns compliance rule sets its own window_days.
    OUTREACH_OBSERVANCE_WINDOW_DAYS = 3
    # Rendered feeds and events, kept compliance results: shared by every worker and machine, in Redis when
    # this is set (e.g. redis://127.0.0.1:6379/0), else in the database (table cache_entries).
    CACHE_REDIS_URL = ""
    CACHE_PREFIX = "drillmgr"
    CACHE_TTL_SECONDS = 30 * 24 * 3600
    CACHE_MAX_BYTES = 512 * 1024 * 1024
    # Longest time a kept compliance result is served when nothing changed. Changes made through the app are
    # seen at once and what the clock alone changes (a period ending, a deadline passing) when it does: this
    # bounds how long a write that goes around the app (SQL by hand) stays unseen.
    COMPLIANCE_KEPT_SECONDS = 900
    SCHEDULER_LEASE_SECONDS = 30
    # Overrides of the job schedules, e.g. "send_mail=every 10s;compliance=daily 03:00;publish_calendars=off"
    SCHEDULER_SCHEDULE = ""


class DevelopmentConfig(Config):
    GENERATE_SECRET_KEY = True


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True


class TestConfig(Config):
    READ_ENVIRONMENT = False  # the tests' settings are these, whatever the shell running them has set
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = "sqlite://"  # tests/conftest.py: TEST_DATABASE_URL, or a SQLite file
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = True
    LOGIN_RATE_LIMIT = "5 per minute"
    HOST = "drillmgr.test"
    BASE_URL = "http://localhost"
    LINKS_FROM_REQUEST = True
    CACHE_REDIS_URL = ""  # the database store; tests of the Redis store set it themselves
