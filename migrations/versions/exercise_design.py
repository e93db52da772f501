"""Exercise design and conduct: objective templates, objectives, the MSEL of injects, the live session,
players' responses, evaluations (P/S/M/U) and participant feedback

Revision ID: exercise_design
Revises: speed_shared_cache
Create Date: 2026-11-30 09:28:33.169965

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'exercise_design'
down_revision = 'speed_shared_cache'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('objective_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('focus', sa.Enum('command_post', 'command_comms', 'force_organization', 'coordination', 'linkage', 'medical', 'relocation', 'lifelines', 'logistics', 'evacuation', 'self_rescue', name='focus', native_enum=False, length=32), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objective_templates'))
    )
    with op.batch_alter_table('objective_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objective_templates_focus'), ['focus'], unique=False)

    op.create_table('exercise_feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.Column('respondent', sa.String(length=64), nullable=False),
    sa.Column('overall', sa.Integer(), nullable=False),
    sa.Column('realism', sa.Integer(), nullable=False),
    sa.Column('strengths', sa.Text(), nullable=False),
    sa.Column('improvements', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('overall BETWEEN 1 AND 5', name=op.f('ck_exercise_feedback_overall_scale')),
    sa.CheckConstraint('realism BETWEEN 1 AND 5', name=op.f('ck_exercise_feedback_realism_scale')),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_exercise_feedback_drill_id_drills'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise_feedback')),
    sa.UniqueConstraint('drill_id', 'respondent', name='one_per_respondent')
    )
    with op.batch_alter_table('exercise_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_feedback_drill_id'), ['drill_id'], unique=False)

    op.create_table('exercise_objectives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('measure', sa.Text(), nullable=False),
    sa.Column('focus', sa.JSON(), nullable=False),
    sa.Column('plan', sa.String(length=300), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_exercise_objectives_created_by_id_users')),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_exercise_objectives_drill_id_drills'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise_objectives'))
    )
    with op.batch_alter_table('exercise_objectives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_objectives_drill_id'), ['drill_id'], unique=False)

    op.create_table('exercise_sessions',
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('running', 'paused', 'ended', name='sessionstatus', native_enum=False, length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('revealed_by_console', sa.Boolean(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tick', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_exercise_sessions_drill_id_drills'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by_id'], ['users.id'], name=op.f('fk_exercise_sessions_started_by_id_users')),
    sa.PrimaryKeyConstraint('drill_id', name=op.f('pk_exercise_sessions'))
    )
    op.create_table('exercise_injects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('drill_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('offset_minutes', sa.Integer(), nullable=False),
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('recipient', sa.String(length=200), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('expected_action', sa.Text(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=True),
    sa.Column('attachment_id', sa.Integer(), nullable=True),
    sa.Column('unplanned', sa.Boolean(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('offset_minutes >= 0', name=op.f('ck_exercise_injects_offset_not_negative')),
    sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'], name=op.f('fk_exercise_injects_attachment_id_attachments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['drill_id'], ['drills.id'], name=op.f('fk_exercise_injects_drill_id_drills'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['objective_id'], ['exercise_objectives.id'], name=op.f('fk_exercise_injects_objective_id_exercise_objectives'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['released_by_id'], ['users.id'], name=op.f('fk_exercise_injects_released_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise_injects'))
    )
    with op.batch_alter_table('exercise_injects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_injects_drill_id'), ['drill_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exercise_injects_objective_id'), ['objective_id'], unique=False)

    op.create_table('exercise_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('objective_id', sa.Integer(), nullable=False),
    sa.Column('evaluator_id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Enum('P', 'S', 'M', 'U', name='rating', native_enum=False), nullable=False),
    sa.Column('observations', sa.Text(), nullable=False),
    sa.Column('strengths', sa.Text(), nullable=False),
    sa.Column('improvements', sa.Text(), nullable=False),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['evaluator_id'], ['users.id'], name=op.f('fk_exercise_evaluations_evaluator_id_users')),
    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], name=op.f('fk_exercise_evaluations_finding_id_findings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['objective_id'], ['exercise_objectives.id'], name=op.f('fk_exercise_evaluations_objective_id_exercise_objectives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise_evaluations')),
    sa.UniqueConstraint('objective_id', 'evaluator_id', name='one_per_evaluator')
    )
    with op.batch_alter_table('exercise_evaluations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_evaluations_objective_id'), ['objective_id'], unique=False)

    op.create_table('exercise_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inject_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seconds_taken', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['inject_id'], ['exercise_injects.id'], name=op.f('fk_exercise_responses_inject_id_exercise_injects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_exercise_responses_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exercise_responses')),
    sa.UniqueConstraint('inject_id', 'user_id', name='one_per_player')
    )
    with op.batch_alter_table('exercise_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exercise_responses_inject_id'), ['inject_id'], unique=False)



def downgrade():
    with op.batch_alter_table('exercise_responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_responses_inject_id'))

    op.drop_table('exercise_responses')
    with op.batch_alter_table('exercise_evaluations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_evaluations_objective_id'))

    op.drop_table('exercise_evaluations')
    with op.batch_alter_table('exercise_injects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_injects_objective_id'))
        batch_op.drop_index(batch_op.f('ix_exercise_injects_drill_id'))

    op.drop_table('exercise_injects')
    op.drop_table('exercise_sessions')
    with op.batch_alter_table('exercise_objectives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_objectives_drill_id'))

    op.drop_table('exercise_objectives')
    with op.batch_alter_table('exercise_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exercise_feedback_drill_id'))

    op.drop_table('exercise_feedback')
    with op.batch_alter_table('objective_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objective_templates_focus'))

    op.drop_table('objective_templates')
