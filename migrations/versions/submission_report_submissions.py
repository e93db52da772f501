"""Half-year report submissions: a county's frozen report, its workbook, and the prefecture's decision.

Revision ID: submission_report_submissions
Revises: review_submitted_by
"""
import sqlalchemy as sa
from alembic import op

revision = "submission_report_submissions"
down_revision = "review_submitted_by"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("half", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.Enum("submitted", "accepted", "returned", name="submissionstatus",
                                    native_enum=False, create_constraint=False, length=32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("xlsx", sa.LargeBinary(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["region_code"], ["regions.code"]),
        sa.ForeignKeyConstraint(["submitted_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_code", "year", "half", "version", name="submission_version"),
    )
    with op.batch_alter_table("report_submissions") as batch:
        batch.create_index(batch.f("ix_report_submissions_region_code"), ["region_code"], unique=False)


def downgrade():
    with op.batch_alter_table("report_submissions") as batch:
        batch.drop_index(batch.f("ix_report_submissions_region_code"))
    op.drop_table("report_submissions")
