"""The client's RGPD rights in the database: export, erasure everywhere, the retention purge, and an audit
trail nothing in the product can rewrite but the erasure of personal values."""

from __future__ import annotations

import ast
import contextlib
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from sqlmodel import Session, select

from config.settings import Settings
from flows.case import State
from scheduler.service import purge_job
from service.rgpd import EraseClient, ExportClient, Purge, erase_client, export_client, purge
from service.unit_of_work import Backend, UnitOfWork
from storage import audit, outbox, rgpd
from storage import tables as rows
from storage.audit import jsonable
from storage.audit_verify import verify
from tests.conftest import NOW, client_file, contract
from tests.scheduler.recording import RecordingNotifier

ROOT = Path(__file__).parents[2]
LEAD = "chef@agence.fr"
PERSONAL = ["Martin", "Claire", "claire.martin@example.fr", "+33612345678", "0612345678", "rue des Lilas",
            "732829320"]


def closed_case_with_history(factory, engine, *, number: str = "C001", contract_number: str = "AUTO-1",
                             closed_at: datetime = NOW, terminated_on: date | None = None) -> int:
    """A closed case whose trail and children carry the client's personal data, like a real call leaves."""
    case_id = factory.case(client_file(number=number, siren="732829320"),
                           [contract(number=contract_number, terminated_on=terminated_on)])
    with Session(engine) as session, session.begin():
        case = session.get(rows.M3Case, case_id)
        client_id = case.client_id
        case.state, case.closed_at, case.close_note = State.closed.value, closed_at, "Mme Martin part au Canada"
        session.add(rows.CallAttempt(client_id=client_id, case_id=case_id, at=closed_at, by="vendeur@agence.fr",
                                     outcome="available"))
        session.add(rows.ProfileCheck(case_id=case_id, field="phone", answer="modified", old_value="0611111111",
                                      new_value="+33612345678", at=closed_at, by="vendeur@agence.fr"))
        session.add(rows.Agreement(case_id=case_id, at=closed_at, by="vendeur@agence.fr", wording="Acceptez-vous ?",
                                   agreed=True))
        session.add(rows.ProtectionCheck(case_id=case_id, protection="pj", answer="not_covered", priority=True,
                                         reason="Claire n'a pas de protection juridique", at=closed_at, by="v"))
        session.add(rows.ProtectionCheck(case_id=case_id, protection="habitation", answer="elsewhere",
                                         insurer="MAIF", at=closed_at, by="v"))
        session.add(rows.Need(case_id=case_id, text="Claire Martin attend un enfant", at=closed_at, by="v"))
        session.add(rows.Action(case_id=case_id, kind="rdv", due_on=date(2026, 7, 1), owner="v@agence.fr",
                                reason="bilan avec M. Martin", created_at=closed_at, created_by="v"))
        audit.append(session, "profile_answered", {"field": "phone", "answer": "modified",
                                                   "old_value": "06 11 11 11 11", "new_value": "+33612345678"},
                     actor="vendeur@agence.fr", case_id=case_id, client_id=client_id, at=closed_at)
        audit.append(session, "client_completed", {"changes": {"email": [None, "claire.martin@example.fr"]}},
                     actor="import", client_id=client_id, at=closed_at)
        audit.append(session, "need_recorded", {"text": "Claire Martin attend un enfant"},
                     actor="vendeur@agence.fr", case_id=case_id, client_id=client_id, at=closed_at)
        audit.append(session, "protection_answered", {"protection": "habitation", "insurer": "MAIF"},
                     actor="vendeur@agence.fr", case_id=case_id, client_id=client_id, at=closed_at)
        outbox.enqueue(session, "message.upsert",
                       {"case_id": case_id, "role": "card", "text": f"Mme Claire Martin — {contract_number}",
                        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "MARTIN Claire 0612345678"}}]},
                       case_id=case_id, now=closed_at)
    return case_id


