"""cache_entries and cache_generations: rendered feeds and kept compliance results shared by every worker;
drills indexed by (ends_at, starts_at) for the lists of drills running from a date

Revision ID: speed_shared_cache
Revises: drillday_groups
Create Date: 2026-11-30 09:50:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'speed_shared_cache'
down_revision = 'drillday_groups'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cache_entries',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('tag', sa.String(length=64), nullable=False),
        sa.Column('value', sa.LargeBinary(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_cache_entries')),
    )
    with op.batch_alter_table('cache_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cache_entries_stored_at'), ['stored_at'], unique=False)
    generations = op.create_table(
        'cache_generations',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('value', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_cache_generations')),
    )
    op.bulk_insert(generations, [{'name': 'compliance', 'value': 0}, {'name': 'regions', 'value': 0}])
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.create_index('ix_drills_ends_at', ['ends_at', 'starts_at'], unique=False)


def downgrade():
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.drop_index('ix_drills_ends_at')
    with op.batch_alter_table('cache_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cache_entries_stored_at'))
    op.drop_table('cache_entries')
    op.drop_table('cache_generations')
