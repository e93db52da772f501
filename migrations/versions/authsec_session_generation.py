"""users.session_generation: logging out, a new password or deactivation ends every session of the user

Revision ID: e4a1c9b2f7d3
Revises: feeds_calendar_feed_versions
Create Date: 2026-11-30 06:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'e4a1c9b2f7d3'
down_revision = 'feeds_calendar_feed_versions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("session_generation")
