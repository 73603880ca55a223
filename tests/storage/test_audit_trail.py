"""The audit trail shows tampering: each case's entries form a hash chain the case row keeps the head of,
`m3bot audit verify` names every case whose trail was changed, and the database itself refuses UPDATE and
DELETE of the trail (but the RGPD erase's one change). Tampering goes straight to the database, triggers
dropped first, as someone with the database's password would."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from service.rgpd import EraseClient, erase_client
from service.unit_of_work import UnitOfWork
from storage import audit
from storage.audit_verify import verify
from storage.chain import MARK, entry_hash
from storage.tables import AuditEntry, ClientSecret, M3Case
from tests.conftest import NOW, Factory, client_file, contract
from tests.support.trail import triggers_dropped

AGENT = "vendeur@agence.fr"


def case_with_trail(factory, engine, number: str = "C001", entries: int = 5) -> int:
    case_id = factory.case(client_file(number=number), [contract(number=f"{number}-AUTO")])
    with Session(engine) as session, session.begin():
        client_id = session.get(M3Case, case_id).client_id
        for n in range(entries):
            audit.append(session, "need_recorded", {"text": f"besoin {n} de Claire Martin"}, actor=AGENT,
                         case_id=case_id, client_id=client_id, at=NOW + timedelta(minutes=n))
        audit.append(session, "client_exported", {}, actor="dpo", client_id=client_id, at=NOW)
    return case_id


@pytest.fixture
def m3bot(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def tamper(engine, *statements: str, **params) -> None:
    with triggers_dropped(engine), engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement), params)


def test_each_entry_is_numbered_and_chained_and_the_case_keeps_the_head(factory, engine):
    case_id = case_with_trail(factory, engine, entries=3)

    with Session(engine) as session:
        entries = list(session.exec(select(AuditEntry).where(AuditEntry.case_id == case_id)
                                    .order_by(AuditEntry.seq)))
        case = session.get(M3Case, case_id)
        previous = None
        for entry in entries:
            assert entry.hash == entry_hash(previous, seq=entry.seq, case_id=case_id, client_id=entry.client_id,
                                            at=entry.at, actor=entry.actor, event=entry.event, sealed=entry.sealed)
            previous = entry.hash
        assert [e.seq for e in entries] == [1, 2, 3]
        assert (case.audit_head, case.audit_count) == (entries[-1].hash, 3)
        assert audit.global_chain(session).count == 1  # the export: an entry of no case


def test_personal_values_are_kept_out_of_the_chain_as_hmacs_of_the_clients_secret(factory, engine):
    case_id = case_with_trail(factory, engine, entries=2)

    with Session(engine) as session:
        first, second = session.exec(select(AuditEntry).where(AuditEntry.case_id == case_id)
                                     .order_by(AuditEntry.seq)).all()
        assert first.data == {"text": "besoin 0 de Claire Martin"}
        assert first.sealed["text"].startswith(MARK) and "Martin" not in str(first.sealed)
        assert first.sealed["text"] != second.sealed["text"]
        assert session.exec(select(ClientSecret)).one().client_id == first.client_id


def test_an_intact_trail_verifies_with_a_one_line_summary(factory, engine, m3bot):
    case_with_trail(factory, engine)
    case_with_trail(factory, engine, number="C002")

    result = m3bot("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        "Journal d'audit intact : 3 chaîne(s), 12 entrée(s) vérifiée(s)."]


TAMPERING = {
    "changed": ["UPDATE audit_entry SET actor = 'autre@agence.fr' WHERE case_id = :case AND seq = 2"],
    "changed personal value": ["UPDATE audit_entry SET data = '{\"text\": \"autre chose\"}' "
                               "WHERE case_id = :case AND seq = 3"],
    "deleted": ["DELETE FROM audit_entry WHERE case_id = :case AND seq = 3"],
    "reordered": ["UPDATE audit_entry SET seq = 100 WHERE case_id = :case AND seq = 2",
                  "UPDATE audit_entry SET seq = 2 WHERE case_id = :case AND seq = 3",
                  "UPDATE audit_entry SET seq = 3 WHERE case_id = :case AND seq = 100"],
    "last entries dropped": ["DELETE FROM audit_entry WHERE case_id = :case AND seq >= 4"],
    "moved to another case": ["UPDATE audit_entry SET case_id = :other, seq = 6 WHERE case_id = :case AND seq = 5"],
}


@pytest.mark.parametrize("how", TAMPERING)
def test_verify_names_the_case_whose_trail_was_tampered_with(factory, engine, m3bot, how):
    tampered = case_with_trail(factory, engine)
    intact = case_with_trail(factory, engine, number="C002")
    other = case_with_trail(factory, engine, number="C003") if how == "moved to another case" else None

    tamper(engine, *TAMPERING[how], case=tampered, other=other)
    result = m3bot("audit", "verify")

    assert result.exit_code == 1, result.output
    assert f"dossier {tampered}" in result.output and f"dossier {intact}" not in result.output
    if other is not None:
        assert f"dossier {other}" in result.output
    assert m3bot("audit", "verify", intact).exit_code == 0
    assert m3bot("audit", "verify", tampered).exit_code == 1


def test_an_entry_inserted_with_a_well_computed_hash_shows_at_the_head(factory, engine, m3bot):
    case_id = case_with_trail(factory, engine)
    with Session(engine) as session:
        last = session.exec(select(AuditEntry).where(AuditEntry.case_id == case_id, AuditEntry.seq == 5)).one()
        forged = {"seq": 6, "case_id": case_id, "client_id": last.client_id, "at": NOW, "actor": AGENT,
                  "event": "agreement_recorded", "sealed": {"agreed": True}}
        forged["hash"] = entry_hash(last.hash, **forged)
    with triggers_dropped(engine), Session(engine) as session, session.begin():
        session.add(AuditEntry(**forged, data={"agreed": True}))

    result = m3bot("audit", "verify", case_id)

    assert result.exit_code == 1 and f"dossier {case_id}" in result.output
    assert "tête de chaîne" in result.output


def test_verify_names_the_chain_of_entries_of_no_case(factory, engine, m3bot):
    case_with_trail(factory, engine)
    case_with_trail(factory, engine, number="C002")

    tamper(engine, "DELETE FROM audit_entry WHERE case_id IS NULL AND seq = 1")
    result = m3bot("audit", "verify")

    assert result.exit_code == 1 and "entrées hors dossier" in result.output and "dossier 1" not in result.output


def test_verify_of_an_unknown_case_is_a_clear_error(engine, m3bot):
    result = m3bot("audit", "verify", 999)

    assert result.exit_code == 2 and "Aucun dossier n°999" in result.output


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entry SET actor = 'autre@agence.fr'",
    "UPDATE audit_entry SET data = '{}'",
    "UPDATE audit_entry SET data = sealed, event = 'autre'",
    "DELETE FROM audit_entry",
])
def test_the_database_refuses_to_update_or_delete_the_trail(factory, engine, statement):
    case_with_trail(factory, engine, entries=1)

    with pytest.raises(sa.exc.IntegrityError, match="append-only"), engine.begin() as connection:
        connection.execute(sa.text(statement))


def test_the_one_change_allowed_is_the_erase_of_personal_values(factory, engine):
    case_id = case_with_trail(factory, engine, entries=2)

    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_entry SET data = sealed WHERE case_id = :c"), {"c": case_id})

    with Session(engine) as session:
        data = session.exec(select(AuditEntry.data).where(AuditEntry.case_id == case_id)).all()
        assert all(d["text"].startswith(MARK) for d in data)
        assert verify(session).ok


def test_the_trail_still_verifies_after_an_erase_and_the_clients_secret_is_gone(factory, engine, m3bot):
    case_id = case_with_trail(factory, engine)
    with Session(engine) as session, session.begin():
        session.get(M3Case, case_id).state = "closed"

    erase_client(EraseClient("C001"), UnitOfWork(engine, actor="dpo", now=NOW))

    assert m3bot("audit", "verify").exit_code == 0
    with Session(engine) as session:
        assert session.exec(select(ClientSecret)).all() == []
        held = str(session.exec(select(AuditEntry.data, AuditEntry.sealed)).all())
        assert "Martin" not in held and "C001-AUTO" not in held


def test_concurrent_appenders_on_postgresql_cannot_fork_a_chain(pg_engine):
    case_id = Factory(pg_engine).case()
    start = threading.Barrier(4)
    errors = []

    def appender(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with Session(pg_engine) as session, session.begin():
                    audit.append(session, "note", {"n": n, "i": i}, actor=AGENT, case_id=case_id)
                    audit.append(session, "note", {"n": n, "i": i}, actor=AGENT)  # the chain of no case
        except Exception as error:  # reported below: a thread's exception would be lost
            errors.append(error)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with Session(pg_engine) as session:
        numbers = session.exec(select(AuditEntry.seq).where(AuditEntry.case_id == case_id)
                               .order_by(AuditEntry.seq)).all()
        assert numbers == list(range(1, 41))
        assert session.get(M3Case, case_id).audit_count == 40 and audit.global_chain(session).count == 40
        assert verify(session).ok


def test_one_appender_waits_for_the_other_to_commit_its_head(pg_engine):
    case_id = Factory(pg_engine).case()
    first_holds, second_done = threading.Event(), threading.Event()

    def second() -> None:
        first_holds.wait()
        with Session(pg_engine) as session, session.begin():
            audit.append(session, "second", {}, actor=AGENT, case_id=case_id)
        second_done.set()

    thread = threading.Thread(target=second)
    thread.start()
    with Session(pg_engine) as session, session.begin():
        audit.append(session, "first", {}, actor=AGENT, case_id=case_id)
        first_holds.set()
        assert not second_done.wait(0.5)  # blocked on the case's head until this transaction ends
    thread.join()

    with Session(pg_engine) as session:
        order = session.exec(select(AuditEntry.event).where(AuditEntry.case_id == case_id)
                             .order_by(AuditEntry.seq)).all()
        assert order == ["first", "second"] and verify(session, case_id).ok
