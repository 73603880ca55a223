"""Random event sequences never break the guide's guard rails, and a refusal never changes the case."""

from __future__ import annotations

import copy
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import commands as cmd
from flows.case import (
    PERSONAL_FIELDS,
    PRO_FIELDS,
    ActionKind,
    AttemptOutcome,
    ClientType,
    CloseReason,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from flows.engine import Refused, active_actions, handle
from flows.rules import Rules
from tests.flows.factories import AGENT, NOW, make_case

PROTECTIONS = ["pj", "gav", "prevoyance", "retraite", "rc_pro", "multirisque_pro", "auto"]
PROFILE_VALUES = {"professional_status": ["artisan", "salarie", "gerant_majoritaire"], "siren": ["732829320", "1"],
                  "naf": ["62.01Z", "6201Z", "bad"], "email": ["a@b.fr", "pas-un-email"], "phone": ["0612345678", "12"]}

commands = st.one_of(
    st.builds(cmd.StartCall, caller=st.sampled_from([AGENT, ""])),
    st.builds(cmd.RecordAttempt, outcome=st.sampled_from(list(AttemptOutcome)),
              callback_at=st.sampled_from([None, NOW + timedelta(days=1), NOW - timedelta(days=1)]),
              client_requested=st.booleans()),
    st.just(cmd.CallbackDue()),
    st.sampled_from(PERSONAL_FIELDS + PRO_FIELDS).flatmap(
        lambda name: st.builds(cmd.AnswerProfile, field=st.just(name), answer=st.sampled_from(list(ProfileAnswer)),
                               new_value=st.sampled_from(PROFILE_VALUES.get(name, ["Nouvelle valeur", None])))),
    st.just(cmd.ValidateProfile()),
    st.builds(cmd.AnswerContract, contract_number=st.sampled_from(["AUTO-1", "AUTO-2", "X"]),
              answer=st.sampled_from(list(ContractAnswer)), piece=st.sampled_from([None, "RIB"]),
              recovery=st.sampled_from([None, "e-mail"])),
    st.just(cmd.ValidateContracts()),
    st.builds(cmd.RecordAgreement, agreed=st.booleans(), wording=st.sampled_from(["Question ?", ""])),
    st.builds(cmd.AnswerProtection, protection=st.sampled_from(PROTECTIONS),
              answer=st.sampled_from(list(ProtectionAnswer)), insurer=st.sampled_from([None, "MAIF"])),
    st.builds(cmd.SetPriority, protection=st.sampled_from(PROTECTIONS), priority=st.booleans(),
              reason=st.sampled_from([None, "besoin"])),
    st.just(cmd.FinishRebound()),
    st.builds(cmd.AddAction, kind=st.sampled_from(list(ActionKind)),
              due_on=st.sampled_from([date(2026, 11, 1), date(2026, 12, 20)]), owner=st.sampled_from([AGENT, ""])),
    st.builds(cmd.RemoveAction, action_id=st.integers(1, 3)),
    st.just(cmd.Close()),
    st.builds(cmd.CloseEarly, reason=st.sampled_from(list(CloseReason))),
)

REBOUND_OR_LATER = {State.commercial_rebound, State.action_plan}


def assert_guard_rails(case) -> None:
    if case.state in REBOUND_OR_LATER or case.close_reason is CloseReason.completed:
        assert case.admin_profile_done_at and case.admin_contracts_done_at
        assert all(c.number in case.contract_checks for c in case.contracts)
    if case.protections:
        assert case.admin_contracts_done_at is not None
        assert case.agreement is not None and case.agreement.agreed
    if case.close_reason is CloseReason.completed:
        assert case.state is State.closed
        assert any(a.due_on for a in active_actions(case))
    assert sum(p.priority for p in case.protections.values()) <= 3


def happy_path(case) -> list:
    """A valid walk to the end, so that random sequences also start from every later state."""
    return [
        cmd.StartCall(caller=AGENT),
        cmd.RecordAttempt(AttemptOutcome.available),
        *(cmd.AnswerProfile(name, ProfileAnswer.not_given) for name in PERSONAL_FIELDS + PRO_FIELDS),
        cmd.ValidateProfile(),
        *(cmd.AnswerContract(c.number, ContractAnswer.signed) for c in case.contracts),
        cmd.ValidateContracts(),
        cmd.RecordAgreement(agreed=True, wording="Question ?"),
        *(cmd.AnswerProtection(code, ProtectionAnswer.not_covered) for code in PROTECTIONS),
        cmd.FinishRebound(),
        cmd.AddAction(ActionKind.rdv, date(2026, 12, 20), AGENT, reason="revoir ses protections"),
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    client_type=st.sampled_from(list(ClientType)),
    contracts=st.integers(1, 2),
    prefix=st.integers(0, 40),
    sequence=st.lists(commands, max_size=40),
)
def test_no_sequence_skips_the_administrative_steps_or_closes_without_a_plan(client_type, contracts, prefix, sequence):
    case = make_case(client_type, contracts=contracts)
    for step, command in enumerate(happy_path(case)[:prefix] + sequence):
        before = copy.deepcopy(case)
        try:
            handle(case, command, actor=AGENT, now=NOW + timedelta(minutes=step), rules=Rules())
        except Refused:
            assert case == before, f"{command} was refused but changed the case"
        for number, action in enumerate(case.actions, start=1):
            action.id = action.id or number  # as storage would on save
        assert_guard_rails(case)
