"""Fixtures: one app per test run, a clean transaction per test, and factories for the domain."""

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from itertools import count

import pytest
import sqlalchemy as sa
from flask import g, request_started
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

from config import TestConfig
from drillmgr import create_app
from drillmgr.localtime import to_local
from drillmgr.accounts.models import User, new_feed_secret
from drillmgr.drills.models import Drill
from drillmgr.enums import DrillForm, DrillScope, DrillStatus, OrgKind, RegionLevel, Role
from drillmgr.extensions import db, limiter
from drillmgr.orgs.models import Organisation
from drillmgr.regions.models import Region
from drillmgr.regions.services import add_region, ensure_tacheng

PASSWORD = "correct-horse-battery"
# The test users' hash is scrypt at 1/32 of the app's work factor: most tests log in first, and each check at the
# app's cost (scrypt:32768) took about 0.1 s of CPU. Passwords set through the app keep its cost (test_accounts_views).
PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")
WUSU, SHAWAN, TACHENG_CITY, PREFECTURE = "654202", "654203", "654201", "654200"
# Whether this run of make test is its PostgreSQL run (.ci/run runs both): tests of real processes or commands
# on one database engine check the run's own engine, not both twice.
ON_POSTGRESQL = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


HEAVY_TEST_WEIGHT = 20  # a browser or process test takes about as long as twenty others


def pytest_collection_modifyitems(config, items) -> None:
    """The heaviest files first (browser and process tests count HEAVY_TEST_WEIGHT each), each file's tests in
    their own order. pytest-xdist hands out whole files in this order (make test: --dist loadfile
    --no-loadscope-reorder), so the quick files fill in around the long ones: handed out by their number of
    tests, the phone pages' file (six tests of about a minute) came last and kept one worker busy for minutes
    after the other had finished."""
    weight: Counter = Counter()
    for item in items:
        heavy = item.get_closest_marker("browser") or item.get_closest_marker("slow")
        weight[item.path] += HEAVY_TEST_WEIGHT if heavy else 1
    items.sort(key=lambda item: -weight[item.path])


def pytest_configure(config) -> None:
    """Under pytest-xdist each worker gets a PostgreSQL database of its own (test_gw0, test_gw1, …): the
    suite empties and migrates its database, and the live servers' databases are named after it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = os.environ.get("TEST_DATABASE_URL", "")
    if not worker or not base.startswith("postgresql"):
        return
    url = make_url(base)
    name = f"{url.database}_{worker}"
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        if not connection.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()
    os.environ["TEST_DATABASE_URL"] = url.set(database=name).render_as_string(hide_password=False)


def database_url(tmp_path_factory) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def drop_everything(engine) -> None:
    """Leaves an empty database, so the migrations run from scratch."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        metadata.drop_all(connection)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("instance")

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = database_url(tmp_path_factory)
        CALENDAR_DIR = str(folder / "calendars")
        UPLOAD_DIR = str(folder / "uploads")

    os.environ["DRILLMGR_INSTANCE"] = str(folder)
    application = create_app(Config)
    # Each test keeps an app context pushed, and Flask reuses it (and its `g`) for every client request;
    # give each request a fresh `g` as a server does, or one request's locale or user leaks into the next.
    request_started.connect(_fresh_g, application)
    with application.app_context():
        drop_everything(db.engine)
        upgrade()
        if db.engine.dialect.name == "sqlite":
            _sqlite_savepoints(db.engine)
    return application


def _fresh_g(sender, **extra) -> None:
    for key in list(g):
        g.pop(key)


def _sqlite_savepoints(engine) -> None:
    """pysqlite handles BEGIN itself and breaks SAVEPOINT; let SQLAlchemy emit it (SQLAlchemy docs recipe)."""
    engine.dispose()

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")


class ConnectionSession(FlaskSession):
    """Flask-SQLAlchemy's session, but bound to the test's connection instead of the engine."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return self.bind


@pytest.fixture(autouse=True)
def _transaction(app):
    """Every test runs inside one transaction that is rolled back at its end."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        shared_session = db.session
        db.session = db._make_scoped_session(
            {"bind": connection, "join_transaction_mode": "create_savepoint", "class_": ConnectionSession}
        )
        limiter.reset()
        try:
            ensure_tacheng()
            yield
        finally:
            db.session.remove()
            outer.rollback()
            connection.close()
            db.session = shared_session


@pytest.fixture
def english(app, _transaction):
    """Messages are translated for a request's locale; tests that read them in English use this
    (`pytestmark = pytest.mark.usefixtures("english")`)."""
    with app.test_request_context("/api/v1/", headers={"Accept-Language": "en"}):
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


_serial = count(1)


def _free_child_code(parent_code: str) -> str:
    """The next unused three-digit child code, so codes stay within the national 12 digits."""
    number = 1 + db.session.scalar(
        sa.select(sa.func.count()).select_from(Region).where(Region.parent_code == parent_code)
    )
    while db.session.get(Region, f"{parent_code}{number:03d}") is not None:
        number += 1
    return f"{parent_code}{number:03d}"


