"""dashboard indexes

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-27

The indexes the leads' and agents' dashboards (`storage.dashboards`) need to stay fast on a large agency:
cases opened in a period, a case's first contract (its origin), an agent's cases (as seller too), his
calls and the actions he planned this week.
"""

from alembic import op


revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('m3_case', schema=None) as batch_op:
        batch_op.create_index('ix_m3_case_opened_at', ['opened_at'], unique=False)
        batch_op.create_index('ix_m3_case_seller', ['seller'], unique=False)
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.create_index('ix_contract_case_first', ['case_id', 'subscribed_on', 'number', 'origin'], unique=False)
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_call_attempt_by_at', ['by', 'at'], unique=False)
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.create_index('ix_action_created_by_at', ['created_by', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.drop_index('ix_action_created_by_at')
    with op.batch_alter_table('call_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_call_attempt_by_at')
    with op.batch_alter_table('contract', schema=None) as batch_op:
        batch_op.drop_index('ix_contract_case_first')
    with op.batch_alter_table('m3_case', schema=None) as batch_op:
        batch_op.drop_index('ix_m3_case_seller')
        batch_op.drop_index('ix_m3_case_opened_at')
