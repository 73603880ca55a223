"""Plan d'actions and closing: add (Créer devis / Planifier RDV / Programmer relance), remove, mark done,
close; a lead's reassignment; the link button to a thread."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.listeners.common import arg, case_of, open_modal, run, slack_user_of, untrusted
from bot.rendering import agency_today
from bot.views import ids, modals
from flows import commands as cmd
from flows.case import ActionKind
from flows.engine import commercial_refusal


@untrusted
def action_add(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    kind = arg(context, "k", ActionKind)
    case = case_of(context)
    commercial = commercial_refusal(case, agency_today(context["deps"].settings)) is None
    open_modal(client, body, modals.action_modal(case, kind, slack_user_of(context, case.agent),
                                                 commercial=commercial))


@untrusted
def action_remove(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.RemoveAction(arg(context, "i", int)))


@untrusted
def action_done(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.CompleteAction(arg(context, "i", int)))


@untrusted
def close(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    run(context, body, cmd.Close())


@untrusted
def reassign(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    case = case_of(context, cmd.Reassign(agent=""))
    open_modal(client, body, modals.reassign_modal(case, slack_user_of(context, case.agent)))


def open_thread(ack: Ack) -> None:
    ack()  # a link button: Slack opens the URL, the bot has nothing to do


LISTENERS = {
    ids.ACTION_ADD: action_add,
    ids.ACTION_REMOVE: action_remove,
    ids.ACTION_DONE: action_done,
    ids.CLOSE: close,
    ids.REASSIGN: reassign,
    ids.OPEN_THREAD: open_thread,
}
