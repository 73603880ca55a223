"""Administrative steps: the client file (Confirmé / Modifié / Non communiqué) and the contracts
(Signé / Pièce manquante / À relancer)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.listeners.common import arg, case_of, open_modal, run, untrusted
from bot.views import ids, modals
from flows import commands as cmd
from flows.case import ContractAnswer, ProfileAnswer


@untrusted
def profile_answer(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    field, answer = arg(context, "f", str), arg(context, "a", ProfileAnswer)
    if answer is ProfileAnswer.modified:
        open_modal(client, body, modals.profile_field_modal(case_of(context), field))
    else:
        run(context, body, cmd.AnswerProfile(field, answer))


@untrusted
def profile_validate(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.ValidateProfile())


@untrusted
def contract_answer(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    number, answer = arg(context, "n", str), arg(context, "a", ContractAnswer)
    if answer is ContractAnswer.missing_piece:
        open_modal(client, body, modals.missing_piece_modal(case_of(context), number))
    else:
        run(context, body, cmd.AnswerContract(number, answer))


@untrusted
def contracts_validate(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.ValidateContracts())


LISTENERS = {
    ids.PROFILE_ANSWER: profile_answer,
    ids.PROFILE_VALIDATE: profile_validate,
    ids.CONTRACT_ANSWER: contract_answer,
    ids.CONTRACTS_VALIDATE: contracts_validate,
}
