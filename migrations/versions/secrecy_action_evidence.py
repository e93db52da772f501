"""Evidence on corrective actions: attachments may belong to an action

Revision ID: c4e8a1f37b20
Revises: series_occurrences_runs_mail
Create Date: 2026-11-30 07:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c4e8a1f37b20'
down_revision = 'series_occurrences_runs_mail'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('corrective_action_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_attachments_corrective_action_id'), ['corrective_action_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_attachments_corrective_action_id_corrective_actions'),
                                    'corrective_actions', ['corrective_action_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_attachments_corrective_action_id_corrective_actions'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_attachments_corrective_action_id'))
        batch_op.drop_column('corrective_action_id')
