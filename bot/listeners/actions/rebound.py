"""Rebond commercial: the client's agreement (given, declined, withdrawn), his opposition to commercial calls,
the protections, the priorities, the needs."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.listeners.common import answer, arg, case_of, open_modal, run, untrusted
from bot.payloads import BadPayload
from bot.views import ids, modals
from flows import commands as cmd
from flows.case import ProtectionAnswer
from flows.script import agreement_wording


@untrusted
def agreement(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    given = arg(context, "a", str)
    if given not in ("yes", "no"):
        raise BadPayload("agreement answer")
    run(context, body, cmd.RecordAgreement(agreed=given == "yes", wording=agreement_wording()))


@untrusted
def agreement_withdraw(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.WithdrawAgreement())


@untrusted
def opposition(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.SetOpposition(opposed=arg(context, "on", bool)))


@untrusted
def protection_answer(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    protection, given = arg(context, "p", str), arg(context, "a", ProtectionAnswer)
    modal = (lambda case: modals.elsewhere_modal(case, protection)) if given is ProtectionAnswer.elsewhere else None
    answer(context, body, client, cmd.AnswerProtection(protection, given), modal=modal)


@untrusted
def protection_other(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_modal(client, body, modals.elsewhere_modal(case_of(context), None))


@untrusted
def priority_toggle(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    protection, on = arg(context, "p", str), arg(context, "on", bool)
    modal = (lambda case: modals.priority_modal(case, protection)) if on else None
    answer(context, body, client, cmd.SetPriority(protection, False), modal=modal)


@untrusted
def need_add(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_modal(client, body, modals.need_modal(case_of(context)))


@untrusted
def rebound_finish(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.FinishRebound())


LISTENERS = {
    ids.AGREEMENT: agreement,
    ids.AGREEMENT_WITHDRAW: agreement_withdraw,
    ids.OPPOSITION: opposition,
    ids.PROTECTION_ANSWER: protection_answer,
    ids.PROTECTION_ELSEWHERE_OTHER: protection_other,
    ids.PRIORITY_TOGGLE: priority_toggle,
    ids.NEED_ADD: need_add,
    ids.REBOUND_FINISH: rebound_finish,
}
