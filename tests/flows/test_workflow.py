"""The workflow table: it draws the diagram of docs/architecture.md, names the trigger of every command, runs
each guard once per command, and serves threads applying commands to different cases at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import get_args

import pytest

from flows import commands as cmd
from flows import workflow
from flows.case import ActionKind, AttemptOutcome, CloseReason, ContractAnswer, ProfileAnswer, ProtectionAnswer, State
from flows.engine import Refused, handle, structuring_protections
from flows.rules import Rules
from tests.flows.factories import AGENT, NOW, make_case
from tests.support.refusals import refused_with

RULES = Rules()
DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
BEGIN, END = "<!-- workflow:begin -->", "<!-- workflow:end -->"


def run(case, command, now=NOW):
    return handle(case, command, actor=AGENT, now=now, rules=RULES)


def test_the_documented_diagram_is_the_one_the_table_draws():
    documented = DOC.read_text(encoding="utf-8").split(BEGIN)[1].split(END)[0].strip()
    drawn = f"```mermaid\n{workflow.mermaid()}\n```"
    assert documented == drawn, (
        "docs/architecture.md's Workflow diagram differs from flows/workflow.py's table; put the output of "
        f"`python -m flows.workflow --mermaid` between its markers:\n{drawn}"
    )


def _fired(kind: type) -> set[str]:
    if kind is cmd.RecordAttempt:
        return {cmd.RecordAttempt(outcome).trigger for outcome in AttemptOutcome}
    return {object.__new__(kind).trigger}  # named after the class: no field is read


def test_each_trigger_has_one_row_and_one_command():
    triggers = [t.trigger for t in workflow.TRANSITIONS]
    assert len(triggers) == len(set(triggers))
    fired = [trigger for kind in get_args(cmd.Command) for trigger in _fired(kind)]
    assert sorted(fired) == sorted(triggers)


def test_the_administrative_part_comes_first_for_every_commercial_trigger():
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    commercial = [t.trigger for t in workflow.TRANSITIONS if set(t.sources) <= set(workflow.COMMERCIAL_PART)]
    assert "finish_rebound" in commercial and "add_action" in commercial
    for trigger in commercial:
        with pytest.raises(Refused) as refused:
            workflow.require_step(case, trigger)
        assert refused.value.code == "admin_first"


def _counting(monkeypatch, name: str) -> list[object]:
    """Count the calls a guard makes to one of the helpers it reads (the steps hold their own references)."""
    calls: list[object] = []
    real = getattr(workflow, name)

    def counted(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(workflow, name, counted)
    return calls


def test_a_guard_runs_once_per_command_refused_or_not(monkeypatch):
    calls = _counting(monkeypatch, "unanswered_attempts")  # read by `unreachable_proven` only
    case = make_case()
    run(case, cmd.StartCall(caller=AGENT))
    for day in range(RULES.unreachable_after - 1):
        run(case, cmd.RecordAttempt(AttemptOutcome.no_answer), now=NOW + timedelta(days=day))
    with refused_with("injoignable"):
        run(case, cmd.CloseEarly(CloseReason.unreachable))
    assert len(calls) == 1
    run(case, cmd.RecordAttempt(AttemptOutcome.no_answer), now=NOW + timedelta(days=RULES.unreachable_after))
    run(case, cmd.CloseEarly(CloseReason.unreachable))
    assert len(calls) == 2 and case.state is State.closed


def test_the_plan_guard_runs_once_when_closing(monkeypatch):
    calls = _counting(monkeypatch, "active_actions")  # read by `dated_plan` only, in this module
    case = _at_action_plan(make_case())
    with pytest.raises(Refused) as refused:
        run(case, cmd.Close())
    assert len(calls) == 1 and case.state is State.action_plan and refused.value.code == "action_plan_missing"
    run(case, cmd.AddAction(ActionKind.rdv, date(2026, 12, 10), AGENT))
    run(case, cmd.Close())
    assert len(calls) == 2 and case.state is State.closed


def _at_contracts(case):
    run(case, cmd.StartCall(caller=AGENT))
    run(case, cmd.RecordAttempt(AttemptOutcome.available))
    for name in case.client.profile_fields():
        run(case, cmd.AnswerProfile(name, ProfileAnswer.not_given))
    run(case, cmd.ValidateProfile())
    return case


def _answer_contracts(case):
    for contract in case.contracts:
        run(case, cmd.AnswerContract(contract.number, ContractAnswer.signed))
    return run(case, cmd.ValidateContracts())


def _at_action_plan(case):
    _answer_contracts(_at_contracts(case))
    run(case, cmd.RecordAgreement(agreed=True, wording="Puis-je vous poser quelques questions ?"))
    for code in structuring_protections(case):
        run(case, cmd.AnswerProtection(code, ProtectionAnswer.not_covered))
    run(case, cmd.FinishRebound())
    return case


def _walk(contracts: int, start: threading.Barrier | None = None) -> list[tuple[str, object]]:
    """A case walked to closed, with a refusal of its guard on the way (its own contracts are named)."""
    case = make_case(contracts=contracts)
    if start is not None:
        start.wait()
    seen: list[tuple[str, object]] = []
    _at_contracts(case)
    try:
        run(case, cmd.ValidateContracts())
    except Refused as refused:
        seen.append(("refused", (refused.code, refused.values)))
    seen += [(fact.name, fact.data) for fact in _answer_contracts(case)]
    run(case, cmd.RecordAgreement(agreed=False, wording="Puis-je vous poser quelques questions ?"))
    run(case, cmd.FinishRebound())
    seen += [(fact.name, fact.data) for fact in run(case, cmd.Close())]
    seen.append(("state", case.state))
    return seen


def test_threads_share_the_machine_without_mixing_their_cases():
    sizes = [1 + n % 5 for n in range(24)]
    alone = {size: _walk(size) for size in set(sizes)}
    start = threading.Barrier(8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        # The first eight walks start together, one per worker, so that their commands interleave.
        together = list(pool.map(lambda n: _walk(sizes[n], start if n < 8 else None), range(len(sizes))))
    assert together == [alone[size] for size in sizes]
