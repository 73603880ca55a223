"""A lead's tools: "Transférer les dossiers d'un agent" (his App Home) hands every open case of an absent
agent to one or several colleagues, and "Rouvrir" (a closed case's card) reopens a case closed by mistake.
Both ask the lead's reason in a modal and are refused, with the engine's French reason under the field, to
anyone else."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

import wording
from bot import forms
from bot.context import BotDeps
from bot.dispatch import actor_of
from bot.listeners.common import case_of, open_modal, submit_to_case, untrusted
from bot.listeners.events import lead_view
from bot.listeners.views import AgentEmails
from bot.views import ids, modals
from flows import commands as cmd
from flows.engine import Refused
from service.cases import HandOver, hand_over_cases
from storage.dashboards import DEFAULT_PERIOD

# Where a hand-over's refusal is shown, by the engine's code; any other under the first field.
_HANDOVER_FIELD = {"handover_reason_missing": ids.INPUT_REASON, "text_too_long": ids.INPUT_REASON,
                   "handover_colleague_missing": ids.INPUT_COLLEAGUES, "handover_to_absent": ids.INPUT_COLLEAGUES}


@untrusted
def handover(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_modal(client, body, modals.handover_modal())


def submit_handover(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any],
                    client: WebClient) -> None:
    deps: BotDeps = context["deps"]
    request = forms.parse_handover(view["state"]["values"], AgentEmails(deps, client))
    if isinstance(request, dict):
        return ack(response_action="errors", errors=request)
    try:
        actor = actor_of(context)
        hand_over_cases(HandOver(request.absent, request.colleagues, request.reason, actor, deps.rules,
                                 lead_user=context.get("user_id"), request_key=context.get("request_key")),
                        deps.uow(actor.label))
    except Refused as refusal:
        return ack(response_action="errors", errors={_HANDOVER_FIELD.get(refusal.code, ids.INPUT_ABSENT):
                                                             wording.refusal(refusal)})
    ack()
    client.views_publish(user_id=body["user"]["id"], view=lead_view(deps, DEFAULT_PERIOD, client))


@untrusted
def reopen(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    open_modal(client, body, modals.reopen_modal(case_of(context, cmd.Reopen(""))))


def submit_reopen(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any],
                  client: WebClient) -> None:
    submit_to_case(ack, context, forms.parse_reopen(view["state"]["values"]), ids.INPUT_REASON)


LISTENERS = {
    ids.HANDOVER: handover,
    ids.REOPEN: reopen,
}


def register_views(app: App) -> None:
    app.view(ids.MODAL_HANDOVER)(submit_handover)
    app.view(ids.MODAL_REOPEN)(submit_reopen)
