"""paced delivery

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

The outbox learns which message a row edits (`role`), how urgent it is (`priority`) and a digest of what
it shows (`digest`, to skip an edit identical to the last one); `slack_pace` holds the token buckets every
deliverer of a workspace shares (`storage.pacing`).
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('digest', sa.String(), nullable=True))
        batch_op.create_index('ix_outbox_lane', ['case_id', 'role', 'status'], unique=False)
    op.create_table(
        'slack_pace',
        sa.Column('team', sa.String(), nullable=False),
        sa.Column('bucket', sa.String(), nullable=False),
        sa.Column('tokens', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('held_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('team', 'bucket'),
    )


def downgrade() -> None:
    op.drop_table('slack_pace')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_lane')
        batch_op.drop_column('digest')
        batch_op.drop_column('priority')
        batch_op.drop_column('role')
