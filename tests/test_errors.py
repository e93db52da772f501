"""Error answers: every web error page in the user's language with a way back, API problem titles in the
user's language, the error page after a database error, and 503 + Retry-After when the database is locked or a
statement runs too long (issue 10 item 9, issue 11's error pages) — on SQLite and on PostgreSQL."""

import io
import sqlite3
import threading
from datetime import timezone

import pytest
import sqlalchemy as sa

from drillmgr.db import configure_sessions
from drillmgr.enums import Role
from drillmgr.extensions import db
from tests.conftest import SHAWAN, WUSU, login, token_for
from tests.conftest import assert_problem

REFERER = {"Referer": "http://localhost/drills/"}


def page(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="errors-admin")


def is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


# --- web error pages ---------------------------------------------------------------------------------


def test_404_page_is_chinese_with_a_way_back_and_home(client, admin):
    login(client, admin)
    response = client.get("/no-such-page", headers=REFERER)
    assert response.status_code == 404
    html = page(response)
    assert "未找到" in html and "页面不存在，或您无权查看。" in html
    assert 'id="error-back" href="http://localhost/drills/"' in html and 'id="error-home" href="/"' in html


def test_error_page_in_english_when_chosen(client, admin):
    login(client, admin)
    client.post("/language", data={"lang": "en"})
    html = page(client.get("/no-such-page"))
    assert "Not found" in html and "This page does not exist" in html and "未找到" not in html


def test_a_referrer_of_another_site_is_no_way_back(client, admin):
    login(client, admin)
    html = page(client.get("/no-such-page", headers={"Referer": "https://evil.example/x"}))
    assert "evil.example" not in html and 'id="error-home"' in html


def test_405_page_has_allow_header_and_chinese_text(client):
    response = client.put("/login")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
    assert "不支持该请求方式" in page(response)


def test_403_page_is_chinese(client, make_user):
    login(client, make_user(Role.COORDINATOR, region_code=WUSU))
    response = client.get(f"/compliance/?region={SHAWAN}")
    assert response.status_code == 403
    assert "无权操作" in page(response) and 'id="error-home"' in page(response)


