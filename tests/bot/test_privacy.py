"""The client's erasure as channel members see it, the `m3bot rgpd` commands and the compliance record PDF,
on a case taken through a whole call in Slack (real Bolt over HTTP, the stand-in's messages read back)."""

from __future__ import annotations

import io
import json
import stat
from datetime import UTC, date, datetime

import pytest
import time_machine
from pypdf import PdfReader
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from bot.compliance_pdf import audit_digest, compliance_record
from bot.views import ids
from flows.script import agreement_wording
from service.rgpd import EraseClient, erase_client
from storage.queries import case_trace
from storage.tables import AuditEntry, M3Case
from tests.bot.driver import CallDriver
from tests.bot.test_call_scenarios import open_case

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Paris: a legal calling slot
CLIENT = {"number": "C777", "last_name": "Zéphirin", "first_name": "Anselme", "email": "anselme.zephirin@exemple.fr",
          "phone": "+33698765432", "address": "12 impasse des Glycines 35000 Rennes", "postcode": "35000"}
PERSONAL = ["Zéphirin", "Anselme", "anselme.zephirin", "+33698765432", "0698765432", "06 98 76 54 32",
            "impasse des Glycines"]
NEED = "Anselme Zéphirin achète une maison à Rennes"


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def closed_call(harness, factory) -> CallDriver:
    """A whole call: preparation, contact, profile, contracts, rebound with a need, plan, closing."""
    case_id = open_case(harness, factory, **CLIENT)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    call.profile()
    call.contracts()
    call.click("step:rebound", ids.AGREEMENT, 0, "yes")  # a need is commercial: after the agreement
    call.click("step:rebound", ids.NEED_ADD)
    call.submit({ids.INPUT_NEED: NEED})
    call.rebound()
    call.plan_and_close(date(2026, 12, 8))
    return call


def shown_in_slack(harness) -> str:
    """Everything channel members can read: every card and every message of every thread."""
    shown = []
    for card in harness.slack.channel_messages(harness.channel):
        shown += [card, *harness.slack.thread(card.channel, card.ts)]
    return json.dumps([(m.text, m.blocks) for m in shown], ensure_ascii=False)


def test_erasure_anonymises_the_card_and_every_step_message_in_the_channel(harness, factory):
    call = closed_call(harness, factory)
    # An action's reminder sent to its owner by direct message, as the scheduler's notifier does.
    harness.enqueue(("chat.postMessage", {"channel": harness.agent_id, "text": "RDV avec Anselme Zéphirin"},
                     call.case_id))
    harness.drain()
    before = shown_in_slack(harness)
    assert "Zéphirin" in before and "achète une maison" in before
    messages_before = len(harness.slack.calls_to("chat.postMessage"))

    erase_client(EraseClient("C777"), harness.uow("chef@agence.fr"))
    harness.drain()

    after = shown_in_slack(harness)
    for value in [*PERSONAL, "achète une maison"]:
        assert value not in after
    (deleted,) = harness.slack.calls_to("chat.delete")
    assert deleted.status == 200 and deleted.args["channel"].startswith("D")
    assert "Client anonymisé" in after
    # Edited in place: no new message says the client's name (or anything else) again.
    assert len(harness.slack.calls_to("chat.postMessage")) == messages_before
    assert call.card().edited
    with Session(harness.engine) as session:
        record = pdf_text(compliance_record(session, call.case_id, actor="chef@agence.fr", now=CALL_TIME,
                                            timezone="Europe/Paris"))
    assert "Client anonymisé" in record and "Zéphirin" not in record and "achète" not in record