def everything_held(engine, case_id: int) -> str:
    """Every row the database holds about the case and its client, as one text to search."""
    with Session(engine) as session:
        case = session.get(rows.M3Case, case_id)
        held = [case, session.get(rows.Client, case.client_id)]
        for model in (rows.Contract, rows.ProfileCheck, rows.ProtectionCheck, rows.Need, rows.Action,
                      rows.AuditEntry, rows.Outbox, rows.Agreement):
            held += session.exec(select(model).where(model.case_id == case_id))
        held += session.exec(select(rows.AuditEntry).where(rows.AuditEntry.client_id == case.client_id))
        return json.dumps(jsonable([row.model_dump() for row in held]), ensure_ascii=False)


def test_export_gives_everything_held_on_the_client_and_records_who_asked(factory, engine):
    case_id = closed_case_with_history(factory, engine)

    exported = export_client(ExportClient("C001"), UnitOfWork(engine, actor=LEAD, now=NOW))

    text = json.dumps(exported, ensure_ascii=False)
    assert exported["client"]["email"] == "claire.martin@example.fr" and exported["exported_by"] == LEAD
    assert [c["id"] for c in exported["cases"]] == [case_id]
    case = exported["cases"][0]
    assert case["needs"][0]["text"] == "Claire Martin attend un enfant" and case["agreement"]["agreed"]
    assert {p["protection"] for p in case["protections"]} == {"pj", "habitation"}
    assert exported["call_attempts"] and exported["contracts"][0]["number"] == "AUTO-1"
    assert "profile_answered" in text and "MARTIN Claire" in text  # audit trail and Slack payloads
    with Session(engine) as session:
        entry = session.exec(select(rows.AuditEntry).where(rows.AuditEntry.event == "client_exported")).one()
        assert entry.actor == LEAD and entry.client_id == exported["client"]["id"]


def test_export_of_an_unknown_client_is_refused(engine):
    with pytest.raises(rgpd.ClientNotFound):
        export_client(ExportClient("NOPE"), UnitOfWork(engine, actor=LEAD))


def test_erase_removes_every_personal_value_but_keeps_the_events_and_the_statistics(factory, engine):
    case_id = closed_case_with_history(factory, engine)
    with Session(engine) as session:
        events_before = [(e.id, e.event, e.at, e.actor) for e in session.exec(select(rows.AuditEntry))]
    for value in PERSONAL:
        assert value in everything_held(engine, case_id)

    erased = erase_client(EraseClient("C001"), UnitOfWork(engine, actor=LEAD, now=NOW))

    assert erased.case_ids == [case_id]
    held = everything_held(engine, case_id)
    for value in [*PERSONAL, "06 11 11 11 11", "attend un enfant", "Canada", "AUTO-1", "C001"]:
        assert value not in held
    with Session(engine) as session:
        client = session.get(rows.Client, erased.client_id)
        assert client.client_type == "particulier" and client.email is None and client.number.startswith("ANON")
        case = session.get(rows.M3Case, case_id)
        assert case.state == State.closed.value and case.m3_date  # the statistics' columns stay
        insurers = session.exec(select(rows.ProtectionCheck.insurer).where(rows.ProtectionCheck.insurer.is_not(None)))
        assert list(insurers) == ["MAIF"]
        entries = list(session.exec(select(rows.AuditEntry).order_by(rows.AuditEntry.id)))
        assert [(e.id, e.event, e.at, e.actor) for e in entries][: len(events_before)] == events_before
        assert (entries[-1].event, entries[-1].actor, entries[-1].data) == (
            "client_erased", LEAD, {"reason": "request", "cases": [case_id]})
        protection = next(e for e in entries if e.event == "protection_answered")
        assert protection.data["insurer"] == "MAIF"
        # Not even a digest of the messages that showed him stays.
        assert list(session.exec(select(rows.Outbox.digest).where(rows.Outbox.digest.is_not(None)))) == []


def test_erase_closes_a_case_in_progress_with_its_own_reason_and_drops_what_was_planned(factory, engine):
    case_id = factory.case()  # opened, in preparation: an agent may be calling
    with Session(engine) as session, session.begin():
        session.add(rows.Action(case_id=case_id, kind="rdv", due_on=date(2026, 7, 1), owner="v@agence.fr",
                                created_at=NOW, created_by="v"))
        session.add(rows.Reminder(kind="action", dedupe_key="action:1", due_at=NOW, case_id=case_id))

    erase_client(EraseClient("C001"), UnitOfWork(engine, actor=LEAD, now=NOW))

    with Session(engine) as session:
        case = session.get(rows.M3Case, case_id)
        assert (case.state, case.close_reason, case.closed_at) == (State.closed.value, "rgpd_erased", NOW)
        assert session.exec(select(rows.Action.status)).one() == "cancelled"
        assert session.exec(select(rows.Reminder.status)).one() == "cancelled"
        closing = session.exec(select(rows.AuditEntry).where(rows.AuditEntry.event == "case_closed")).one()
        assert (closing.case_id, closing.data, closing.actor) == (case_id, {"reason": "rgpd_erased"}, LEAD)


