"""drills: the double-blind drills by their start (a partial index), so that whether one is still secret is
found among the few of them instead of by a scan of every drill

Revision ID: double_blind_start
Revises: exercise_design
Create Date: 2026-12-01 02:32:43.395933

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'double_blind_start'
down_revision = 'exercise_design'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.create_index(
            'ix_drills_double_blind_starts_at',
            ['starts_at'],
            unique=False,
            postgresql_where=sa.text('double_blind IS true'),
            sqlite_where=sa.text('double_blind IS 1'),
        )


def downgrade():
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.drop_index('ix_drills_double_blind_starts_at')
