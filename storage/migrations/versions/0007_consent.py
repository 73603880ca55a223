"""consent

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

Consent gates the commercial part: the client's opposition to commercial calls and the quiet period after
a declined rebound (client), a withdrawn agreement (agreement), and each action's aim (action; actions made
before this revision are taken as commercial, the side that asks for consent).
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opposition_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('no_commercial_until', sa.Date(), nullable=True))
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aim', sa.String(), server_default='commercial', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.drop_column('aim')
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_at')
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_column('no_commercial_until')
        batch_op.drop_column('opposition_at')
