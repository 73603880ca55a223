"""agents looked up in Slack

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

An agent whose e-mail Slack does not know is marked (`slack_unknown_at`): he is not looked up again at each
of his cases, and the leads are told once.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slack_unknown_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_column('slack_unknown_at')
