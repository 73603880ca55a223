"""`/m3 ouvrir`: the chosen client's case is opened; its card and first step go to the M+3 channel."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack
from sqlmodel import Session

from bot import forms
from bot.context import BotDeps
from bot.dispatch import actor_label
from bot.rendering import queue_case_messages
from bot.views import ids
from flows.engine import authorize, listing_scope, Refused
from flows.texts import t
from storage import access_trail
from storage.queries import mark_opened
from storage.unit_of_work import unit_of_work
from storage.worklists import waiting_cases


def submit_open_case(ack: Ack, view: dict[str, Any], context: dict[str, Any]) -> None:
    deps: BotDeps = context["deps"]
    try:
        scope = listing_scope(context.get("actor"), is_lead=context.get("is_lead", False))
    except Refused as refusal:
        return ack(response_action="errors", errors={ids.INPUT_CASE: refusal.reason})
    with Session(deps.engine) as session:
        allowed = {str(w.case_id) for w in waiting_cases(session, visible_to=scope)}
    chosen = forms.parse_open_case(view["state"]["values"], allowed)
    if isinstance(chosen, dict):
        return ack(response_action="errors", errors=chosen)
    actor = actor_label(context)
    try:
        with unit_of_work(deps.engine, case_id=int(chosen), actor=actor, request_key=context.get("request_key")) as uow:
            if uow.duplicate:
                return ack()
            authorize(uow.case, context.get("actor"), is_lead=context.get("is_lead", False), command=None)
            if not mark_opened(uow.session, [uow.case.id], now=uow.now, actor=actor):
                raise Refused(t("listeners.case_already_open"))
            queue_case_messages(uow.session, uow.case, deps.settings, previous=None)
            if context.get("is_lead"):
                access_trail.lead_opened(uow.session, uow.case.id, actor=actor, lead_email=context.get("actor"),
                                         how="open_case")
    except Refused as refusal:
        return ack(response_action="errors", errors={ids.INPUT_CASE: refusal.reason})
    ack()
