"""`m3bot show CASE` gives the case's compliance verdict, read from its trail, as text, JSON and in the PDF."""

from __future__ import annotations

import io
import json
from datetime import date

from pypdf import PdfReader

from flows import commands as cmd
from flows.case import ActionKind, AttemptOutcome, ContractAnswer, ProtectionAnswer
from tests.cli.test_cli import m3bot  # noqa: F401  (the fixture)
from tests.storage.test_dashboards import AGENT, apply, at, profile

WORDING = "Pouvons-nous parler de vos autres contrats ?"


def call_with_a_devis_without_reason(engine, case_id: int) -> None:
    """A call in the guide's order, closed with a bilan global (with its reason) and a devis without one."""
    apply(engine, case_id, AGENT, at(16), cmd.StartCall(AGENT), cmd.RecordAttempt(AttemptOutcome.available))
    profile(engine, case_id, AGENT, at(16), {})
    apply(
        engine, case_id, AGENT, at(16, 11),
        cmd.AnswerContract("AUTO-1", ContractAnswer.signed), cmd.ValidateContracts(),
        cmd.RecordAgreement(True, WORDING),
        *(cmd.AnswerProtection(code, ProtectionAnswer.not_covered) for code in ("pj", "gav", "prevoyance", "retraite")),
        cmd.FinishRebound(),
    )
    apply(
        engine, case_id, AGENT, at(16, 12),
        cmd.AddAction(ActionKind.rdv, date(2026, 6, 25), AGENT, purpose="bilan_global", reason="GAV et PJ absentes"),
        cmd.AddAction(ActionKind.devis, date(2026, 6, 25), AGENT),
        cmd.Close(),
    )


def test_show_prints_the_verdict_with_each_step_and_the_deviation_by_name(m3bot, engine, factory):
    case_id = factory.case()
    call_with_a_devis_without_reason(engine, case_id)

    shown = m3bot("show", case_id)

    assert shown.exit_code == 0, shown.output
    verdict_part = shown.output.split("Verdict de conformité")[1].split("Historique :")[0]
    assert "Parcours NON conforme : 1 écart(s)." in verdict_part
    assert "[x] Fiche client validée : 16/06/2026 10:30" in verdict_part
    assert f"Accord donné le 16/06/2026 11:30, question posée : « {WORDING} »" in verdict_part
    assert "4 protection(s) passée(s) en revue" in verdict_part
    assert ("Rendez-vous (bilan global des contrats), le 16/06/2026 12:30 — motif : GAV et PJ absentes"
            in verdict_part)
    assert "Devis, le 16/06/2026 12:30 — motif : AUCUN MOTIF" in verdict_part
    assert "Écart [proposal_without_reason] le 16/06/2026 12:30" in verdict_part


def test_show_json_carries_the_verdict_next_to_the_trace(m3bot, engine, factory):
    compliant, faulty = factory.case(), factory.case()
    call_with_a_devis_without_reason(engine, faulty)

    untouched = json.loads(m3bot("show", compliant, "--json").output)["verdict"]
    found = json.loads(m3bot("show", faulty, "--json").output)["verdict"]

    assert untouched["compliant"] is True and untouched["deviations"] == []
    assert found["compliant"] is False
    assert [d["code"] for d in found["deviations"]] == ["proposal_without_reason"]
    assert found["consent"]["wording"] == WORDING and found["consent"]["at"].startswith("2026-06-16T09:30")
    assert [(p["kind"], p["reason"]) for p in found["proposals"]] == [("rdv", "GAV et PJ absentes"), ("devis", None)]
    assert all(found["steps"][step] for step in ("profile_validated", "contracts_validated", "consent_given"))


def test_the_pdf_record_states_the_verdict(m3bot, engine, factory, tmp_path):
    case_id = factory.case()
    call_with_a_devis_without_reason(engine, case_id)
    path = tmp_path / "fiche.pdf"

    assert m3bot("show", case_id, "--pdf", path).exit_code == 0

    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages)
    assert "Verdict de conformité" in text and "Parcours NON conforme : 1 écart(s)." in text
    assert "[proposal_without_reason]" in text and "AUCUN MOTIF" in text
    assert text.index("Verdict de conformité") < text.index("1. Partie administrative")
