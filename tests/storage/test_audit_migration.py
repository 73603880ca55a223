"""Migration 0006 chains the audit entries written before it, in their recorded order, and seals their
personal values; a client erased before it keeps no secret."""

from __future__ import annotations

import json
import os
import secrets

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from storage.audit import global_chain
from storage.audit_verify import verify
from storage.chain import MARK
from storage.db import make_engine, migrate, normalize_url
from storage.tables import AuditEntry, ClientSecret, M3Case
from tests.conftest import PG_ADMIN_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request, tmp_path):
    """An empty database of its own (the migration runs from the start)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    name = f"m3mig_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(normalize_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_the_migration_chains_and_seals_the_entries_written_before_it(fresh_engine):
    migrate(fresh_engine, "0005")
    with fresh_engine.begin() as connection:
        for client_id, number in ((1, "C001"), (2, "C002")):
            connection.execute(sa.text(
                "INSERT INTO client (id, number, client_type, last_name, first_name, civility, created_at, updated_at)"
                " VALUES (:id, :number, 'particulier', 'Martin', '', '', :at, :at)"),
                {"id": client_id, "number": number, "at": "2026-06-01 08:00:00"})
            connection.execute(sa.text(
                "INSERT INTO m3_case (id, state, client_id, m3_date, callback_client_requested, version, created_at)"
                " VALUES (:id, 'closed', :id, '2026-06-02', false, 0, :at)"), {"id": client_id, "at": "2026-06-01"})
        entries = [  # (case, client, at, event, data): written out of id order on purpose
            (1, 1, "2026-06-02 10:00:00", "need_recorded", {"text": "Claire attend un enfant"}),
            (1, 1, "2026-06-02 09:00:00", "call_started", {"caller": "v"}),
            (None, 1, "2026-06-01 08:00:00", "client_imported", {}),
            (2, 2, "2026-06-02 09:00:00", "need_recorded", {"text": "[effacé]"}),
            (None, 2, "2026-06-03 09:00:00", "client_erased", {"reason": "request", "cases": [2]}),
        ]
        for case_id, client_id, at, event, data in entries:
            connection.execute(sa.text(
                "INSERT INTO audit_entry (at, actor, case_id, client_id, event, data)"
                " VALUES (:at, 'v', :case, :client, :event, :data)"),
                {"at": at, "case": case_id, "client": client_id, "event": event, "data": json.dumps(data)})

    migrate(fresh_engine)

    with Session(fresh_engine) as session:
        result = verify(session)
        assert result.ok and (result.chains, result.entries) == (3, 5)
        first_case = session.exec(select(AuditEntry).where(AuditEntry.case_id == 1).order_by(AuditEntry.seq)).all()
        assert [e.event for e in first_case] == ["call_started", "need_recorded"]
        assert first_case[1].data == {"text": "Claire attend un enfant"}
        assert first_case[1].sealed["text"].startswith(MARK)
        assert session.get(M3Case, 1).audit_count == 2 and global_chain(session).count == 2
        assert session.exec(select(ClientSecret.client_id)).all() == [1]  # client 2 was erased before
    with pytest.raises(sa.exc.IntegrityError), fresh_engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_entry"))
