"""Administrative steps: the client file (Confirmé / Modifié / Non communiqué) and the contracts
(Signé / Pièce manquante / À relancer)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.listeners.common import answer, arg, run, untrusted
from bot.views import ids, modals
from flows import commands as cmd
from flows.case import ContractAnswer, ProfileAnswer


@untrusted
def profile_answer(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    field, given = arg(context, "f", str), arg(context, "a", ProfileAnswer)
    modal = (lambda case: modals.profile_field_modal(case, field)) if given is ProfileAnswer.modified else None
    answer(context, body, client, cmd.AnswerProfile(field, given), modal=modal)


@untrusted
def profile_validate(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.ValidateProfile())


@untrusted
def contract_answer(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    number, given = arg(context, "n", str), arg(context, "a", ContractAnswer)
    modal = (lambda case: modals.missing_piece_modal(case, number)) if given is ContractAnswer.missing_piece else None
    answer(context, body, client, cmd.AnswerContract(number, given), modal=modal)


@untrusted
def contracts_validate(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.ValidateContracts())


LISTENERS = {
    ids.PROFILE_ANSWER: profile_answer,
    ids.PROFILE_VALIDATE: profile_validate,
    ids.CONTRACT_ANSWER: contract_answer,
    ids.CONTRACTS_VALIDATE: contracts_validate,
}