def test_rgpd_commands_export_erase_and_purge_with_the_actor_in_the_trail(harness, factory, monkeypatch, tmp_path):
    call = closed_call(harness, factory)
    monkeypatch.setenv("DATABASE_URL", harness.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("M3_CHANNEL", harness.channel)
    runner = CliRunner()
    export = tmp_path / "c777.json"

    exported = runner.invoke(app, ["rgpd", "export", "C777", "--output", str(export), "--actor", "dpo@agence.fr"])
    kept = runner.invoke(app, ["rgpd", "erase", "C777", "--actor", "dpo@agence.fr"], input="n\n")
    erased = runner.invoke(app, ["rgpd", "erase", "C777", "--yes", "--actor", "dpo@agence.fr"])
    purged = runner.invoke(app, ["rgpd", "purge", "--dry-run", "--actor", "dpo@agence.fr"])
    unknown = runner.invoke(app, ["rgpd", "export", "C777"])

    assert exported.exit_code == 0, exported.output
    assert stat.S_IMODE(export.stat().st_mode) == 0o600  # the client's whole file: its owner's only
    data = json.loads(export.read_text(encoding="utf-8"))
    assert data["client"]["email"] == CLIENT["email"] and data["cases"][0]["needs"][0]["text"] == NEED
    assert kept.exit_code == 1 and "Rien n'a été effacé" in kept.output
    assert erased.exit_code == 0, erased.output
    assert "Aucun client" in purged.output and purged.exit_code == 0
    assert unknown.exit_code == 2 and "Aucun client n°C777" in unknown.output
    with Session(harness.engine) as session:
        actors = dict(session.exec(select(AuditEntry.event, AuditEntry.actor)
                                   .where(AuditEntry.event.in_(["client_exported", "client_erased"]))).all())
    assert actors == {"client_exported": "dpo@agence.fr", "client_erased": "dpo@agence.fr"}
    harness.drain()
    assert "Zéphirin" not in shown_in_slack(harness) and call.case().client.email is None


def test_erase_command_closes_a_case_in_progress_with_its_own_reason(harness, factory, monkeypatch):
    case_id = open_case(harness, factory, **CLIENT)
    monkeypatch.setenv("DATABASE_URL", harness.engine.url.render_as_string(hide_password=False))

    asked = CliRunner().invoke(app, ["rgpd", "erase", "C777"], input="y\n")

    assert asked.exit_code == 0, asked.output
    assert "seront clôturés (motif : effacement RGPD)" in asked.output
    with Session(harness.engine) as session:
        case = session.get(M3Case, case_id)
        assert (case.state, case.close_reason) == ("closed", "rgpd_erased")
    harness.drain()
    assert "Zéphirin" not in shown_in_slack(harness) and "effacement RGPD" in shown_in_slack(harness)


def pdf_text(record: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(record)).pages)


def test_compliance_record_tells_the_call_in_the_guides_order_and_matches_the_trail(harness, factory, monkeypatch,
                                                                                   tmp_path):
    call = closed_call(harness, factory)
    with Session(harness.engine) as session:
        record = compliance_record(session, call.case_id, actor="chef@agence.fr", now=CALL_TIME,
                                   timezone="Europe/Paris")
        timeline = case_trace(session, call.case_id)["timeline"]

    text = " ".join(pdf_text(record).split())
    sections = ["1. Partie administrative", "2. Accord du client", "3. Besoins exprimés", "4. Proposition et plan",
                "Journal d'audit complet"]
    assert [text.index(s) for s in sections] == sorted(text.index(s) for s in sections)
    assert "Établie le 01/12/2026 10:30:00 par chef@agence.fr" in text
    assert " ".join(agreement_wording().split())[:60] in text
    assert NEED in text and "Aucune protection juridique pour son activité" in text and "MAIF" in text
    assert "Client disponible" in text and "Planifier RDV pour le 08/12/2026" in text
    assert audit_digest(timeline) in text.replace(" ", "")

    monkeypatch.setenv("DATABASE_URL", harness.engine.url.render_as_string(hide_password=False))
    written = CliRunner().invoke(app, ["show", str(call.case_id), "--pdf", str(tmp_path / "fiche.pdf")])
    shown = json.loads(CliRunner().invoke(app, ["show", str(call.case_id), "--json"]).output)
    assert written.exit_code == 0, written.output
    assert stat.S_IMODE((tmp_path / "fiche.pdf").stat().st_mode) == 0o600
    assert audit_digest(shown["timeline"]) in pdf_text((tmp_path / "fiche.pdf").read_bytes()).replace(" ", "").replace("\n", "")
