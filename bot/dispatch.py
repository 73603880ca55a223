"""From a Slack request to the service layer and back: who acts, which case, the command; the refusal or the
field errors come back to the listener, which shows them (ephemeral message, or modal errors).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.context import BotDeps
from bot.views.text import escape
from flows.case import Case
from flows.engine import Refused
from service.cases import Actor, ApplyToCase, Tell, apply_to_case
from service.cases import tell as tell_user

log = logging.getLogger(__name__)


def actor_label(context: dict[str, Any]) -> str:
    """Who the audit trail names: the agent's e-mail, else the Slack user (a lead who is not an agent)."""
    return context.get("actor") or f"slack:{context.get('user_id')}"


def actor_of(context: dict[str, Any]) -> Actor:
    return Actor(actor_label(context), context.get("actor"), is_lead=context.get("is_lead", False))


def apply(context: dict[str, Any], command: Any) -> Refused | None:
    """Apply `command` to the case of this request; returns the refusal, or None when done (or a duplicate)."""
    result = apply_form(context, lambda _case: command)
    assert not isinstance(result, dict)  # a command built beforehand has no field to refuse
    return result


def apply_form(context: dict[str, Any], parse: Callable[[Case], Any]) -> Refused | dict[str, str] | None:
    """Apply the command `parse` builds from the case, read once and locked: a modal's values are checked
    against the case they change. Returns the refusal, the field errors `parse` gave (nothing written), or
    None when done (or a duplicate)."""
    deps: BotDeps = context["deps"]
    actor = actor_of(context)
    result = apply_to_case(
        ApplyToCase(context["case_id"], actor, parse, deps.rules, request_key=context.get("request_key"),
                    respond=context.get("respond")),
        deps.uow(actor.label),
    )
    if isinstance(result, Refused):
        log.info("refused on case %s: %s", context["case_id"], result.code)
    return result


def tell(context: dict[str, Any], body: dict[str, Any], text: str, *, key: str | None = None) -> None:
    """An ephemeral message to the user where he clicked, through the outbox (delivered, retried); once per
    request (`key`: once per something else)."""
    deps: BotDeps = context["deps"]
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id") or deps.settings.m3_channel
    thread_ts = (body.get("container") or {}).get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    request = context.get("request_key")
    # A refusal may quote what the import brought (contract numbers): never markup.
    message = Tell(channel, context.get("user_id"), escape(text), thread_ts=thread_ts,
                   key=key or (f"tell:{request}" if request else None))
    tell_user(message, deps.uow(actor_label(context)))
