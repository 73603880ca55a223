"""One click or modal, one event: the unit of work around `flows.engine.handle`, and what the agent is told.

Listeners call `apply` with the command they built from the payload. It loads the case locked, checks who
acts, applies the command, queues the messages the change causes and commits once. A refusal rolls all of
that back and comes back to the caller, which shows it (ephemeral message, or modal error).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.context import BotDeps
from bot.rendering import queue_case_messages
from bot.views.text import escape
from flows.engine import Refused, authorize, handle
from scheduler.reminders import sync_reminders
from storage.audit import last_entry
from storage.outbox import URGENT
from storage.repository import save_case
from storage.tables import utcnow
from storage.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

EPHEMERAL = "chat.postEphemeral"
DOUBLE_CLICK = timedelta(seconds=10)


def actor_label(context: dict[str, Any]) -> str:
    """Who the audit trail names: the agent's e-mail, else the Slack user (a lead who is not an agent)."""
    return context.get("actor") or f"slack:{context.get('user_id')}"


def apply(context: dict[str, Any], command: Any) -> Refused | None:
    """Apply `command` to the case of this request; returns the refusal, or None when done (or a duplicate)."""
    deps: BotDeps = context["deps"]
    rules = deps.rules
    actor = actor_label(context)
    try:
        with unit_of_work(
            deps.engine,
            case_id=context["case_id"],
            actor=actor,
            request_key=context.get("request_key"),
            lookback_days=max(rules.attempts_window_days, rules.refusal_quiet_days),
        ) as uow:
            if uow.duplicate:
                return None
            authorize(uow.case, context.get("actor"), is_lead=context.get("is_lead", False), command=command)
            previous = uow.case.state
            facts = handle(uow.case, command, actor=actor, now=uow.now, rules=rules)
            if facts:
                uow.record(facts)
                # Saved before rendering: a new action's remove button needs the id the database gives it.
                save_case(uow.session, uow.case, now=uow.now)
                queue_case_messages(uow.session, uow.case, deps.settings, previous=previous,
                                    respond=context.get("respond"))
                sync_reminders(uow.session, uow.case, uow.now, deps.settings)
    except Refused as refusal:
        if _repeated_transition(deps, context, command, actor):
            # Remembered as handled, so that Slack's retry of this repeat is a no-op too.
            with unit_of_work(deps.engine, case_id=None, actor=actor, request_key=context.get("request_key")):
                pass
            return None
        log.info("%s refused on case %s", type(command).__name__, context["case_id"])
        return refusal
    return None


def _repeated_transition(deps: BotDeps, context: dict[str, Any], command: Any, actor: str) -> bool:
    """A double click on a step's button: the first click moved the case on, the second is refused by the
    engine; the agent already sees the new step, so the repeat is absorbed rather than answered."""
    with Session(deps.engine) as session:
        entry = last_entry(session, context["case_id"], "state_changed")
    return (
        entry is not None
        and entry.actor == actor
        and entry.data.get("trigger") == command.trigger
        and utcnow() - entry.at <= DOUBLE_CLICK
    )


def tell(context: dict[str, Any], body: dict[str, Any], text: str) -> None:
    """An ephemeral message to the user where he clicked, through the outbox (delivered, retried)."""
    deps: BotDeps = context["deps"]
    channel = (body.get("channel") or {}).get("id") or deps.settings.m3_channel
    # A refusal may quote what the import brought (contract numbers): never markup.
    payload = {"channel": channel, "user": context.get("user_id"), "text": escape(text)}
    thread_ts = (body.get("container") or {}).get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    if thread_ts:
        payload["thread_ts"] = thread_ts
    key = context.get("request_key")
    with unit_of_work(deps.engine, case_id=None, actor=actor_label(context)) as uow:
        uow.enqueue(EPHEMERAL, payload, dedupe_key=f"tell:{key}" if key else None, priority=URGENT)
