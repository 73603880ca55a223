"""The engine enforces the guide's order, its checklists and the French calling rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from flows import commands as cmd
from flows.case import (
    ActionKind,
    ActionStatus,
    Attempt,
    AttemptOutcome,
    ClientType,
    CloseReason,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from flows.engine import Refused, authorize, checklist_progress, contact_limit, handle, structuring_protections
from flows.rules import Rules
from tests.flows.factories import AGENT, COLLEAGUE, NOW, SELLER, make_case
from tests.support.refusals import refused_with

RULES = Rules(pro_account_manager="pro@agence.fr")


def run(case, command, now=NOW, actor=AGENT, rules=RULES):
    return handle(case, command, actor=actor, now=now, rules=rules)


def reach_profile(case, now=NOW):
    run(case, cmd.StartCall(caller=AGENT), now)
    run(case, cmd.RecordAttempt(AttemptOutcome.available), now)


def answer_all_profile(case, answer=ProfileAnswer.confirmed):
    """Every field answered `answer`; an empty one cannot be confirmed and is recorded as not communicated."""
    for name in case.client.profile_fields():
        if name not in case.profile:
            empty = answer is ProfileAnswer.confirmed and not case.client.value(name)
            run(case, cmd.AnswerProfile(name, ProfileAnswer.not_given if empty else answer))


def reach_rebound(case):
    reach_profile(case)
    answer_all_profile(case)
    run(case, cmd.ValidateProfile())
    for contract in case.contracts:
        run(case, cmd.AnswerContract(contract.number, ContractAnswer.signed))
    run(case, cmd.ValidateContracts())


def reach_action_plan(case):
    reach_rebound(case)
    run(case, cmd.RecordAgreement(agreed=True, wording="Puis-je vous poser quelques questions ?"))
    for code in structuring_protections(case):
        run(case, cmd.AnswerProtection(code, ProtectionAnswer.not_covered))
    run(case, cmd.FinishRebound())


def test_particulier_walks_the_guide_order_to_closed():
    case = make_case()
    reach_action_plan(case)
    assert case.state is State.action_plan
    run(case, cmd.AddAction(ActionKind.rdv, date(2026, 12, 10), AGENT, purpose="bilan_global"))
    facts = run(case, cmd.Close())
    assert case.state is State.closed
    assert case.close_reason is CloseReason.completed
    assert facts[0].data["plan"] == [{"kind": "rdv", "due_on": "2026-12-10", "owner": AGENT}]
    assert checklist_progress(case)[0] == checklist_progress(case)[1]


def test_commercial_step_refused_before_contract_validation():
    case = make_case()
    reach_profile(case)
    answer_all_profile(case)
    run(case, cmd.ValidateProfile())
    with refused_with("après l'administratif"):
        run(case, cmd.AnswerProtection("pj", ProtectionAnswer.not_covered))
    assert case.protections == {}
    assert case.state is State.admin_contract_validation


def test_profile_validation_refused_while_a_field_is_unanswered():
    case = make_case()
    reach_profile(case)
    run(case, cmd.AnswerProfile("phone", ProfileAnswer.confirmed))
    with refused_with("Adresse|adresse"):
        run(case, cmd.ValidateProfile())
    assert case.state is State.admin_profile_update


def test_missing_piece_needs_its_nature_and_recovery_mode():
    case = make_case()
    reach_profile(case)
    answer_all_profile(case)
    run(case, cmd.ValidateProfile())
    with refused_with("nature"):
        run(case, cmd.AnswerContract("AUTO-1", ContractAnswer.missing_piece, piece="RIB"))
    run(case, cmd.AnswerContract("AUTO-1", ContractAnswer.missing_piece, piece="RIB", recovery="e-mail"))
    assert case.contract_checks["AUTO-1"].piece == "RIB"


def test_rebound_refused_until_the_client_agrees():
    case = make_case()
    reach_rebound(case)
    with refused_with("accord"):
        run(case, cmd.AnswerProtection("pj", ProtectionAnswer.not_covered))
    run(case, cmd.RecordAgreement(agreed=True, wording="Accepteriez-vous ?"))
    run(case, cmd.AnswerProtection("pj", ProtectionAnswer.not_covered))
    assert case.agreement.wording == "Accepteriez-vous ?"


def test_declined_rebound_goes_straight_to_the_action_plan():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(agreed=False, wording="Accepteriez-vous ?"))
    with pytest.raises(Refused):
        run(case, cmd.AnswerProtection("pj", ProtectionAnswer.not_covered))
    run(case, cmd.FinishRebound())
    assert case.state is State.action_plan


def test_rebound_cannot_finish_with_an_unanswered_structuring_protection():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(agreed=True, wording="ok ?"))
    run(case, cmd.AnswerProtection("pj", ProtectionAnswer.elsewhere, insurer="MAAF", renewal_on=date(2027, 3, 1)))
    with refused_with("Garantie des accidents de la vie"):
        run(case, cmd.FinishRebound())


def test_fourth_priority_is_refused_with_the_reason():
    case = make_case(ClientType.tns, professional_status="artisan")
    reach_rebound(case)
    run(case, cmd.RecordAgreement(agreed=True, wording="ok ?"))
    codes = structuring_protections(case)
    assert len(codes) >= 4
    for code in codes:
        run(case, cmd.AnswerProtection(code, ProtectionAnswer.to_explore))
    for code in codes[:3]:
        run(case, cmd.SetPriority(code, True, reason="Le client n'est pas couvert"))
    with refused_with("Au plus 3"):
        run(case, cmd.SetPriority(codes[3], True, reason="aussi"))
    assert sum(p.priority for p in case.protections.values()) == 3


def test_held_elsewhere_cannot_be_a_priority():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(agreed=True, wording="ok ?"))
    run(case, cmd.AnswerProtection("pj", ProtectionAnswer.elsewhere, insurer="AXA"))
    with refused_with("manque"):
        run(case, cmd.SetPriority("pj", True, reason="x"))


def test_case_cannot_close_without_a_dated_action():
    case = make_case()
    reach_action_plan(case)
    with refused_with("plan d'actions daté"):
        run(case, cmd.Close())
    action_id_less = run(case, cmd.AddAction(ActionKind.devis, date(2026, 12, 3), AGENT))
    assert action_id_less[0].name == "action_added"
    case.actions[0].id = 11  # storage gives ids on save
    run(case, cmd.RemoveAction(11))
    assert case.actions[0].status is ActionStatus.cancelled
    with pytest.raises(Refused):
        run(case, cmd.Close())


def test_action_due_in_the_past_is_refused():
    case = make_case()
    reach_action_plan(case)
    with refused_with("passée"):
        run(case, cmd.AddAction(ActionKind.relance, date(2026, 11, 30), AGENT))


def test_tns_detected_turns_the_file_pro_and_asks_pro_fields():
    case = make_case()
    reach_profile(case)
    facts = run(case, cmd.AnswerProfile("professional_status", ProfileAnswer.modified, "artisan"))
    assert "tns_detected" in [f.name for f in facts]
    assert case.client.client_type is ClientType.tns
    assert case.client.account_manager == "pro@agence.fr"
    assert case.agent == AGENT  # the agent on the call keeps the case
    assert {"siren", "naf", "activity"} <= set(case.client.profile_fields())
    answer_all_profile(case)
    run(case, cmd.AnswerProfile("siren", ProfileAnswer.modified, "732 829 320"))
    run(case, cmd.AnswerProfile("naf", ProfileAnswer.modified, "4332a"))
    assert case.client.naf == "43.32A"
    assert case.client.siren == "732829320"


def test_correcting_the_tns_answer_restores_the_file():
    case = make_case()
    reach_profile(case)
    run(case, cmd.AnswerProfile("professional_status", ProfileAnswer.modified, "artisan"))
    facts = run(case, cmd.AnswerProfile("professional_status", ProfileAnswer.modified, "salarie"))
    assert "profile_corrected" in [f.name for f in facts]
    assert case.client.client_type is ClientType.particulier
    assert case.client.account_manager is None
    assert "siren" not in case.client.profile_fields()


def test_gerant_minoritaire_is_not_tns():
    case = make_case()
    reach_profile(case)
    run(case, cmd.AnswerProfile("professional_status", ProfileAnswer.modified, "gerant_minoritaire"))
    assert case.client.client_type is ClientType.particulier


def test_invalid_siren_is_refused_and_changes_nothing():
    case = make_case(ClientType.professionnel)
    reach_profile(case)
    with pytest.raises(Refused):
        run(case, cmd.AnswerProfile("siren", ProfileAnswer.modified, "123456789"))
    assert "siren" not in case.profile and case.client.siren is None


def test_same_answer_twice_records_one_fact():
    case = make_case()
    reach_profile(case)
    assert run(case, cmd.AnswerProfile("email", ProfileAnswer.confirmed))
    assert run(case, cmd.AnswerProfile("email", ProfileAnswer.confirmed)) == []


def test_callback_outside_legal_slots_needs_the_clients_request():
    case = make_case()
    run(case, cmd.StartCall(caller=COLLEAGUE))
    sunday = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    with refused_with("hors des horaires"):
        run(case, cmd.RecordAttempt(AttemptOutcome.callback, callback_at=sunday))
    run(case, cmd.RecordAttempt(AttemptOutcome.callback, callback_at=sunday, client_requested=True,
                                request_wording="Rappelez-moi dimanche à 11h"))
    assert case.state is State.scheduled_callback
    run(case, cmd.CallbackDue(), now=sunday, actor="scheduler")
    # The client asked for Sunday: the call is allowed then.
    run(case, cmd.RecordAttempt(AttemptOutcome.available), now=sunday + timedelta(minutes=5))
    assert case.state is State.admin_profile_update


def test_call_refused_outside_calling_hours():
    case = make_case()
    evening = datetime(2026, 12, 1, 19, 30, tzinfo=UTC)  # 20:30 in Paris
    with refused_with("créneaux"):
        run(case, cmd.StartCall(caller=AGENT), now=evening)
    assert case.state is State.preparation


def test_fifth_attempt_in_thirty_days_is_refused():
    case = make_case()
    case.client_attempts = [
        Attempt(at=NOW - timedelta(days=d), by=COLLEAGUE, outcome=AttemptOutcome.no_answer, case_id=99)
        for d in (1, 7, 14, 21)
    ]
    with refused_with("4 appels"):
        run(case, cmd.StartCall(caller=AGENT))


def test_no_call_within_sixty_days_of_a_refusal():
    case = make_case()
    case.client_attempts = [Attempt(at=NOW - timedelta(days=59), by=COLLEAGUE, outcome=AttemptOutcome.refused)]
    with refused_with("60 jours"):
        run(case, cmd.StartCall(caller=AGENT))
    case.client_attempts[0].at = NOW - timedelta(days=61)
    run(case, cmd.StartCall(caller=AGENT))


def test_contact_limit_says_when_a_call_is_allowed_again():
    rules = Rules()
    attempts = [(NOW - timedelta(days=d), AttemptOutcome.no_answer) for d in (1, 7, 14, 21)]
    assert contact_limit(attempts, NOW, rules) == ("too_many_attempts", NOW + timedelta(days=9))
    assert contact_limit(attempts[:3], NOW, rules) is None
    refused = [(NOW - timedelta(days=59), AttemptOutcome.refused)]
    assert contact_limit(refused, NOW, rules) == ("refusal_quiet_period", NOW + timedelta(days=1))
    assert contact_limit(refused, NOW + timedelta(days=1), rules) is None


def test_refusal_closes_the_case_with_its_reason():
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    run(case, cmd.RecordAttempt(AttemptOutcome.refused))
    assert case.state is State.closed and case.close_reason is CloseReason.refused


def test_an_agent_cannot_close_a_case_with_the_erase_reason():
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))

    with refused_with("effacement RGPD"):
        run(case, cmd.CloseEarly(CloseReason.rgpd_erased))
    assert case.state is not State.closed and case.close_reason is None


def test_unreachable_closing_needs_enough_unanswered_attempts():
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    for day in range(2):
        run(case, cmd.RecordAttempt(AttemptOutcome.no_answer), now=NOW + timedelta(days=day))
    with refused_with("injoignable"):
        run(case, cmd.CloseEarly(CloseReason.unreachable))
    run(case, cmd.RecordAttempt(AttemptOutcome.no_answer), now=NOW + timedelta(days=2))
    run(case, cmd.CloseEarly(CloseReason.unreachable, note="messagerie pleine"))
    assert case.close_reason is CloseReason.unreachable and case.close_note == "messagerie pleine"


def test_only_assigned_agent_seller_and_leads_may_act():
    case = make_case()
    authorize(case, AGENT, is_lead=False, command=cmd.StartCall(AGENT))
    authorize(case, SELLER, is_lead=False, command=cmd.StartCall(SELLER))
    authorize(case, "chef@agence.fr", is_lead=True, command=cmd.Reassign(COLLEAGUE))
    with refused_with("pas le vôtre"):
        authorize(case, COLLEAGUE, is_lead=False, command=cmd.StartCall(COLLEAGUE))
    with refused_with("responsable"):
        authorize(case, AGENT, is_lead=False, command=cmd.Reassign(COLLEAGUE))


def test_closed_case_refuses_every_step_but_completing_an_action():
    case = make_case()
    reach_action_plan(case)
    run(case, cmd.AddAction(ActionKind.relance, date(2026, 12, 15), AGENT))
    case.actions[0].id = 5
    run(case, cmd.Close())
    with refused_with("clôturé"):
        run(case, cmd.AddAction(ActionKind.devis, date(2026, 12, 15), AGENT))
    run(case, cmd.CompleteAction(5))
    assert case.actions[0].status is ActionStatus.done
