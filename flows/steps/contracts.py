"""Administrative step 2 (guide 4.4): each contract signed, missing a piece (which, how recovered) or to chase."""

from __future__ import annotations

from flows import commands as cmd
from flows import workflow
from flows.case import Case, ContractAnswer, ContractCheck
from flows.steps.common import Context, Fact, Refused, free_text


def answer_contract(case: Case, command: cmd.AnswerContract, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    if command.contract_number not in {c.number for c in case.contracts}:
        raise Refused("unknown_contract")
    keep_details = command.answer is not ContractAnswer.signed
    piece = free_text(command.piece) if keep_details else None
    recovery = free_text(command.recovery) if keep_details else None
    if command.answer is ContractAnswer.missing_piece and not (piece and recovery):
        raise Refused("missing_piece_details")
    previous = case.contract_checks.get(command.contract_number)
    if previous is not None and (previous.answer, previous.piece, previous.recovery) == (command.answer, piece, recovery):
        return []
    facts = [] if previous is None else [Fact("contract_corrected", {"contract": command.contract_number,
                                                                     "previous_answer": previous.answer.value})]
    case.contract_checks[command.contract_number] = ContractCheck(
        contract_number=command.contract_number, answer=command.answer, at=ctx.now, by=ctx.actor,
        piece=piece, recovery=recovery,
    )
    facts.append(Fact("contract_answered", {"contract": command.contract_number, "answer": command.answer.value,
                                            "piece": piece, "recovery": recovery}))
    return facts


def validate_contracts(case: Case, ctx: Context) -> list[Fact]:
    facts = workflow.allow(case, ctx).apply()
    case.admin_contracts_done_at = ctx.now
    missing = [{"contract": c.contract_number, "answer": c.answer.value, "piece": c.piece}
               for c in case.contract_checks.values() if c.answer is not ContractAnswer.signed]
    return [Fact("contracts_validated", {"missing": missing}), *facts]
