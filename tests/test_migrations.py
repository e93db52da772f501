"""The migration history on a fresh database: upgrade, downgrade to base, upgrade again; no drift."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import TestConfig
from drillmgr import create_app
from drillmgr.audit.models import AuditEntry
from drillmgr.audit.services import AuditLogIsAppendOnly, record
from drillmgr.extensions import db


def schema_differences(engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "render_as_batch": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_downgrade_upgrade_on_a_fresh_database(fresh_database_url, tmp_path):
    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = fresh_database_url

    app = create_app(Config)
    with app.app_context():
        engine = db.engine
        upgrade()
        tables = set(sa.inspect(engine).get_table_names())
        assert {
            "regions",
            "organisations",
            "users",
            "drills",
            "participations",
            "reviews",
            "findings",
            "corrective_actions",
            "audit_log",
            "alembic_version",
        } <= tables
        assert schema_differences(engine) == [], "models and migrations disagree (flask db check)"
        with engine.connect() as connection:
            counties = connection.execute(
                sa.text("SELECT code, key_county FROM regions WHERE parent_code = '654200' ORDER BY code")
            ).all()
        assert [(c, bool(k)) for c, k in counties] == [
            ("654201", False),
            ("654202", True),
            ("654203", True),
            ("654221", False),
            ("654224", False),
            ("654225", False),
            ("654226", False),
        ]

        downgrade(revision="base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}

        upgrade()
        assert schema_differences(engine) == []
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT count(*) FROM regions")) == 8
        engine.dispose()


def test_one_head(app):
    from alembic.script import ScriptDirectory

    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_naming_convention_names_every_constraint(app):
    inspector = sa.inspect(db.session.connection())
    for table in ("organisations", "users", "drills"):
        assert inspector.get_pk_constraint(table)["name"] == f"pk_{table}" or db.engine.dialect.name == "sqlite"
        for fk in inspector.get_foreign_keys(table):
            assert fk["name"] and fk["name"].startswith(f"fk_{table}_"), fk


# --- the audit log is append-only ----------------------------------------------------------------


def test_audit_entries_cannot_be_changed(make_user):
    user = make_user()
    entry = record(user, "test.action", "thing", 1, None, {"a": 1})
    db.session.commit()
    entry.action = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()


def test_audit_entries_cannot_be_deleted(make_user):
    entry = record(make_user(), "test.action", "thing", 1)
    db.session.commit()
    db.session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(AuditEntry).values(action="rewritten"),
        sa.delete(AuditEntry),
    ],
)
def test_audit_log_refuses_bulk_statements(make_user, statement):
    record(make_user(), "test.action", "thing", 1)
    db.session.commit()
    with pytest.raises(AuditLogIsAppendOnly):
        db.session.execute(statement)
    db.session.rollback()
    assert db.session.scalar(sa.select(AuditEntry.action)) == "test.action"


def test_audit_records_who_what_when_before_after(client, make_user):
    from drillmgr.accounts.services import update_user
    from drillmgr.audit.services import entries_for
    from drillmgr.enums import Role

    admin = make_user(Role.ADMIN)
    target = make_user(Role.VIEWER, display_name="甲")
    with client.application.test_request_context():
        update_user(admin, target, {"display_name": "乙"})
    (entry,) = entries_for("user", target.id)
    assert entry.user_id == admin.id and entry.action == "user.update" and entry.at.tzinfo is not None
    assert entry.before["display_name"] == "甲" and entry.after["display_name"] == "乙"
    assert "password_hash" not in entry.after


def test_who_submitted_each_review_is_taken_from_the_audit_log(fresh_database_url):
    """review_submitted_by: the column is filled, for reviews already submitted, from their last submission."""
    from drillmgr.demo.services import seed_demo

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = fresh_database_url

    app = create_app(Config)
    with app.app_context():
        upgrade()
        seed_demo(drill_count=100)
        db.session.commit()
        query = sa.text("SELECT drill_id, submitted_by_id FROM reviews WHERE submitted_at IS NOT NULL ORDER BY 1")
        kept = db.session.execute(query).all()
        assert kept and all(user_id is not None for _, user_id in kept)
        db.session.remove()
        downgrade(revision="once_exactly_once")
        upgrade()
        assert db.session.execute(query).all() == kept
        db.session.remove()
        db.engine.dispose()
