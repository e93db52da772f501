"""compliance_changes: what each commit changed of a county's compliance (the units its changes reached), so that
a county's kept result is brought up to date by evaluating those units again rather than the whole county

Revision ID: county_changes
Revises: double_blind_start
Create Date: 2026-12-01 04:49:57.746612

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'county_changes'
down_revision = 'double_blind_start'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('compliance_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=12), nullable=False),
    sa.Column('generation_from', sa.BigInteger(), nullable=False),
    sa.Column('generation_to', sa.BigInteger(), nullable=False),
    sa.Column('org_ids', sa.JSON(), nullable=False),
    sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_changes'))
    )
    with op.batch_alter_table('compliance_changes', schema=None) as batch_op:
        batch_op.create_index('ix_compliance_changes_county', ['county_code', 'generation_to'], unique=False)
        batch_op.create_index(batch_op.f('ix_compliance_changes_made_at'), ['made_at'], unique=False)



def downgrade():
    with op.batch_alter_table('compliance_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compliance_changes_made_at'))
        batch_op.drop_index('ix_compliance_changes_county')

    op.drop_table('compliance_changes')
