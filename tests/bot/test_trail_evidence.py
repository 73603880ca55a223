"""The evidence a reviewer keeps of the audit trail: the compliance PDF states the case's chain check, head
and length; the leads' daily digest lists the heads of the chains changed that day, so a later copy of the
trail can be checked against them."""

from __future__ import annotations

import io
from datetime import timedelta

import sqlalchemy as sa
from pypdf import PdfReader
from sqlmodel import Session

from bot.compliance_pdf import compliance_record
from bot.views.reminders import digest_message
from service.digest import ChainHead, build_digest
from storage import audit
from storage.tables import M3Case
from tests.conftest import NOW, client_file, contract
from tests.support.trail import triggers_dropped


def case_with_entries(factory, engine, number: str, at) -> int:
    case_id = factory.case(client_file(number=number), [contract(number=f"{number}-1")])
    with Session(engine) as session, session.begin():
        for event in ("call_started", "profile_validated"):
            audit.append(session, event, {}, actor="vendeur@agence.fr", case_id=case_id, at=at)
    return case_id


def pdf_text(record: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(record)).pages)
    return " ".join(text.split())


def record(engine, case_id: int) -> str:
    with Session(engine) as session:
        return pdf_text(compliance_record(session, case_id, actor="chef@agence.fr", now=NOW,
                                          timezone="Europe/Paris"))


def test_the_pdf_states_the_chains_check_its_head_and_its_length(factory, engine):
    case_id = case_with_entries(factory, engine, "C001", NOW)
    with Session(engine) as session:
        head = session.get(M3Case, case_id).audit_head

    intact = record(engine, case_id)
    with triggers_dropped(engine), engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_entry SET actor = 'x' WHERE case_id = :c AND seq = 1"),
                           {"c": case_id})
    broken = record(engine, case_id)

    assert "Chaîne d'empreintes du journal vérifiée : intacte. 2 entrée(s)" in intact
    assert head in intact.replace(" ", "")
    assert "ROMPUE (l'entrée n° 1 ne correspond plus à son empreinte" in broken and "intacte" not in broken


def test_the_digest_lists_the_heads_of_the_chains_changed_in_the_last_day(factory, engine):
    yesterday = NOW - timedelta(days=2)
    changed = case_with_entries(factory, engine, "C001", NOW - timedelta(hours=3))
    unchanged = case_with_entries(factory, engine, "C002", yesterday)
    with Session(engine) as session, session.begin():
        audit.append(session, "client_exported", {}, actor="dpo", at=NOW - timedelta(hours=1))

    with Session(engine) as session:
        digest = build_digest(session, day=NOW.date(), now=NOW, opened=[])
        case, chain = session.get(M3Case, changed), audit.global_chain(session)
        assert digest.heads == [ChainHead(None, chain.count, chain.head),
                                ChainHead(changed, 2, case.audit_head)]
    shown = str(digest_message(digest, {}).blocks)
    assert f"dossier {changed} : 2 entrée(s), `{case.audit_head}`" in shown and chain.head in shown
    assert f"dossier {unchanged} " not in shown