def test_erase_closes_a_case_not_opened_yet_so_it_never_opens(factory, engine):
    case_id = factory.case(opened=False)

    erase_client(EraseClient("C001"), UnitOfWork(engine, actor=LEAD))

    with Session(engine) as session:
        assert session.get(rows.M3Case, case_id).state == State.closed.value
        erased = session.exec(select(rows.AuditEntry).where(rows.AuditEntry.event == "client_erased")).one()
        assert erased.data["reason"] == "request"


def test_erase_hands_each_anonymised_case_to_the_notifier_inside_its_transaction(factory, engine):
    case_id = closed_case_with_history(factory, engine)
    seen = []

    class FailingNotifier(RecordingNotifier):
        def case_erased(self, session, cid):
            seen.append((cid, session.exec(select(rows.Client.last_name)).one()))
            raise RuntimeError("Slack rendering failed")

    with pytest.raises(RuntimeError):
        erase_client(EraseClient("C001"), UnitOfWork(Backend(engine, FailingNotifier()), actor=LEAD))

    assert seen == [(case_id, "Client anonymisé")]
    assert "Martin" in everything_held(engine, case_id)  # the hook failed: nothing was erased


def test_purge_erases_only_clients_past_the_retention_period(factory, engine):
    now = datetime(2032, 6, 1, 8, 0, tzinfo=UTC)
    old = closed_case_with_history(factory, engine, number="OLD", contract_number="OLD-1",
                                   closed_at=datetime(2026, 1, 5, tzinfo=UTC), terminated_on=date(2026, 5, 1))
    recent = closed_case_with_history(factory, engine, number="RECENT", contract_number="REC-1",
                                      closed_at=datetime(2028, 1, 5, tzinfo=UTC), terminated_on=date(2026, 5, 1))
    in_force = closed_case_with_history(factory, engine, number="RUNNING", contract_number="RUN-1",
                                        closed_at=datetime(2026, 1, 5, tzinfo=UTC))

    listed = purge(Purge(5, dry_run=True), lambda: UnitOfWork(engine, actor="scheduler", now=now))
    assert [e.case_ids for e in listed] == [[old]]
    assert "OLD-1" in everything_held(engine, old)  # a dry run changes nothing

    done = purge(Purge(5), lambda: UnitOfWork(engine, actor="scheduler", now=now))
    again = purge(Purge(5), lambda: UnitOfWork(engine, actor="scheduler", now=now))

    assert [e.case_ids for e in done] == [[old]] and again == []
    assert "Martin" not in everything_held(engine, old)
    assert "Martin" in everything_held(engine, recent) and "Martin" in everything_held(engine, in_force)
    with Session(engine) as session:
        run = session.exec(select(rows.AuditEntry).where(rows.AuditEntry.event == "retention_purge")).one()
        assert run.actor == "scheduler" and run.data == {"retention_years": 5, "clients": 1}


def test_the_schedulers_purge_job_reads_the_retention_period_from_the_settings(factory, engine):
    case_id = closed_case_with_history(factory, engine, closed_at=datetime(2026, 1, 5, tzinfo=UTC),
                                       terminated_on=date(2026, 5, 1))

    with time_machine.travel(datetime(2032, 6, 1, tzinfo=UTC)):
        purge_job(engine, Settings(_env_file=None, retention_years=10), RecordingNotifier())
        assert "Martin" in everything_held(engine, case_id)
        purge_job(engine, Settings(_env_file=None, retention_years=5), RecordingNotifier())
    assert "Martin" not in everything_held(engine, case_id)


# ---- the audit trail cannot be altered through the product ---------------------------------------------


