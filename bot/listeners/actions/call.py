"""Conduite d'appel: start the call, record how an attempt ended, close early."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.dispatch import actor_label
from bot.listeners.common import answer, arg, case_of, open_modal, run, untrusted
from bot.views import ids, modals
from flows import commands as cmd
from flows.case import AttemptOutcome


@untrusted
def start_call(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.StartCall(caller=actor_label(context)))


@untrusted
def attempt(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    outcome = arg(context, "o", AttemptOutcome)
    minutes = context["deps"].rules.express_request_minutes
    modal = (lambda case: modals.callback_modal(case, minutes)) if outcome is AttemptOutcome.callback else None
    answer(context, body, client, cmd.RecordAttempt(outcome), modal=modal)


@untrusted
def close_early(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_modal(client, body, modals.close_early_modal(case_of(context)))


@untrusted
def callback_resume(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.CallbackDue(dialling=True))


LISTENERS = {
    ids.START_CALL: start_call,
    ids.ATTEMPT: attempt,
    ids.CLOSE_EARLY: close_early,
    ids.CALLBACK_RESUME: callback_resume,
}
