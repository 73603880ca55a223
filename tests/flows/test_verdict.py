"""The compliance verdict read from a trail: a call in the guide's order is compliant, and each departure
from it is listed under its own code, built here from fact sequences as the engine records them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from flows import commands as cmd
from flows import texts
from flows.case import PERSONAL_FIELDS, ActionKind, AttemptOutcome, ContractAnswer, ProfileAnswer, ProtectionAnswer
from flows.engine import confirmable, handle, structuring_protections
from flows.rules import Rules
from flows.verdict import DEVIATIONS, STEPS, Consent, Proposal, TrailFact, describe, verdict
from tests.flows.factories import AGENT, NOW, make_case

WORDING = "Pouvons-nous parler de vos autres contrats ?"
PROFILE = ("profile_validated", {"changed": []})
CONTRACTS = ("contracts_validated", {"missing": []})
AGREED = ("agreement_recorded", {"agreed": True, "wording": WORDING})
DECLINED = ("agreement_recorded", {"agreed": False, "wording": WORDING})
WITHDRAWN = ("consent_withdrawn", {"wording": "je ne veux plus en parler"})
GIVEN = ("consent_given", {"wording": WORDING})  # the consent facts with one name per answer
REFUSED = ("consent_declined", {"wording": WORDING})
OPPOSED = ("opposition_set", {})
LIFTED = ("opposition_lifted", {})
GAV = ("protection_answered", {"protection": "gav", "answer": "not_covered", "insurer": None})
PJ_ELSEWHERE = ("protection_answered", {"protection": "pj", "answer": "elsewhere", "insurer": "MAIF"})
PRIORITY = ("priority_set", {"protection": "gav", "priority": True, "reason": "deux enfants, aucune GAV"})
NEED = ("need_recorded", {"text": "changer de voiture"})
DEVIS = ("action_added", {"kind": "devis", "due_on": "2026-12-20", "owner": AGENT, "purpose": None,
                          "reason": "GAV prioritaire"})
BILAN = ("action_added", {"kind": "rdv", "due_on": "2026-12-20", "owner": AGENT, "purpose": "bilan_global",
                          "reason": "contrats extérieurs à revoir"})
RELANCE = ("action_added", {"kind": "relance", "due_on": "2026-12-20", "owner": AGENT, "purpose": None,
                            "reason": None})
CLOSED = ("case_closed", {"reason": "completed", "plan": []})


def trail(*facts: tuple[str, dict]) -> list[TrailFact]:
    """The facts one minute apart, in this order."""
    return [TrailFact(name, data, NOW + timedelta(minutes=n)) for n, (name, data) in enumerate(facts)]


def codes(*facts: tuple[str, dict]) -> list[str]:
    return [d.code for d in verdict(trail(*facts)).deviations]


def test_a_call_in_the_guides_order_is_compliant_and_shows_each_step_with_its_time():
    facts = trail(("call_started", {}), PROFILE, CONTRACTS, AGREED, GAV, PJ_ELSEWHERE, PRIORITY, NEED,
                  ("rebound_finished", {}), DEVIS, BILAN, RELANCE, CLOSED)
    found = verdict(facts)

    assert found.compliant and found.deviations == []
    assert found.steps == {"profile_validated": facts[1].at, "contracts_validated": facts[2].at,
                           "consent_given": facts[3].at, "needs_and_protections": facts[4].at,
                           "proposals": facts[9].at}
    assert found.consent == Consent(agreed=True, wording=WORDING, at=facts[3].at)
    assert found.protections == {"gav": "not_covered", "pj": "elsewhere"}
    assert found.priorities == {"gav": "deux enfants, aucune GAV"} and found.needs == ["changer de voiture"]
    # The relance is an administrative follow-up, not a proposal.
    assert found.proposals == [Proposal("devis", None, "GAV prioritaire", facts[9].at),
                               Proposal("rdv", "bilan_global", "contrats extérieurs à revoir", facts[10].at)]


def test_a_real_engine_call_through_every_step_is_compliant():
    case = make_case()
    commands = [
        cmd.StartCall(AGENT), cmd.RecordAttempt(AttemptOutcome.available),
        *(cmd.AnswerProfile(name, ProfileAnswer.confirmed if confirmable(case, name) else ProfileAnswer.not_given)
          for name in PERSONAL_FIELDS), cmd.ValidateProfile(),
        cmd.AnswerContract("AUTO-1", ContractAnswer.signed), cmd.ValidateContracts(),
        cmd.RecordAgreement(True, WORDING),
        *(cmd.AnswerProtection(code, ProtectionAnswer.not_covered) for code in structuring_protections(case)),
        cmd.SetPriority("gav", True, "aucune GAV"), cmd.FinishRebound(),
        cmd.AddAction(ActionKind.devis, date(2026, 12, 20), AGENT, reason="GAV"), cmd.Close(),
    ]
    facts = []
    for step, command in enumerate(commands):
        now = NOW + timedelta(minutes=step)
        facts += [TrailFact(f.name, f.data, now) for f in handle(case, command, actor=AGENT, now=now, rules=Rules())]

    found = verdict(facts)
    assert found.compliant, found.deviations
    assert all(found.steps[step] is not None for step in STEPS)


def test_a_case_closed_before_the_client_was_reached_owes_nothing():
    assert codes(("attempt_recorded", {"outcome": "no_answer"}), ("case_closed", {"reason": "unreachable"})) == []


def test_a_declined_rebound_with_an_administrative_plan_is_compliant():
    found = verdict(trail(PROFILE, CONTRACTS, DECLINED, RELANCE, CLOSED))
    assert found.compliant and found.consent.agreed is False and found.steps["consent_given"] is None


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ((CONTRACTS, AGREED, GAV, CLOSED), ["profile_missing"]),
        ((CONTRACTS, PROFILE, AGREED, GAV, CLOSED), ["profile_late"]),
        ((PROFILE, AGREED, GAV, CLOSED), ["contracts_missing"]),
        ((PROFILE, AGREED, CONTRACTS, GAV, CLOSED), ["contracts_late"]),
        ((PROFILE, GAV, CONTRACTS, AGREED, CLOSED), ["contracts_late", "commercial_before_consent"]),
        ((PROFILE, CONTRACTS, CLOSED), ["consent_missing"]),
        ((PROFILE, CONTRACTS, ("agreement_recorded", {"agreed": True, "wording": "  "}), GAV, CLOSED),
         ["consent_wording_missing"]),
        ((PROFILE, CONTRACTS, NEED, AGREED, GAV, CLOSED), ["commercial_before_consent"]),
        ((PROFILE, CONTRACTS, DECLINED, DEVIS, CLOSED), ["commercial_after_refusal", "needs_missing"]),
        ((PROFILE, CONTRACTS, DECLINED, NEED, RELANCE, CLOSED), ["commercial_after_refusal"]),
        ((PROFILE, CONTRACTS, AGREED, GAV, WITHDRAWN, PRIORITY, CLOSED), ["commercial_after_refusal"]),
        ((PROFILE, CONTRACTS, REFUSED, NEED, CLOSED), ["commercial_after_refusal"]),
        ((PROFILE, CONTRACTS, GIVEN, GAV, OPPOSED, DEVIS, CLOSED), ["commercial_under_opposition"]),
        ((PROFILE, CONTRACTS, AGREED, BILAN, GAV, CLOSED), ["needs_missing"]),
        ((PROFILE, CONTRACTS, AGREED, CLOSED), ["needs_missing"]),
        ((PROFILE, CONTRACTS, AGREED, GAV, ("action_added", {**DEVIS[1], "reason": None}), CLOSED),
         ["proposal_without_reason"]),
        ((PROFILE, CONTRACTS, AGREED, GAV, ("priority_set", {**PRIORITY[1], "reason": ""}), CLOSED),
         ["priority_without_reason"]),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
def test_each_deviation_is_named(facts, expected):
    assert codes(*facts) == expected


def test_every_commercial_fact_after_a_refusal_is_listed_with_its_time():
    facts = trail(PROFILE, CONTRACTS, DECLINED, NEED, GAV, CLOSED)
    found = verdict(facts)
    assert [(d.code, d.at, d.fact) for d in found.deviations] == [
        ("commercial_after_refusal", facts[3].at, "need_recorded"),
        ("commercial_after_refusal", facts[4].at, "protection_answered"),
    ]


def test_an_administrative_step_skipped_is_named_once_at_the_first_fact_that_came_too_early():
    facts = trail(AGREED, GAV, DEVIS, CLOSED)
    found = verdict(facts)
    assert [(d.code, d.at) for d in found.deviations] == [("profile_missing", facts[0].at),
                                                          ("contracts_missing", facts[0].at)]


def test_consent_facts_named_by_answer_read_as_the_single_agreement_fact():
    for given, declined in ((AGREED, DECLINED), (GIVEN, REFUSED)):
        assert verdict(trail(PROFILE, CONTRACTS, given, GAV, DEVIS, CLOSED)).compliant
        found = verdict(trail(PROFILE, CONTRACTS, declined, RELANCE, CLOSED))
        assert found.compliant and found.consent.agreed is False and found.consent.wording == WORDING


def test_an_opposition_lifted_at_the_clients_request_allows_the_rebound_again():
    assert codes(PROFILE, CONTRACTS, OPPOSED, LIFTED, GIVEN, GAV, DEVIS, CLOSED) == []


def test_an_action_is_a_proposal_by_its_commercial_aim_and_a_devis_always_is():
    commercial_rdv = ("action_added", {**RELANCE[1], "kind": "rdv", "aim": "commercial"})
    admin_relance = ("action_added", {**RELANCE[1], "aim": "administrative"})
    admin_devis = ("action_added", {**DEVIS[1], "reason": None, "aim": "administrative"})
    found = verdict(trail(PROFILE, CONTRACTS, GIVEN, GAV, commercial_rdv, admin_relance, admin_devis, CLOSED))
    assert [(p.kind, p.reason) for p in found.proposals] == [("rdv", None), ("devis", None)]
    assert [d.code for d in found.deviations] == ["proposal_without_reason", "proposal_without_reason"]


def test_a_consent_given_after_a_first_refusal_allows_the_rebound_from_then_on():
    found = verdict(trail(PROFILE, CONTRACTS, DECLINED, AGREED, GAV, CLOSED))
    assert found.compliant and found.consent.agreed


def test_the_consent_in_force_is_the_last_answer_and_a_withdrawal_keeps_its_time():
    facts = trail(PROFILE, CONTRACTS, AGREED, GAV, WITHDRAWN, RELANCE, CLOSED)
    found = verdict(facts)
    assert found.compliant
    assert found.consent == Consent(True, WORDING, facts[2].at, withdrawn_at=facts[4].at)


def test_priorities_follow_the_trail_unset_or_dropped_when_held_elsewhere():
    pj_priority = ("priority_set", {"protection": "pj", "priority": True, "reason": "aucune PJ"})
    unset = ("priority_set", {"protection": "gav", "priority": False, "reason": None})
    found = verdict(trail(PROFILE, CONTRACTS, AGREED, GAV, PRIORITY,
                          ("protection_answered", {"protection": "pj", "answer": "to_explore"}), pj_priority,
                          unset, PJ_ELSEWHERE))
    assert found.priorities == {} and found.protections == {"gav": "not_covered", "pj": "elsewhere"}


def test_every_deviation_and_step_has_a_french_label():
    for code in DEVIATIONS:
        assert texts.t(f"verdict.deviations.{code}") and texts.t(f"verdict.names.{code}")
    for step in STEPS:
        assert texts.t(f"verdict.steps.{step}")


def test_the_description_names_the_deviations_and_the_proposals_reasons():
    facts = trail(PROFILE, CONTRACTS, AGREED, GAV, ("action_added", {**DEVIS[1], "reason": None}), BILAN, CLOSED)
    lines = describe(verdict(facts), lambda at: at.strftime("%H:%M"))
    text = "\n".join(lines)
    assert lines[0] == "Parcours NON conforme : 1 écart(s)."
    assert f"« {WORDING} »" in text and "Accord donné le 09:32" in text
    assert "Devis, le 09:34 — motif : AUCUN MOTIF" in text
    assert "Rendez-vous (bilan global des contrats), le 09:35 — motif : contrats extérieurs à revoir" in text
    assert "Écart [proposal_without_reason] le 09:34 : proposition commerciale" in text
