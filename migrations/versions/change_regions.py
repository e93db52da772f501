"""compliance_changes.region_codes: the regions each commit's changes are held in, so that a county's totals kept
region by region are brought up to date by counting those regions' drills again rather than the county's

Revision ID: change_regions
Revises: region_starts_covering
Create Date: 2026-12-02 22:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'change_regions'
down_revision = 'region_starts_covering'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: a note made before this column was written says nothing of its regions (counted again whole).
    with op.batch_alter_table('compliance_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_codes', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('compliance_changes', schema=None) as batch_op:
        batch_op.drop_column('region_codes')
