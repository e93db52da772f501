"""One drill per series moment, one running run per job, a stable Message-ID per mail

A series' occurrence (series, occurrence start) is unique: drills that two overlapping runs made
twice are kept, the later ones as drills of their own outside the series. At most one run of a job
is `running` at a time. Each outbox mail keeps the Message-ID it was first sent with.

Revision ID: series_occurrences_runs_mail
Revises: records_exceptional
Create Date: 2026-11-30 07:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'series_occurrences_runs_mail'
down_revision = 'records_exceptional'
branch_labels = None
depends_on = None

drills = sa.table("drills", sa.column("id", sa.Integer), sa.column("series_id", sa.Integer),
                  sa.column("occurrence_start", sa.DateTime(timezone=True)))


def upgrade():
    first = sa.select(sa.func.min(drills.c.id)).where(drills.c.series_id.is_not(None)) \
        .group_by(drills.c.series_id, drills.c.occurrence_start)
    op.execute(drills.update().where(drills.c.series_id.is_not(None), drills.c.occurrence_start.is_not(None),
                                     drills.c.id.not_in(first))
               .values(series_id=None, occurrence_start=None))
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.create_unique_constraint('series_occurrence', ['series_id', 'occurrence_start'])
    op.create_index('one_running_run_per_job', 'job_runs', ['job'], unique=True,
                    sqlite_where=sa.text("outcome = 'running'"), postgresql_where=sa.text("outcome = 'running'"))
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('outbox_mail', schema=None) as batch_op:
        batch_op.drop_column('message_id')
    op.drop_index('one_running_run_per_job', table_name='job_runs')
    with op.batch_alter_table('drills', schema=None) as batch_op:
        batch_op.drop_constraint('series_occurrence', type_='unique')
