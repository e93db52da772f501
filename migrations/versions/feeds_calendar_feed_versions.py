"""calendar_feed_versions: each feed link's served version and its Last-Modified, shared by every worker

Revision ID: feeds_calendar_feed_versions
Revises: b7c1e5a2d9f0
Create Date: 2026-11-30 06:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'feeds_calendar_feed_versions'
down_revision = 'b7c1e5a2d9f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'calendar_feed_versions',
        sa.Column('feed', sa.String(length=200), nullable=False),
        sa.Column('validator', sa.String(length=64), nullable=False),
        sa.Column('last_modified', sa.DateTime(timezone=True), nullable=False),
        sa.Column('current_since', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('feed', name=op.f('pk_calendar_feed_versions')),
    )


def downgrade():
    op.drop_table('calendar_feed_versions')