def _audit_writes(source: str, label: str) -> list[str]:
    """Statements of `source` that update or delete audit_entry rows (SQL text or SQLAlchemy constructs)."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = " ".join(ast.unparse(a) for a in node.args)
            if name in ("update", "delete") and "AuditEntry" in args:
                found.append(f"{label}:{node.lineno}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            sql = " ".join(node.value.lower().split())
            if ("update audit_entry" in sql or "delete from audit_entry" in sql
                    or "truncate" in sql and "audit_entry" in sql):
                found.append(f"{label}:{node.lineno}")
    return sorted(found)


def test_no_code_path_rewrites_the_audit_trail_but_the_rgpd_erasure():
    sources = [p for folder in ("flows", "storage", "bot", "scheduler", "config", "sandbox")
               for p in (ROOT / folder).rglob("*.py")]

    writes = [w for path in sources
              for w in _audit_writes(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]

    assert writes and all(w.startswith("storage/rgpd.py:") for w in writes), writes


def test_the_audit_scan_finds_an_update_or_a_delete_of_the_trail():
    source = "import sqlalchemy as sa\nsa.update(AuditEntry).values(actor='x')\nSQL = 'DELETE FROM audit_entry'\n"

    assert _audit_writes(source, "sample") == ["sample:2", "sample:3"]


# ---- nothing of the client is left anywhere ------------------------------------------------------------

# Distinctive values, short ones included: each is searched for in the whole database after the erase.
LI_WU = {"number": "LW-0042", "last_name": "Wu", "first_name": "Li", "civility": "Mlle",
         "email": "li.wu@exemple.cn", "phone": "+33687654321", "address": "7 allée Qilin 97133 Saint-Barthélemy",
         "postcode": "97133", "marital_status": "pacsé(e)", "professional_status": "salarié Qilin",
         "siren": "552100554", "naf": "47.11F", "activity": "Épicerie Zhou"}
FREE_TEXTS = {"piece": "RIB de M. Dupontel", "recovery": "Mlle Wu l'envoie par courrier",
              "wording": "Acceptez-vous, Mlle Wu, de parler de vos autres contrats ?",
              "need": "Li veut assurer son scooter", "reason": "Wu n'a aucune PJ", "action": "rappeler Li le soir",
              "note": "Li Wu déménage", "old_phone": "0611223344", "contract": "LW-AUTO-7"}


def li_wus_case(factory, engine) -> int:
    """An open case of Li Wu whose rows, trail and Slack payloads carry every one of his values."""
    case_id = factory.case(client_file(**LI_WU), [contract(number=FREE_TEXTS["contract"],
                                                           missing_pieces=[FREE_TEXTS["piece"]])])
    f = FREE_TEXTS
    with Session(engine) as session, session.begin():
        case = session.get(rows.M3Case, case_id)
        client_id, at = case.client_id, NOW
        case.close_note = f["note"]
        contract_id = session.exec(select(rows.Contract.id)).one()
        session.add(rows.ProfileCheck(case_id=case_id, field="phone", answer="modified", old_value=f["old_phone"],
                                      new_value=LI_WU["phone"], at=at, by="v"))
        session.add(rows.ContractCheck(case_id=case_id, contract_id=contract_id, answer="missing_piece",
                                       piece=f["piece"], recovery=f["recovery"], at=at, by="v"))
        session.add(rows.Agreement(case_id=case_id, at=at, by="v", wording=f["wording"], agreed=True))
        session.add(rows.ProtectionCheck(case_id=case_id, protection="pj", answer="not_covered", priority=True,
                                         reason=f["reason"], at=at, by="v"))
        session.add(rows.ProtectionCheck(case_id=case_id, protection="habitation", answer="elsewhere",
                                         insurer="Mutuelle Wu", at=at, by="v"))
        session.add(rows.Need(case_id=case_id, text=f["need"], at=at, by="v"))
        session.add(rows.Action(case_id=case_id, kind="rdv", due_on=date(2026, 7, 1), owner="v@agence.fr",
                                reason=f["action"], created_at=at, created_by="v"))
        facts = [
            ("profile_answered", {"field": "phone", "answer": "modified", "old_value": f["old_phone"],
                                  "new_value": LI_WU["phone"]}),
            ("contract_answered", {"contract": f["contract"], "answer": "missing_piece", "piece": f["piece"],
                                   "recovery": f["recovery"]}),
            ("contracts_validated", {"missing": [{"contract": f["contract"], "piece": f["piece"]}]}),
            ("agreement_recorded", {"agreed": True, "wording": f["wording"]}),
            ("need_recorded", {"text": f["need"]}),
            ("priority_set", {"protection": "pj", "priority": True, "reason": f["reason"]}),
            ("action_added", {"kind": "rdv", "owner": "v@agence.fr", "reason": f["action"]}),
            ("case_closed", {"reason": "unreachable", "note": f["note"]}),
        ]
        for event, data in facts:
            audit.append(session, event, data, actor="v", case_id=case_id, client_id=client_id, at=at)
        audit.append(session, "client_completed", {"changes": {name: [None, LI_WU[name]] for name in LI_WU}},
                     actor="import", client_id=client_id, at=at)
        card = outbox.enqueue(session, "message.upsert",
                              {"case_id": case_id, "role": "card", "text": "Mlle Li Wu — LW-AUTO-7 — 97133"},
                              case_id=case_id, now=at)
        outbox.enqueue(session, "chat.postMessage",
                       {"channel": "D1", "text": "Rappeler Li Wu au 06 87 65 43 21 (Mlle, 97133)"},
                       case_id=case_id, now=at)
        outbox.enqueue(session, "views.publish",
                       {"user_id": "U1", "view": {"blocks": [{"text": "Wu Li — li.wu@exemple.cn"}]}}, now=at)
        session.flush()
        card.status, card.result = "delivered", {"ok": True, "channel": "C1", "ts": "1.2",
                                                 "message": {"text": "Mlle Li Wu"}}
    return case_id


def whole_database(engine) -> str:
    """Every table and every column of the database as text, JSON values decoded (non-ASCII included);
    hashes and HMACs (64 hex digits) taken out, as they could hold a postcode's digits by chance."""
    cells = []
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for cell in row:
                    cells.append(str(cell))
                    if isinstance(cell, str) and cell[:1] in "[{":
                        with contextlib.suppress(ValueError):  # "[effacé]" is text, not JSON
                            cells.append(json.dumps(json.loads(cell), ensure_ascii=False))
                    elif isinstance(cell, dict | list):
                        cells.append(json.dumps(cell, ensure_ascii=False))
    return re.sub(r"[0-9a-f]{64}", "", "\n".join(cells))


