"""Consent gates the commercial part, the opposition is the client's, and the tightened calling rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

import wording
from flows import commands as cmd
from flows.case import (
    ActionKind,
    ActionStatus,
    Aim,
    Attempt,
    AttemptOutcome,
    ClientType,
    CloseReason,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from flows.engine import Refused, authorize, commercial_refusal, reminder_barred
from flows.rules import Rules
from flows.validation import Invalid, normalize_siren
from tests.flows.factories import AGENT, COLLEAGUE, NOW, make_case
from tests.flows.test_engine import answer_all_profile, reach_profile, reach_rebound, run

RULES = Rules()
WORDING = "Accepteriez-vous que nous parlions de vos autres contrats ?"
DUE = date(2026, 12, 10)


def refused_code(case, command, **kwargs) -> str | None:
    try:
        run(case, command, **kwargs)
    except Refused as refusal:
        return refusal.code
    return None


# --- Consent --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    cmd.AnswerProtection("pj", ProtectionAnswer.not_covered),
    cmd.RecordNeed("Une GAV pour les enfants"),
])
def test_nothing_commercial_before_the_agreement_is_given(command):
    case = make_case()
    reach_rebound(case)
    assert refused_code(case, command) == "agreement_missing"
    assert case.protections == {} and case.needs == []


def test_after_a_refusal_only_administrative_actions_and_closing_remain():
    case = make_case()
    reach_rebound(case)
    facts = run(case, cmd.RecordAgreement(False, WORDING))
    assert [f.name for f in facts] == ["consent_declined"]
    assert facts[0].data["wording"] == WORDING and facts[0].data["at"] == NOW.isoformat()
    assert refused_code(case, cmd.RecordNeed("Un devis habitation")) == "agreement_declined"
    run(case, cmd.FinishRebound())
    assert refused_code(case, cmd.AddAction(ActionKind.devis, DUE, AGENT, aim=Aim.administrative)) == (
        "agreement_declined")  # a devis is always commercial
    assert refused_code(case, cmd.AddAction(ActionKind.rdv, DUE, AGENT, purpose="bilan_global",
                                            aim=Aim.administrative)) == "agreement_declined"
    assert refused_code(case, cmd.AddAction(ActionKind.rdv, DUE, AGENT)) == "agreement_declined"
    run(case, cmd.AddAction(ActionKind.relance, DUE, AGENT, aim=Aim.administrative, reason="RIB à recevoir"))
    facts = run(case, cmd.Close())
    assert case.close_reason is CloseReason.rebound_refused
    assert facts[0].data["reason"] == "rebound_refused"


def test_a_refused_rebound_may_close_without_any_action():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(False, WORDING))
    run(case, cmd.FinishRebound())
    run(case, cmd.Close())
    assert (case.state, case.close_reason) == (State.closed, CloseReason.rebound_refused)


def test_the_agreement_is_answered_once_and_a_refusal_cannot_become_a_yes():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(False, WORDING))
    assert run(case, cmd.RecordAgreement(False, WORDING)) == []  # a double click
    assert refused_code(case, cmd.RecordAgreement(True, WORDING)) == "agreement_already_recorded"
    assert not case.agreement.agreed


def test_a_refusal_blocks_commercial_calls_for_the_quiet_period_but_not_administrative_ones():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(False, WORDING))
    assert case.client.no_commercial_until == date(2026, 12, 1) + timedelta(days=RULES.refusal_quiet_days)
    later = make_case()
    later.client = case.client  # the client's file, shared by his cases
    reach_rebound(later)  # the administrative call goes on
    assert refused_code(later, cmd.RecordAgreement(True, WORDING)) == "rebound_quiet_period"
    run(later, cmd.FinishRebound())
    assert commercial_refusal(later, date(2027, 1, 29)).code == "rebound_quiet_period"
    assert commercial_refusal(make_case(), date(2027, 1, 30)).code == "agreement_missing"
    later.client.no_commercial_until = date(2027, 1, 30)
    assert commercial_refusal(later, date(2027, 1, 30)).code == "agreement_missing"


def test_withdrawal_is_recorded_with_its_time_and_stops_everything_commercial():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(True, WORDING))
    run(case, cmd.AnswerProtection("gav", ProtectionAnswer.not_covered))
    for code in ("pj", "prevoyance", "retraite"):
        run(case, cmd.AnswerProtection(code, ProtectionAnswer.not_covered))
    run(case, cmd.FinishRebound())
    run(case, cmd.AddAction(ActionKind.devis, DUE, AGENT))
    run(case, cmd.AddAction(ActionKind.relance, DUE, AGENT, aim=Aim.administrative))
    withdrawn_at = NOW + timedelta(minutes=3)
    facts = run(case, cmd.WithdrawAgreement("Finalement je ne veux pas en parler"), now=withdrawn_at)
    assert facts[0].name == "consent_withdrawn" and facts[0].data["at"] == withdrawn_at.isoformat()
    assert facts[1].name == "action_removed" and facts[1].data["cause"] == "consent_withdrawn"
    assert case.agreement.withdrawn_at == withdrawn_at
    assert [a.status for a in case.actions] == [ActionStatus.cancelled, ActionStatus.todo]
    assert refused_code(case, cmd.AddAction(ActionKind.devis, DUE, AGENT)) == "agreement_withdrawn"
    run(case, cmd.Close())
    assert case.close_reason is CloseReason.rebound_refused


def test_withdrawal_needs_a_given_agreement():
    case = make_case()
    reach_rebound(case)
    assert refused_code(case, cmd.WithdrawAgreement()) == "agreement_not_given"


# --- Opposition ---------------------------------------------------------------------------------------


def test_opposition_is_the_clients_and_every_later_case_honours_it():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(True, WORDING))
    facts = run(case, cmd.SetOpposition(opposed=True))
    assert facts[0].name == "opposition_set"
    assert refused_code(case, cmd.AnswerProtection("pj", ProtectionAnswer.not_covered)) == "opposition"
    later = make_case()
    later.client = case.client
    reach_rebound(later)
    assert refused_code(later, cmd.RecordAgreement(True, WORDING)) == "opposition"
    run(later, cmd.FinishRebound())  # nothing commercial to hold: the rebound ends
    assert refused_code(later, cmd.AddAction(ActionKind.devis, DUE, AGENT)) == "opposition"
    run(later, cmd.Close())
    assert later.close_reason is CloseReason.rebound_refused


def test_only_a_lead_lifts_an_opposition():
    case = make_case()
    run(case, cmd.SetOpposition(opposed=True))
    with pytest.raises(Refused) as refusal:
        authorize(case, AGENT, is_lead=False, command=cmd.SetOpposition(opposed=False))
    assert refusal.value.code == "opposition_lift_lead_only"
    authorize(case, AGENT, is_lead=False, command=cmd.SetOpposition(opposed=True))
    authorize(case, "lead@agence.fr", is_lead=True, command=cmd.SetOpposition(opposed=False))
    facts = run(case, cmd.SetOpposition(opposed=False), actor="lead@agence.fr")
    assert [f.name for f in facts] == ["opposition_lifted"] and case.client.opposition_at is None


def test_opposition_can_be_set_on_a_closed_case_and_bars_the_commercial_reminders():
    case = make_case()
    reach_rebound(case)
    run(case, cmd.RecordAgreement(True, WORDING))
    for code in ("pj", "gav", "prevoyance", "retraite"):
        run(case, cmd.AnswerProtection(code, ProtectionAnswer.not_covered))
    run(case, cmd.FinishRebound())
    run(case, cmd.AddAction(ActionKind.devis, DUE, AGENT))
    run(case, cmd.AddAction(ActionKind.relance, DUE, AGENT, aim=Aim.administrative))
    run(case, cmd.Close())
    devis, relance = case.actions
    assert not reminder_barred(case, devis, DUE)
    other = make_case()
    other.client = case.client
    run(other, cmd.SetOpposition(opposed=True))  # set from the client's next case
    assert reminder_barred(case, devis, DUE) and not reminder_barred(case, relance, DUE)


# --- Calling rules ------------------------------------------------------------------------------------


def _express(case, at: datetime, now: datetime = NOW):
    return run(case, cmd.RecordAttempt(AttemptOutcome.callback, callback_at=at, client_requested=True,
                                       request_wording="Rappelez-moi à 21h"), now=now)


def test_express_request_allows_one_attempt_from_its_time_to_fifteen_minutes_after():
    evening = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)  # 21:00 in Paris: out of the slots
    for minutes, allowed in ((-5, False), (0, True), (15, True), (16, False)):
        case = make_case()
        run(case, cmd.StartCall(caller=AGENT))
        facts = _express(case, evening)
        assert facts[-1].name == "express_request_booked" and facts[-1].data["wording"] == "Rappelez-moi à 21h"
        run(case, cmd.CallbackDue(), now=evening, actor="scheduler")
        code = refused_code(case, cmd.RecordAttempt(AttemptOutcome.no_answer), now=evening + timedelta(minutes=minutes))
        assert (code is None) is allowed, minutes
    # One attempt: the exception is spent once it is recorded.
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    _express(case, evening)
    run(case, cmd.CallbackDue(), now=evening, actor="scheduler")
    run(case, cmd.RecordAttempt(AttemptOutcome.no_answer), now=evening + timedelta(minutes=1))
    assert refused_code(case, cmd.RecordAttempt(AttemptOutcome.no_answer),
                        now=evening + timedelta(minutes=2)) == "outside_calling_hours"


def test_no_exception_can_be_booked_from_inside_one():
    evening = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    _express(case, evening)
    run(case, cmd.CallbackDue(), now=evening, actor="scheduler")
    night = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    with pytest.raises(Refused) as refusal:
        _express(case, night, now=evening + timedelta(minutes=5))
    assert refusal.value.code == "express_from_express"
    assert case.callback_at == evening and case.state is State.contact_attempt


def test_an_express_request_needs_the_clients_words():
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    sunday = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    code = refused_code(case, cmd.RecordAttempt(AttemptOutcome.callback, callback_at=sunday, client_requested=True))
    assert code == "express_wording_missing"


def test_call_now_is_refused_before_dialling_with_the_date_calling_is_allowed_again():
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    run(case, cmd.RecordAttempt(AttemptOutcome.callback, callback_at=NOW + timedelta(hours=1)))
    case.client_attempts += [Attempt(at=NOW - timedelta(days=d), by=COLLEAGUE, outcome=AttemptOutcome.no_answer)
                             for d in (2, 9, 16)]
    with pytest.raises(Refused) as refusal:
        run(case, cmd.CallbackDue(dialling=True), now=NOW + timedelta(minutes=55))
    assert refusal.value.code == "too_many_attempts" and "15/12/2026" in wording.refusal(refusal.value)
    assert case.state is State.scheduled_callback
    run(case, cmd.CallbackDue(), now=NOW + timedelta(hours=1), actor="scheduler")  # the scheduler's return
    assert case.state is State.contact_attempt


def test_start_call_after_a_refused_call_names_the_first_day_allowed():
    case = make_case()
    case.client_attempts = [Attempt(at=NOW - timedelta(days=10), by=COLLEAGUE, outcome=AttemptOutcome.refused)]
    with pytest.raises(Refused) as refusal:
        run(case, cmd.StartCall(caller=AGENT))
    assert refusal.value.code == "refusal_quiet_period" and "20/01/2027" in wording.refusal(refusal.value)


# --- Profile ------------------------------------------------------------------------------------------


def test_an_empty_field_cannot_be_confirmed():
    case = make_case(ClientType.professionnel)
    reach_profile(case)
    for name in ("marital_status", "siren", "naf", "activity"):
        assert refused_code(case, cmd.AnswerProfile(name, ProfileAnswer.confirmed)) == "confirm_empty"
    assert name not in case.profile
    answer_all_profile(case)  # Non communiqué for the empty ones
    assert case.profile["siren"].answer is ProfileAnswer.not_given
    run(case, cmd.ValidateProfile())


def test_a_field_modified_from_empty_still_cannot_be_confirmed():
    case = make_case()
    reach_profile(case)
    run(case, cmd.AnswerProfile("marital_status", ProfileAnswer.modified, "marie"))
    assert refused_code(case, cmd.AnswerProfile("marital_status", ProfileAnswer.confirmed)) == "confirm_empty"
    assert case.client.marital_status == "marie"


def test_a_changed_address_brings_its_postcode_and_the_calling_hours_follow_it():
    case = make_case()
    reach_profile(case)
    facts = run(case, cmd.AnswerProfile("address", ProfileAnswer.modified, "5 rue du Port 97400 Saint-Denis"))
    assert case.client.postcode == "97400"
    assert facts[-1].name == "postcode_changed" and facts[-1].data == {"old_value": "69003", "new_value": "97400"}
    assert refused_code(case, cmd.AnswerProfile("address", ProfileAnswer.modified, "Lieu-dit Les Granges")) == (
        "postcode_missing")
    run(case, cmd.AnswerProfile("address", ProfileAnswer.confirmed))  # a correction restores the postcode too
    assert case.client.postcode == "69003" and "postcode" not in case.profile
    run(case, cmd.AnswerProfile("address", ProfileAnswer.modified, "Lieu-dit Les Granges", postcode="38 000"))
    assert case.client.postcode == "38000"


def test_siren_of_zeros_is_refused():
    with pytest.raises(Invalid):
        normalize_siren("000 000 000")
    case = make_case(ClientType.professionnel)
    reach_profile(case)
    with pytest.raises(Refused):
        run(case, cmd.AnswerProfile("siren", ProfileAnswer.modified, "000000000"))
    assert case.client.siren is None
