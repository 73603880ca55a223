"""workspaces

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

One service can serve several agencies: each is a workspace (its Slack team), and every row that belongs to
an agency names its workspace. The numbers an agency's management system gives (client, contract), its
agents' e-mails and the outbox's and reminders' keys are unique within a workspace, no longer across them;
the audit entries of no case form one chain per workspace.

Rows already there belong to workspace 1, the single agency of the install, whose Slack team is learnt when
the bot next meets Slack (`storage.workspaces`).
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# The tables whose rows belong to an agency (`audit_chain` apart: its key changes, see below).
OWNED = ('agent', 'client', 'm3_case', 'contract', 'audit_entry', 'outbox', 'import_run', 'reminder')
# Unique across the service before, within a workspace now: (table, column, new constraint's name).
UNIQUE_PER_WORKSPACE = (
    ('agent', 'email', 'uq_agent_workspace_email'),
    ('agent', 'slack_user_id', 'uq_agent_workspace_slack_user'),
    ('client', 'number', 'uq_client_workspace_number'),
    ('contract', 'number', 'uq_contract_workspace_number'),
    ('outbox', 'dedupe_key', 'uq_outbox_workspace_dedupe_key'),
    ('reminder', 'dedupe_key', 'uq_reminder_workspace_dedupe_key'),
)
# PostgreSQL's names for the unnamed constraints of 0001 and 0005; SQLite's copy of a table gets the same.
NAMES = {'uq': '%(table_name)s_%(column_0_name)s_key'}


def _triggers(table: str) -> list[str]:
    """SQLite drops a table's triggers with the table it copies: their SQL, to create them again."""
    if op.get_bind().dialect.name != 'sqlite':
        return []
    found = op.get_bind().execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :table"), {'table': table})
    return [row.sql for row in found]


def _recreate_chain(*, per_workspace: bool) -> None:
    """`audit_chain` again, its heads kept (those of workspace 1, the only one a downgrade accepts)."""
    heads = op.get_bind().execute(sa.text('SELECT name, head, count FROM audit_chain')).all()
    op.drop_table('audit_chain')
    owner = [sa.Column('workspace_id', sa.Integer(), nullable=False)] if per_workspace else []
    keys = [sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id']),
            sa.PrimaryKeyConstraint('workspace_id', 'name')] if per_workspace else [sa.PrimaryKeyConstraint('name')]
    chain = op.create_table(
        'audit_chain', *owner,
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('head', sa.String(), nullable=True),
        sa.Column('count', sa.Integer(), nullable=False),
        *keys,
    )
    rows = [{'name': h.name, 'head': h.head, 'count': h.count} | ({'workspace_id': 1} if per_workspace else {})
            for h in heads]
    if rows:
        op.bulk_insert(chain, rows)


def upgrade() -> None:
    op.create_table(
        'workspace',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('team_id', sa.String(), nullable=True),
        sa.Column('name', sa.String(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('team_id'),
    )
    connection = op.get_bind()
    if any(connection.execute(sa.text(f'SELECT 1 FROM {table} LIMIT 1')).first() for table in OWNED):
        connection.execute(sa.text('INSERT INTO workspace (id, created_at) VALUES (1, CURRENT_TIMESTAMP)'))

    for table in OWNED:
        # A constant default fills the rows already there without rewriting them; it is dropped below.
        op.add_column(table, sa.Column('workspace_id', sa.Integer(), nullable=False, server_default='1'))
    for table in OWNED:
        triggers = _triggers(table)
        with op.batch_alter_table(table, naming_convention=NAMES) as batch_op:
            batch_op.alter_column('workspace_id', existing_type=sa.Integer(), server_default=None)
            batch_op.create_foreign_key(f'fk_{table}_workspace', 'workspace', ['workspace_id'], ['id'])
            batch_op.create_index(f'ix_{table}_workspace_id', ['workspace_id'], unique=False)
            for owner, column, name in UNIQUE_PER_WORKSPACE:
                if owner == table:
                    batch_op.drop_constraint(f'{table}_{column}_key', type_='unique')
                    batch_op.create_unique_constraint(name, ['workspace_id', column])
            if table == 'audit_entry':
                batch_op.drop_index('uq_audit_entry_global_seq')
                batch_op.create_index('uq_audit_entry_global_seq', ['workspace_id', 'seq'], unique=True,
                                      sqlite_where=sa.text('case_id IS NULL'),
                                      postgresql_where=sa.text('case_id IS NULL'))
        for statement in triggers:
            op.execute(statement)

    # The chain of the entries of no case was one; it is one per workspace, keyed by both.
    _recreate_chain(per_workspace=True)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text('SELECT count(*) FROM workspace')).scalar_one() > 1:
        raise RuntimeError('several workspaces: their data cannot go back to a single-agency schema')
    _recreate_chain(per_workspace=False)
    for table in OWNED:
        triggers = _triggers(table)
        with op.batch_alter_table(table, naming_convention=NAMES) as batch_op:
            if table == 'audit_entry':
                batch_op.drop_index('uq_audit_entry_global_seq')
                batch_op.create_index('uq_audit_entry_global_seq', ['seq'], unique=True,
                                      sqlite_where=sa.text('case_id IS NULL'),
                                      postgresql_where=sa.text('case_id IS NULL'))
            for owner, column, name in UNIQUE_PER_WORKSPACE:
                if owner == table:
                    batch_op.drop_constraint(name, type_='unique')
                    batch_op.create_unique_constraint(f'{table}_{column}_key', [column])
            batch_op.drop_index(f'ix_{table}_workspace_id')
            batch_op.drop_constraint(f'fk_{table}_workspace', type_='foreignkey')
            batch_op.drop_column('workspace_id')
        for statement in triggers:
            op.execute(statement)
    op.drop_table('workspace')
