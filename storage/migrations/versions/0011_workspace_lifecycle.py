"""workspace lifecycle

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

A workspace can be stopped (the app uninstalled, its token revoked) and its data erased; it keeps the
settings its admin chose in Slack. The erasure is
logged in `workspace_erasure`; the audit trail's append-only guard lets the entries of a workspace so
logged be deleted, and nothing else.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# As in 0006: every column but `data` must stay as it was, and `data` may only become the sealed form.
_SAME = ("id", "at", "actor", "case_id", "client_id", "event", "seq", "hash")
_ERASED = 'EXISTS (SELECT 1 FROM workspace_erasure WHERE workspace_erasure.workspace_id = OLD.workspace_id)'


def _postgresql_guard(*, erasable: bool) -> str:
    erased = f"""
      IF TG_OP = 'DELETE' AND {_ERASED} THEN
        RETURN OLD;
      END IF;""" if erasable else ''
    return f"""CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND {' AND '.join(f'NEW.{c} IS NOT DISTINCT FROM OLD.{c}' for c in _SAME)}
         AND NEW.sealed::text = OLD.sealed::text AND NEW.data::text = OLD.sealed::text THEN
        RETURN NEW;
      END IF;{erased}
      RAISE EXCEPTION 'audit_entry is append-only' USING ERRCODE = 'integrity_constraint_violation';
    END $$"""


def _sqlite_guard(*, erasable: bool) -> str:
    when = f' WHEN NOT {_ERASED}' if erasable else ''
    return f"""CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry{when}
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END"""


def _guard(*, erasable: bool) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_postgresql_guard(erasable=erasable))
    else:
        op.execute('DROP TRIGGER audit_entry_no_delete')
        op.execute(_sqlite_guard(erasable=erasable))


def upgrade() -> None:
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('settings', sa.JSON(), nullable=False, server_default='{}'))
    op.create_table(
        'workspace_erasure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.String(), nullable=True),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(), nullable=False),
        sa.Column('reason', sa.String(), nullable=False),
        sa.Column('rows', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('workspace_erasure', schema=None) as batch_op:
        batch_op.create_index('ix_workspace_erasure_workspace_id', ['workspace_id'], unique=False)
    _guard(erasable=True)


def downgrade() -> None:
    _guard(erasable=False)
    op.drop_table('workspace_erasure')
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('settings')
        batch_op.drop_column('stopped_at')