@pytest.fixture
def make_region():
    def make(code=None, name=None, parent_code=WUSU, level=RegionLevel.TOWNSHIP):
        parent = db.session.get(Region, parent_code)
        code = code or _free_child_code(parent_code)
        region = add_region(code, name or f"测试乡镇{code}", level, parent)
        db.session.flush()
        return region

    return make


@pytest.fixture
def make_org():
    def make(name=None, kind=OrgKind.SCHOOL, region_code=WUSU, headcount=500, **fields):
        org = Organisation(
            name=name or f"测试单位{next(_serial)}", kind=kind, region_code=region_code, headcount=headcount, **fields
        )
        db.session.add(org)
        db.session.commit()
        return org

    return make


@pytest.fixture
def make_user():
    def make(role=Role.ORG_STAFF, region_code=None, org=None, username=None, email=None, **fields):
        if role in (Role.COORDINATOR, Role.VIEWER) and region_code is None:
            region_code = WUSU
        user = User(
            username=username or f"user{next(_serial)}",
            role=role,
            region_code=region_code if role in (Role.COORDINATOR, Role.VIEWER) else None,
            org_id=org.id if org is not None else None,
            email=email,
            feed_secret=new_feed_secret(),
            **fields,
        )
        user.password_hash = PASSWORD_HASH
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_readers(make_user):
    """One reader of compliance per kind of access to secret drills: an admin, Wusu's coordinator and viewer, a
    unit's staff and `evaluator`."""

    def make(unit, evaluator):
        return [
            make_user(role=Role.ADMIN),
            make_user(role=Role.COORDINATOR, region_code=WUSU),
            make_user(role=Role.VIEWER, region_code=WUSU),
            make_user(role=Role.ORG_STAFF, org=unit),
            evaluator,
        ]

    return make


def at(days: float = 0, hours: float = 0) -> datetime:
    """A moment relative to now, in UTC."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=days, hours=hours)


def local_day(days: int = 0) -> date:
    """A day relative to today in Beijing (the days of due dates, findings and filters), which is
    tomorrow's UTC date from 16:00 UTC on: never `at(...).date()`."""
    return to_local(at(days=days)).date()


@pytest.fixture
def make_drill():
    def make(
        organizer=None,
        region_code=None,
        starts_at=None,
        minutes=60,
        form=DrillForm.EVACUATION,
        scope=DrillScope.SINGLE,
        title=None,
        participants=(),
        evaluators=(),
        focus=(),
        **fields,
    ):
        starts_at = starts_at or at(days=7)
        organizer_fields = (
            {"organizer_org_id": organizer.id}
            if isinstance(organizer, Organisation)
            else {"organizer_region_code": organizer or region_code or WUSU}
        )
        if region_code is None:
            region_code = organizer.region_code if isinstance(organizer, Organisation) else (organizer or WUSU)
        drill = Drill(
            title=title or f"测试演练{next(_serial)}",
            form=form,
            scope=scope,
            region_code=region_code,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=minutes),
            status=fields.pop("status", DrillStatus.PLANNED),
            **organizer_fields,
            **fields,
        )
        drill.participants = list(participants)
        drill.evaluators = list(evaluators)
        drill.focus = list(focus)
        db.session.add(drill)
        db.session.commit()
        return drill

    return make


def login(client, user, password=PASSWORD):
    return client.post("/login", data={"username": user.username, "password": password})


def issue_kept_token(user) -> str:
    """An API token issued as by its own request, which kept it: a later request that is refused rolls back
    only itself, not the token (the test is the unit of work here)."""
    from drillmgr.accounts.services import issue_token

    token = issue_token(user)
    db.session.commit()
    return token


def token_for(client, user, password=PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": user.username, "password": password})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


@contextmanager
def statements_sent(containing: str = "") -> Iterator[list[str]]:
    """The statements sent to the database within the block (those containing `containing`)."""
    statements: list[str] = []

    def remember(conn, cursor, statement, *args):
        if containing in statement:
            statements.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)


def count_statements(client, url) -> int:
    """The statements a GET of `url` sends (it must answer 200)."""
    with statements_sent() as statements:
        assert client.get(url).status_code == 200
    return len(statements)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    return body


@pytest.fixture
def fresh_database_url(tmp_path):
    """A brand-new empty database: a SQLite file, or a temporary database on TEST_DATABASE_URL's server."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"drillmgr_migrations_{uuid.uuid4().hex[:12]}"
    server = sa.create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def planner_statistics_of(table: str) -> int:
    """Rows of the planner's statistics about `table` (SQLite's sqlite_stat1, PostgreSQL's pg_statistic)."""
    if db.engine.dialect.name == "sqlite":
        return db.session.scalar(sa.text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = :t"), {"t": table})
    return db.session.scalar(
        sa.text("SELECT count(*) FROM pg_statistic WHERE starelid = CAST(:t AS regclass)"), {"t": table}
    )
