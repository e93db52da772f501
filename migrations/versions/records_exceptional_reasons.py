"""The reason a user gave when confirming exceptional numbers: a drill's participation, an activity's audience.

Revision ID: records_exceptional
Revises: e4a1c9b2f7d3
"""
import sqlalchemy as sa
from alembic import op

revision = "records_exceptional"
down_revision = 'e4a1c9b2f7d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("participations") as batch:
        batch.add_column(sa.Column("exceptional_reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("outreach_activities") as batch:
        batch.add_column(sa.Column("exceptional_reason", sa.Text(), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("outreach_activities") as batch:
        batch.drop_column("exceptional_reason")
    with op.batch_alter_table("participations") as batch:
        batch.drop_column("exceptional_reason")
