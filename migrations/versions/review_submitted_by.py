"""Who submitted a review is kept on the review (it was read from the audit log).

Revision ID: review_submitted_by
Revises: once_exactly_once
Create Date: 2026-11-30 09:46:50.874309

"""
from alembic import op
import sqlalchemy as sa


revision = 'review_submitted_by'
down_revision = 'once_exactly_once'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_reviews_submitted_by_id_users'), 'users', ['submitted_by_id'], ['id'])
    # The last submission of each review, as the audit log recorded it.
    op.execute(sa.text(
        "UPDATE reviews SET submitted_by_id = ("
        " SELECT a.user_id FROM audit_log a WHERE a.entity_type = 'review' AND a.action = 'review.submit'"
        " AND a.entity_id = CAST(reviews.drill_id AS VARCHAR(64)) ORDER BY a.at DESC, a.id DESC LIMIT 1)"
        " WHERE submitted_at IS NOT NULL"))


def downgrade():
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reviews_submitted_by_id_users'), type_='foreignkey')
        batch_op.drop_column('submitted_by_id')
