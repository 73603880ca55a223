"""Opening a case by hand (`/m3 ouvrir`'s modal, a lead's Home): the modal's choice, handed to
`service.opening.open_case_by_hand`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack

import wording
from bot import forms
from bot.context import BotDeps
from bot.dispatch import actor_of
from bot.rendering import agency_today
from bot.views import ids
from flows.engine import Refused, listing_scope
from service.opening import OpenByHand, open_case_by_hand
from storage.worklists import WaitingCase, waiting_cases


def offered_cases(context: dict[str, Any]) -> list[WaitingCase]:
    """The cases this user may open by hand: due ones he may act on, and to a lead every due and out-of-time
    one; raises `Refused` for a user who is neither agent nor lead."""
    deps: BotDeps = context["deps"]
    scope = listing_scope(context.get("actor"), is_lead=context.get("is_lead", False))
    with deps.read() as session:
        return waiting_cases(session, today=agency_today(deps.settings), catch_up_days=deps.settings.catch_up_days,
                             leads=context.get("is_lead", False), visible_to=scope)


def open_now(context: dict[str, Any], case_id: int) -> None:
    """Open the case now and queue its card; raises `Refused` (nothing changed) when this user may not."""
    deps: BotDeps = context["deps"]
    actor = actor_of(context)
    command = OpenByHand(case_id, actor, agency_today(deps.settings), deps.settings.catch_up_days,
                         request_key=context.get("request_key"))
    open_case_by_hand(command, deps.uow(actor.label))


def submit_open_case(ack: Ack, view: dict[str, Any], context: dict[str, Any]) -> None:
    try:
        allowed = {str(w.case_id) for w in offered_cases(context)}
    except Refused as refusal:
        return ack(response_action="errors", errors={ids.INPUT_CASE: wording.refusal(refusal)})
    chosen = forms.parse_open_case(view["state"]["values"], allowed)
    if isinstance(chosen, dict):
        return ack(response_action="errors", errors=chosen)
    try:
        open_now(context, int(chosen))
    except Refused as refusal:
        return ack(response_action="errors", errors={ids.INPUT_CASE: wording.refusal(refusal)})
    ack()