def test_csrf_failure_is_a_chinese_400_page(app, client, admin, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = client.post("/login", data={"username": "x", "password": "y"}, headers=REFERER)
    assert response.status_code == 400
    assert "表单已过期" in page(response) or "请求有误" in page(response)
    assert 'id="error-back"' in page(response)


def test_over_size_upload_goes_back_with_a_message(app, client, admin, make_drill, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    drill = make_drill()
    login(client, admin)
    referer = {"Referer": f"http://localhost/drills/{drill.id}"}
    response = client.post(
        f"/drills/{drill.id}/attachments", data={"file": (io.BytesIO(b"x" * 4096), "a.pdf")}, headers=referer
    )
    assert response.status_code == 303 and response.headers["Location"] == f"http://localhost/drills/{drill.id}"
    assert "文件过大" in page(client.get(f"/drills/{drill.id}"))


def test_over_size_upload_without_a_referrer_is_a_413_page(app, client, admin, make_drill, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1024)
    drill = make_drill()
    login(client, admin)
    response = client.post(f"/drills/{drill.id}/attachments", data={"file": (io.BytesIO(b"x" * 4096), "a.pdf")})
    assert response.status_code == 413 and "提交的内容过大" in page(response)


def test_500_page_renders_after_a_database_error(app, client, admin, monkeypatch):
    """On PostgreSQL the failed statement aborts the transaction; the page's own queries (the bell's count,
    the menu) then failed too and the user got a bare 500. The handler rolls back first."""
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    login(client, admin)

    def broken(*args, **kwargs):
        db.session.execute(sa.text("SELECT * FROM no_such_table"))

    monkeypatch.setattr("drillmgr.orgs.services.org_query", broken)
    response = client.get("/orgs/")
    assert response.status_code == 500
    html = page(response)
    assert "系统出现错误，请稍后再试。" in html and 'id="logout"' in html, "the full page, with its menu"


# --- API problems ------------------------------------------------------------------------------------


def test_api_titles_follow_the_language(client):
    body = assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["title"] == "未找到" and "Not Found" not in body["detail"]
    body = assert_problem(client.get("/api/v1/no-such-thing", headers={"Accept-Language": "en"}), 404)
    assert body["title"] == "Not found"
    body = assert_problem(client.post("/api/v1/auth/token", json={"username": "nobody", "password": "x"}), 401)
    assert body["title"] == "未登录"


def test_api_405_has_allow_header(client):
    response = client.delete("/api/v1/me")
    assert_problem(response, 405)
    assert sorted(response.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]


# --- database timeouts --------------------------------------------------------------------------------


def test_connections_carry_the_configured_timeouts(app):
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "5s"
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "20s"
        else:
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_timestamps_come_back_in_datetimes_own_utc(app, make_drill):
    """PostgreSQL sessions talk UTC, so psycopg's timestamps carry datetime.timezone.utc (the server's own
    'Etc/UTC' came back as a ZoneInfo) and UTCDateTime hands them on as they are."""
    drill = make_drill()
    db.session.expire(drill)
    assert drill.starts_at.tzinfo is timezone.utc
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            assert connection.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"
            assert connection.exec_driver_sql("SELECT now()").scalar().tzinfo is timezone.utc


@pytest.fixture
def table_lock(app):
    """Another connection holds an exclusive lock on `drills`, as a long migration or a stuck session would."""
    if not is_postgresql():
        pytest.skip("PostgreSQL's table locks; SQLite has its own test below")
    engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    connection = engine.connect()
    connection.exec_driver_sql("SET lock_timeout = '2s'")
    connection.exec_driver_sql("LOCK TABLE drills IN ACCESS EXCLUSIVE MODE")
    db.session.execute(sa.text("SET lock_timeout = '300ms'"))  # this test's connection: fail fast
    yield
    connection.rollback()
    connection.close()
    engine.dispose()


def test_a_locked_table_is_a_503_with_retry_after_on_the_api(client, admin, table_lock):
    response = client.get("/api/v1/drills", headers=token_for(client, admin))
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"
    assert body["title"] == "暂时无法服务" and body["detail"] == "数据库繁忙，请几秒钟后再试。"


def test_a_locked_table_is_a_503_page_and_login_still_works(client, admin, table_lock):
    assert client.get("/login").status_code == 200
    login(client, admin)
    response = client.get("/drills/")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "数据库繁忙，请几秒钟后再试。" in page(response)


def test_a_statement_over_the_limit_is_a_503(client, admin, monkeypatch):
    if not is_postgresql():
        pytest.skip("statement_timeout is PostgreSQL's")
    db.session.execute(sa.text("SET statement_timeout = '200ms'"))
    monkeypatch.setattr(
        "drillmgr.regions.api.all_regions", lambda *a, **k: db.session.execute(sa.text("SELECT pg_sleep(2)")) and []
    )
    response = client.get("/api/v1/regions", headers=token_for(client, admin))
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"


def test_sqlite_database_is_locked_is_a_503(client, admin, tmp_path, monkeypatch):
    """SQLite's equivalent: another connection holds the database file's write lock past the busy timeout."""
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(f"sqlite:///{path}")
    configure_sessions(engine, {"DB_LOCK_TIMEOUT_MS": 100, "DB_STATEMENT_TIMEOUT_MS": 0})

    def write(*args, **kwargs):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")

    monkeypatch.setattr("drillmgr.regions.api.all_regions", write)
    try:
        response = client.get("/api/v1/regions", headers=token_for(client, admin))
    finally:
        holder.close()
        engine.dispose()
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "5"


def test_sqlite_busy_timeout_waits_for_a_short_lock(tmp_path):
    """Within the busy timeout a writer waits for the lock instead of failing at once."""
    path = tmp_path / "short.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    configure_sessions(engine, {"DB_LOCK_TIMEOUT_MS": 3000, "DB_STATEMENT_TIMEOUT_MS": 0})
    release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    release.start()
    with engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    release.join()
    holder.close()
    engine.dispose()
