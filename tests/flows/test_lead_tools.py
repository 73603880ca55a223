"""A lead's tools on cases: handing over every open case of an absent agent (spread over colleagues, with
a reason) and reopening a case closed by mistake. Each refusal leaves every case as it was; the trail keeps
the closing and the reopening, and the verdict judges the case on its last closing."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wording
from flows import commands as cmd
from flows.case import (
    PERSONAL_FIELDS,
    Action,
    ActionKind,
    ActionStatus,
    AttemptOutcome,
    CloseReason,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from flows.engine import Refused, authorize, confirmable, hand_over, handle, reopened_state, structuring_protections
from flows.rules import Rules
from flows.verdict import TrailFact, verdict
from tests.flows.factories import AGENT, COLLEAGUE, NOW, make_case

OTHER = "autre@agence.fr"
LEAD = "chef@agence.fr"
WORDING = "Pouvons-nous parler de vos autres contrats ?"


def open_cases(count: int, agent: str = AGENT) -> list:
    cases = []
    for n in range(1, count + 1):
        case = make_case()
        case.id, case.agent = n, agent
        cases.append(case)
    return cases


def give(cases, colleagues, reason="congé maladie", workload=None, *, is_lead=True):
    return hand_over(cases, AGENT, colleagues, reason, workload or {}, actor=LEAD, is_lead=is_lead, now=NOW,
                     rules=Rules())


# --- Hand-over -------------------------------------------------------------------------------------------


def test_an_absent_agents_open_cases_are_spread_to_the_colleague_with_the_fewest_open_cases():
    cases = open_cases(3)
    facts = give(cases, [COLLEAGUE, OTHER], workload={COLLEAGUE: 2, OTHER: 0})

    # OTHER had none: he takes the first two, then both have two and the tie goes to the first named.
    assert [c.agent for c in cases] == [OTHER, OTHER, COLLEAGUE]
    assert [(f.name, f.data) for f in facts[1]] == [
        ("case_reassigned", {"from": AGENT, "to": OTHER, "reason": "congé maladie"})]


def test_one_colleague_takes_every_open_case_and_closed_or_others_cases_stay():
    cases = open_cases(2)
    closed, someone_elses = make_case(), make_case()
    closed.id, closed.state, closed.agent = 3, State.closed, AGENT
    someone_elses.id, someone_elses.agent = 4, OTHER
    facts = give([*cases, closed, someone_elses], [COLLEAGUE])

    assert sorted(facts) == [1, 2]
    assert [c.agent for c in cases] == [COLLEAGUE, COLLEAGUE]
    assert closed.agent == AGENT and someone_elses.agent == OTHER


def test_the_new_agent_gets_the_call_and_the_actions_still_to_do_so_the_reminders_follow():
    case = open_cases(1)[0]
    case.caller = AGENT
    made = {"created_at": NOW, "created_by": AGENT}
    case.actions = [Action(ActionKind.relance, date(2026, 12, 20), AGENT, **made, id=1),
                    Action(ActionKind.rdv, date(2026, 12, 21), OTHER, **made, id=2),
                    Action(ActionKind.devis, date(2026, 12, 22), AGENT, **made, id=3, status=ActionStatus.done)]
    facts = give([case], [COLLEAGUE])

    assert case.caller == COLLEAGUE
    assert [a.owner for a in case.actions] == [COLLEAGUE, OTHER, AGENT]  # a colleague's and a done one stay
    assert facts[1][0].data["actions"] == 1


@pytest.mark.parametrize(
    ("colleagues", "reason", "is_lead", "cases", "code"),
    [
        ([COLLEAGUE], "congé", False, 2, "lead_only"),
        ([COLLEAGUE], "  ", True, 2, "handover_reason_missing"),
        ([COLLEAGUE], "x" * 1001, True, 2, "text_too_long"),
        ([], "congé", True, 2, "handover_colleague_missing"),
        ([COLLEAGUE, AGENT], "congé", True, 2, "handover_to_absent"),
        ([COLLEAGUE], "congé", True, 0, "handover_no_open_cases"),
        ([COLLEAGUE], "congé", False, 0, "lead_only"),  # a non-lead learns nothing of the agent's cases
    ],
)
def test_a_refused_hand_over_says_why_in_french_and_changes_no_case(colleagues, reason, is_lead, cases, code):
    given_cases = open_cases(cases)
    before = copy.deepcopy(given_cases)
    with pytest.raises(Refused) as refused:
        give(given_cases, colleagues, reason, is_lead=is_lead)
    assert refused.value.code == code and wording.refusal(refused.value)
    assert given_cases == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    states=st.lists(st.sampled_from(list(State)), max_size=6),
    colleagues=st.lists(st.sampled_from([COLLEAGUE, OTHER, AGENT, " ", ""]), max_size=3),
    reason=st.sampled_from(["congé", "", None, "x" * 1001]),
    is_lead=st.booleans(),
)
def test_a_bulk_hand_over_either_moves_every_open_case_or_changes_none(states, colleagues, reason, is_lead):
    cases = open_cases(len(states))
    for case, state in zip(cases, states, strict=True):
        case.state = state
    before = copy.deepcopy(cases)
    try:
        give(cases, colleagues, reason, is_lead=is_lead)
    except Refused:
        assert cases == before
        return
    for case, old in zip(cases, before, strict=True):
        if old.state is State.closed:
            assert case == old
        else:
            assert case.agent in colleagues and case.agent != AGENT and case.state is old.state


# --- Reopen ----------------------------------------------------------------------------------------------


def run(case, *commands, start=0):
    """Apply the commands a minute apart; the facts as the trail records them."""
    trail = []
    for step, command in enumerate(commands, start=start):
        now = NOW + timedelta(minutes=step)
        trail += [TrailFact(f.name, f.data, now) for f in handle(case, command, actor=LEAD, now=now, rules=Rules())]
    return trail


def full_call(case) -> list:
    return [
        cmd.StartCall(AGENT), cmd.RecordAttempt(AttemptOutcome.available),
        *(cmd.AnswerProfile(name, ProfileAnswer.confirmed if confirmable(case, name) else ProfileAnswer.not_given)
          for name in PERSONAL_FIELDS), cmd.ValidateProfile(),
        cmd.AnswerContract("AUTO-1", ContractAnswer.signed), cmd.ValidateContracts(),
        cmd.RecordAgreement(True, WORDING),
        *(cmd.AnswerProtection(code, ProtectionAnswer.not_covered) for code in structuring_protections(case)),
        cmd.FinishRebound(), cmd.AddAction(ActionKind.devis, date(2026, 12, 20), AGENT, reason="GAV"), cmd.Close(),
    ]


def test_a_completed_case_reopens_at_its_action_plan_and_closes_again():
    case = make_case()
    trail = run(case, *full_call(case))
    trail += run(case, cmd.Reopen("plan incomplet, rendez-vous oublié"), start=100)

    assert case.state is State.action_plan
    assert (case.close_reason, case.closed_at, case.close_note) == (None, None, None)
    reopened = [f for f in trail if f.name == "case_reopened"][0]
    assert reopened.data == {"reason": "plan incomplet, rendez-vous oublié", "closed_reason": "completed",
                             "closed_at": (NOW + timedelta(minutes=len(full_call(case)) - 1)).isoformat(),
                             "to": "action_plan"}
    trail += run(case, cmd.AddAction(ActionKind.rdv, date(2026, 12, 21), AGENT, reason="bilan"), cmd.Close(),
                 start=200)
    assert case.state is State.closed
    found = verdict(trail)
    assert found.compliant and len(found.closings) == 2 and len(found.reopenings) == 1


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda c: None, State.preparation),
        (lambda c: setattr(c, "caller", AGENT), State.contact_attempt),
        (lambda c: c.profile.update({"email": None}), State.admin_profile_update),
        (lambda c: setattr(c, "admin_profile_done_at", NOW), State.admin_contract_validation),
        (lambda c: setattr(c, "admin_contracts_done_at", NOW), State.commercial_rebound),
        (lambda c: setattr(c, "rebound_done_at", NOW), State.action_plan),
    ],
)
def test_a_reopened_case_goes_back_to_the_first_step_it_had_not_completed(prepare, expected):
    case = make_case()
    prepare(case)
    assert reopened_state(case) is expected


def closed_case(reason=CloseReason.unreachable, at=NOW):
    case = make_case()
    case.state, case.close_reason, case.closed_at = State.closed, reason, at
    return case


@pytest.mark.parametrize(
    ("case", "reason", "code"),
    [
        (make_case(), "erreur", "reopen_not_closed"),
        (closed_case(CloseReason.rgpd_erased), "erreur", "reopen_erased"),
        (closed_case(CloseReason.out_of_time), "erreur", "reopen_out_of_time"),
        (closed_case(at=NOW - timedelta(days=5 * 366)), "erreur", "reopen_beyond_retention"),
        (closed_case(), "   ", "reopen_reason_missing"),
    ],
)
def test_a_refused_reopen_says_why_and_changes_nothing(case, reason, code):
    before = copy.deepcopy(case)
    with pytest.raises(Refused) as refused:
        handle(case, cmd.Reopen(reason), actor=LEAD, now=NOW, rules=Rules())
    assert refused.value.code == code and case == before


def test_only_a_lead_reopens_a_case():
    case = closed_case()
    with pytest.raises(Refused) as refused:
        authorize(case, AGENT, is_lead=False, command=cmd.Reopen("erreur"))
    assert refused.value.code == "reopen_lead_only"
    authorize(case, LEAD, is_lead=True, command=cmd.Reopen("erreur"))


def test_the_verdict_of_a_reopened_case_is_that_of_its_last_closing():
    profile = ("profile_validated", {}), ("contracts_validated", {})
    first_closing = ("case_closed", {"reason": "completed"})
    reopened = ("case_reopened", {"reason": "oubli", "closed_reason": "completed"})
    consent = ("consent_declined", {"wording": WORDING})
    facts = [TrailFact(n, d, NOW + timedelta(minutes=i))
             for i, (n, d) in enumerate([*profile, first_closing, reopened, consent, first_closing])]

    # Closed first without asking the consent question: a deviation, withdrawn once the case was reopened
    # and the question asked before it closed again; both closings and the reopening remain visible.
    assert [d.code for d in verdict(facts[:3]).deviations] == ["consent_missing"]
    assert verdict(facts[:4]).deviations == []
    found = verdict(facts)
    assert found.compliant
    assert found.closings == [facts[2].at, facts[5].at] and found.reopenings == [facts[3].at]


REOPENABLE = st.sampled_from([CloseReason.unreachable, CloseReason.refused, CloseReason.duplicate,
                              CloseReason.completed])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.integers(0, 30), close=REOPENABLE, rounds=st.integers(1, 3))
def test_a_reopen_never_removes_a_fact_from_the_trail_nor_a_step_from_the_verdict(prefix, close, rounds):
    case = make_case()
    trail = run(case, *full_call(case)[:prefix])
    for round_ in range(rounds):
        if case.state is not State.closed:
            case = replace(case, state=State.closed, close_reason=close, closed_at=NOW)
            trail.append(TrailFact("case_closed", {"reason": close.value}, NOW + timedelta(minutes=500 + round_)))
        before = list(trail)
        steps_before = {k: v for k, v in verdict(trail).steps.items() if v is not None}
        trail += run(case, cmd.Reopen("fermé par erreur"), start=600 + round_)
        assert trail[:len(before)] == before and len(trail) == len(before) + 2
        found = verdict(trail)
        assert {k: v for k, v in found.steps.items() if v is not None} == steps_before
        assert len(found.reopenings) == round_ + 1 == sum(f.name == "case_reopened" for f in trail)
        assert case.state is reopened_state(case) and case.state is not State.closed
