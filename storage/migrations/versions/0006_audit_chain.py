"""audit chain

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

A tamper-evident audit trail (`storage.chain`, `storage.audit`): every entry gets its number in its chain
(a case's, or "global" for the entries of no case), its sealed data (personal values replaced by an HMAC
keyed with the client's secret) and its hash; the head of each chain is kept on the case row, or in
`audit_chain`. Existing entries are chained in their recorded order (time, then id), with the same
functions the product uses; a client already erased gets no secret (his values are gone already).
Triggers then refuse every UPDATE and DELETE of the trail but one: replacing `data` by `sealed` (the
RGPD erase). Note for later migrations: SQLite's batch mode rebuilds a table and drops its triggers.
"""

import secrets as random
from itertools import groupby

import sqlalchemy as sa
from alembic import op

from storage.chain import entry_hash, seal
from storage.tables import UtcDateTime, utcnow

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Every column but `data` must stay as it was, and `data` may only become the sealed form.
_SAME = ("id", "at", "actor", "case_id", "client_id", "event", "seq", "hash")

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END""",
    f"""CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry
       WHEN NOT ({' AND '.join(f'NEW.{c} IS OLD.{c}' for c in _SAME)}
                 AND NEW.sealed IS OLD.sealed AND NEW.data IS OLD.sealed)
       BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END""",
)
POSTGRESQL_TRIGGERS = (
    f"""CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND {' AND '.join(f'NEW.{c} IS NOT DISTINCT FROM OLD.{c}' for c in _SAME)}
         AND NEW.sealed::text = OLD.sealed::text AND NEW.data::text = OLD.sealed::text THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_entry is append-only' USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    """CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
       FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()""",
)


def _chain_existing_entries(connection: sa.Connection) -> None:
    entry = sa.table("audit_entry", sa.column("id"), sa.column("at", UtcDateTime), sa.column("actor"),
                     sa.column("case_id"), sa.column("client_id"), sa.column("event"), sa.column("data", sa.JSON),
                     sa.column("seq"), sa.column("sealed", sa.JSON), sa.column("hash"))
    case = sa.table("m3_case", sa.column("id"), sa.column("client_id"), sa.column("audit_head"),
                    sa.column("audit_count"))
    secret_table = sa.table("client_secret", sa.column("client_id"), sa.column("secret"),
                            sa.column("created_at", UtcDateTime))
    chain_table = sa.table("audit_chain", sa.column("name"), sa.column("head"), sa.column("count"))
    case_client = dict(connection.execute(sa.select(case.c.id, case.c.client_id)).all())
    erased = set(connection.execute(sa.select(entry.c.client_id).where(entry.c.event == "client_erased")).scalars())
    secrets_of: dict[int, str] = {}

    def secret(owner: int | None) -> str | None:
        if owner is None or owner in erased:
            return None
        if owner not in secrets_of:
            secrets_of[owner] = random.token_hex(32)
            connection.execute(sa.insert(secret_table).values(client_id=owner, secret=secrets_of[owner],
                                                              created_at=utcnow()))
        return secrets_of[owner]

    rows = connection.execute(sa.select(entry).order_by(entry.c.case_id, entry.c.at, entry.c.id)).all()
    updates, heads = [], []
    for case_id, chain in groupby(rows, key=lambda r: r.case_id):
        head, count = None, 0
        for row in chain:
            owner = row.client_id if row.client_id is not None else case_client.get(case_id)
            sealed = seal(row.data, secret(owner), row.event) if row.data else row.data
            count += 1
            head = entry_hash(head, seq=count, case_id=case_id, client_id=row.client_id, at=row.at,
                              actor=row.actor, event=row.event, sealed=sealed)
            updates.append({"b_id": row.id, "b_seq": count, "b_sealed": sealed, "b_hash": head})
        heads.append((case_id, head, count))
    if updates:
        connection.execute(
            sa.update(entry).where(entry.c.id == sa.bindparam("b_id"))
            .values(seq=sa.bindparam("b_seq"), sealed=sa.bindparam("b_sealed", type_=sa.JSON),
                    hash=sa.bindparam("b_hash")),
            updates,
        )
    for case_id, head, count in heads:
        if case_id is None:
            connection.execute(sa.insert(chain_table).values(name="global", head=head, count=count))
        else:
            connection.execute(sa.update(case).where(case.c.id == case_id).values(audit_head=head, audit_count=count))


def upgrade() -> None:
    op.create_table(
        'audit_chain',
        sa.Column('name', sa.String(), nullable=False),
        sa.Column('head', sa.String(), nullable=True),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_table(
        'client_secret',
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('secret', sa.String(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.PrimaryKeyConstraint('client_id'),
    )
    op.add_column('m3_case', sa.Column('audit_head', sa.String(), nullable=True))
    op.add_column('m3_case', sa.Column('audit_count', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('audit_entry', sa.Column('seq', sa.Integer(), nullable=True))
    op.add_column('audit_entry', sa.Column('sealed', sa.JSON(), nullable=True))
    op.add_column('audit_entry', sa.Column('hash', sa.String(), nullable=True))
    _chain_existing_entries(op.get_bind())
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('sealed', existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(), nullable=False)
        batch_op.create_unique_constraint('uq_audit_entry_case_seq', ['case_id', 'seq'])
        batch_op.create_index('ix_audit_entry_at', ['at'], unique=False)
        batch_op.create_index('uq_audit_entry_global_seq', ['seq'], unique=True,
                              sqlite_where=sa.text('case_id IS NULL'), postgresql_where=sa.text('case_id IS NULL'))
    triggers = POSTGRESQL_TRIGGERS if op.get_bind().dialect.name == 'postgresql' else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER audit_entry_append_only ON audit_entry')
        op.execute('DROP FUNCTION audit_entry_append_only()')
    else:
        op.execute('DROP TRIGGER audit_entry_no_delete')
        op.execute('DROP TRIGGER audit_entry_no_update')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('uq_audit_entry_global_seq')
        batch_op.drop_index('ix_audit_entry_at')
        batch_op.drop_constraint('uq_audit_entry_case_seq', type_='unique')
        batch_op.drop_column('hash')
        batch_op.drop_column('sealed')
        batch_op.drop_column('seq')
    with op.batch_alter_table('m3_case', schema=None) as batch_op:
        batch_op.drop_column('audit_count')
        batch_op.drop_column('audit_head')
    op.drop_table('client_secret')
    op.drop_table('audit_chain')