def found_in(text: str, value: str) -> bool:
    if len(value) <= 3:  # a short value as a word of its own: "Li" is not in "Lieu"
        return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None
    return value.lower() in text.lower()


def test_erase_leaves_none_of_the_clients_values_anywhere_in_the_database(factory, engine):
    li_wu = li_wus_case(factory, engine)
    claire = closed_case_with_history(factory, engine, number="C001", contract_number="AUTO-1")
    values = [*LI_WU.values(), *FREE_TEXTS.values(), "06 87 65 43 21"]
    before = whole_database(engine)
    assert [value for value in values if not found_in(before, value)] == []

    erase_client(EraseClient("LW-0042"), UnitOfWork(engine, actor=LEAD, now=NOW))

    after = whole_database(engine)
    assert [value for value in values if found_in(after, value)] == []
    assert "Claire Martin attend un enfant" in after and "Mme Claire Martin" in after  # the other client stays
    with Session(engine) as session:
        assert verify(session).ok
        assert session.get(rows.M3Case, li_wu).close_reason == "rgpd_erased"
        assert session.get(rows.M3Case, claire).close_reason is None
        insurers = session.exec(select(rows.ProtectionCheck.insurer).where(rows.ProtectionCheck.case_id == li_wu,
                                                                           rows.ProtectionCheck.insurer.is_not(None)))
        assert list(insurers) == ["Mutuelle [effacé]"]
        card = session.exec(select(rows.Outbox).where(rows.Outbox.case_id == li_wu,
                                                      rows.Outbox.status == "delivered")).one()
        assert (card.payload, card.result, card.status) == ({}, {"ok": True, "channel": "C1", "ts": "1.2"},
                                                            "delivered")
