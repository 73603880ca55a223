"""slack messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

The table of `storage.slack_messages`: where each Slack message of a case was posted.
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slack_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('ts', sa.String(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['m3_case.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'role')
    )
    with op.batch_alter_table('slack_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_slack_message_case_id'), ['case_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('slack_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_slack_message_case_id'))

    op.drop_table('slack_message')
