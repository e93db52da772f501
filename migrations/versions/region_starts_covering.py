"""drills: by region and start, covering what a county's year of drills is counted by (status, end, completion),
in place of the index by region alone, so that the first view after a change reads a county's drills from the
index instead of scanning every county's

Revision ID: region_starts_covering
Revises: county_changes
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'region_starts_covering'
down_revision = 'county_changes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.create_index(
            'ix_drills_region_code_starts_at',
            ['region_code', 'starts_at'],
            unique=False,
            postgresql_include=['status', 'ends_at', 'completed_at', 'double_blind', 'id'],
        )
        batch_op.drop_index('ix_drills_region_code')


def downgrade():
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.create_index('ix_drills_region_code', ['region_code'], unique=False)
        batch_op.drop_index('ix_drills_region_code_starts_at')
