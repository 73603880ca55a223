"""No call before a case is opened, and the leads' closing of a case set aside as out of time."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows import commands as cmd
from flows.case import AttemptOutcome, CloseReason, ProfileAnswer, State
from flows.engine import Refused, authorize, handle
from flows.rules import Rules
from tests.flows.factories import AGENT, NOW, make_case
from tests.support.refusals import refused_with

RULES = Rules()
LEAD = "chef@agence.fr"


def run(case, command, actor=AGENT):
    return handle(case, command, actor=actor, now=NOW, rules=RULES)


def unopened(out_of_time: bool = False):
    case = make_case()
    case.opened_at = None
    case.out_of_time_at = NOW - timedelta(days=2) if out_of_time else None
    return case


@pytest.mark.parametrize("out_of_time", [False, True])
def test_a_call_cannot_start_on_a_case_never_opened(out_of_time):
    case = unopened(out_of_time)
    before = dataclasses.replace(case)

    with refused_with("pas encore ouvert"):
        run(case, cmd.StartCall(caller=AGENT))

    assert case == before and case.state is State.preparation


def test_the_same_case_once_opened_can_be_called():
    case = unopened()
    case.opened_at = NOW
    assert run(case, cmd.StartCall(caller=AGENT))[0].name == "call_started"


def test_a_lead_closes_an_out_of_time_case_with_his_reason():
    case = unopened(out_of_time=True)
    command = cmd.CloseEarly(CloseReason.out_of_time, note="Client parti à l'étranger, contrat résilié")
    authorize(case, None, is_lead=True, command=command)

    facts = run(case, command, actor=LEAD)

    assert case.state is State.closed and case.close_reason is CloseReason.out_of_time
    assert facts[0].name == "case_closed"
    assert facts[0].data == {"reason": "out_of_time", "note": "Client parti à l'étranger, contrat résilié"}


def test_only_a_lead_closes_an_out_of_time_case():
    case = unopened(out_of_time=True)
    with refused_with("responsable"):
        authorize(case, AGENT, is_lead=False, command=cmd.CloseEarly(CloseReason.out_of_time, note="x"))


def test_out_of_time_closing_needs_a_reason():
    case = unopened(out_of_time=True)
    with refused_with("pourquoi"):
        run(case, cmd.CloseEarly(CloseReason.out_of_time, note="  "), actor=LEAD)
    assert case.state is State.preparation


@pytest.mark.parametrize("situation", ["waiting", "opened"])
def test_out_of_time_closing_is_only_for_a_case_set_aside_and_never_opened(situation):
    case = unopened(out_of_time=situation == "opened")
    if situation == "opened":
        case.opened_at = NOW
    with refused_with("pas hors délai"):
        run(case, cmd.CloseEarly(CloseReason.out_of_time, note="doublon d'un autre dossier"), actor=LEAD)
    assert case.state is State.preparation


COMMANDS = st.sampled_from([
    cmd.StartCall(caller=AGENT),
    cmd.RecordAttempt(AttemptOutcome.available),
    cmd.RecordAttempt(AttemptOutcome.no_answer),
    cmd.RecordAttempt(AttemptOutcome.refused),
    cmd.CallbackDue(),
    cmd.AnswerProfile("phone", ProfileAnswer.confirmed),
    cmd.ValidateProfile(),
    cmd.RecordAgreement(agreed=True, wording="Puis-je vous poser quelques questions ?"),
    cmd.CloseEarly(CloseReason.duplicate),
    cmd.CloseEarly(CloseReason.out_of_time, note="hors délai"),
])


@given(st.lists(COMMANDS, max_size=8), st.booleans())
def test_no_sequence_of_commands_reaches_the_call_on_an_unopened_case(commands, out_of_time):
    case = unopened(out_of_time)
    recorded = []
    for command in commands:
        with contextlib.suppress(Refused):  # a refused command records nothing
            recorded += [fact.name for fact in run(case, command)]
    assert case.state in (State.preparation, State.closed)
    assert not case.client_attempts and "call_started" not in recorded and "attempt_recorded" not in recorded
