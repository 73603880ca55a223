"""Opening a case by hand (`/m3 ouvrir`'s modal, a lead's Home): its card and first step go to the M+3
channel in the opening's transaction. Who may open what is `flows.opening.opening_refusal`, applied by
`storage.queries.open_by_hand`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from sqlmodel import Session

from bot import forms
from bot.context import BotDeps
from bot.dispatch import actor_label
from bot.rendering import agency_today, queue_case_messages
from bot.views import ids
from flows.engine import Refused, authorize, listing_scope
from flows.texts import t
from storage import access_trail
from storage.queries import open_by_hand
from storage.unit_of_work import unit_of_work
from storage.worklists import WaitingCase, waiting_cases


def offered_cases(context: dict[str, Any]) -> list[WaitingCase]:
    """The cases this user may open by hand: due ones he may act on, and to a lead every due and out-of-time
    one; raises `Refused` for a user who is neither agent nor lead."""
    deps: BotDeps = context["deps"]
    scope = listing_scope(context.get("actor"), is_lead=context.get("is_lead", False))
    with Session(deps.engine) as session:
        return waiting_cases(session, today=agency_today(deps.settings), catch_up_days=deps.settings.catch_up_days,
                             leads=context.get("is_lead", False), visible_to=scope)


def open_now(context: dict[str, Any], case_id: int) -> None:
    """Open the case now and queue its card; raises `Refused` (nothing changed) when this user may not."""
    deps: BotDeps = context["deps"]
    actor = actor_label(context)
    with unit_of_work(deps.engine, case_id=case_id, actor=actor, request_key=context.get("request_key")) as uow:
        if uow.duplicate:
            return
        authorize(uow.case, context.get("actor"), is_lead=context.get("is_lead", False), command=None)
        refusal = open_by_hand(uow.session, case_id, today=agency_today(deps.settings),
                               catch_up_days=deps.settings.catch_up_days, is_lead=context.get("is_lead", False),
                               now=uow.now, actor=actor)
        if refusal is not None:
            raise Refused(t(refusal))
        uow.case.opened_at = uow.now  # rendered as it is committed
        queue_case_messages(uow.session, uow.case, deps.settings, previous=None)
        if context.get("is_lead"):
            access_trail.lead_opened(uow.session, case_id, actor=actor, lead_email=context.get("actor"), how="open_case")


def submit_open_case(ack: Ack, view: dict[str, Any], context: dict[str, Any]) -> None:
    try:
        allowed = {str(w.case_id) for w in offered_cases(context)}
    except Refused as refusal:
        return ack(response_action="errors", errors={ids.INPUT_CASE: refusal.reason})
    chosen = forms.parse_open_case(view["state"]["values"], allowed)
    if isinstance(chosen, dict):
        return ack(response_action="errors", errors=chosen)
    try:
        open_now(context, int(chosen))
    except Refused as refusal:
        return ack(response_action="errors", errors={ids.INPUT_CASE: refusal.reason})
    ack()
