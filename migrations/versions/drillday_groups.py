"""Units' groups (班级/年级/病区/楼层) with expected headcounts, the roll call per group at a drill, and the
one-time keys of drill-day records sent from phones, and the notes taken during a drill.

Revision ID: drillday_groups
Revises: submission_report_submissions
"""
import sqlalchemy as sa
from alembic import op

revision = "drillday_groups"
down_revision = "submission_report_submissions"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("participations") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "org_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("expected >= 0", name=op.f("ck_org_groups_group_expected_not_negative")),
        sa.ForeignKeyConstraint(["org_id"], ["organisations.id"], name=op.f("fk_org_groups_org_id_organisations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_groups")),
        sa.UniqueConstraint("org_id", "name", name="org_group_name"),
    )
    with op.batch_alter_table("org_groups") as batch:
        batch.create_index(batch.f("ix_org_groups_org_id"), ["org_id"], unique=False)
    op.create_table(
        "participation_groups",
        sa.Column("drill_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.CheckConstraint("present >= 0", name=op.f("ck_participation_groups_group_present_not_negative")),
        sa.CheckConstraint("missing >= 0", name=op.f("ck_participation_groups_group_missing_not_negative")),
        sa.ForeignKeyConstraint(["drill_id"], ["participations.drill_id"],
                                name=op.f("fk_participation_groups_drill_id_participations"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["org_groups.id"],
                                name=op.f("fk_participation_groups_group_id_org_groups"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("drill_id", "position", name=op.f("pk_participation_groups")),
    )
    with op.batch_alter_table("participation_groups") as batch:
        batch.create_index(batch.f("ix_participation_groups_group_id"), ["group_id"], unique=False)
    op.create_table(
        "drillday_submissions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["drill_id"], ["drills.id"], name=op.f("fk_drillday_submissions_drill_id_drills"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_drillday_submissions_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_drillday_submissions")),
    )
    with op.batch_alter_table("drillday_submissions") as batch:
        batch.create_index(batch.f("ix_drillday_submissions_user_id"), ["user_id"], unique=False)


def downgrade():
    op.drop_table("drillday_submissions")
    op.drop_table("participation_groups")
    op.drop_table("org_groups")
    with op.batch_alter_table("participations") as batch:
        batch.drop_column("notes")
