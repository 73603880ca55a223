"""The Slack messages a change of a case causes, queued in the same transaction as the change (outbox).

The status card and the thread message of the current step are re-rendered from the saved case and queued
as `message.upsert`: posted once, then edited in place. When the state moves on, the step just left is
rendered once more, read-only, so the thread keeps a record of every answer. A message whose rendering is
the same as the last one queued for it is not queued again (the card changes only with the step, the agent
and the closing). The step messages are queued before the card: delivery sends them first. After a click,
every row carries the click's `response_url` (`respond`): delivery uses it for the message that was clicked.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.views.card import status_card
from bot.views.steps import step_message
from config.settings import Settings
from flows.case import Case, State
from storage import outbox
from storage.outbox import BULK, NORMAL, URGENT
from storage.repository import load_case
from storage.slack_messages import CARD, UPSERT
from storage.tables import Agent, utcnow

# Contact and callback are one step of the call: one message in the thread.
_STEP_ROLE = {
    State.preparation: "step:preparation",
    State.contact_attempt: "step:contact",
    State.scheduled_callback: "step:contact",
    State.admin_profile_update: "step:profile",
    State.admin_contract_validation: "step:contracts",
    State.commercial_rebound: "step:rebound",
    State.action_plan: "step:action_plan",
    # The closing notice replaces the action plan's message: it lists the dated plan, one post less per call.
    State.closed: "step:action_plan",
}


def agent_names(session: Session) -> dict[str, str]:
    """Agents' display names by e-mail, for cards and scripts."""
    return {email: name for email, name in session.exec(select(Agent.email, Agent.display_name)) if name}


def agency_today(settings: Settings) -> date:
    return utcnow().astimezone(ZoneInfo(settings.agency_timezone)).date()


def queue_case_messages(
    session: Session, case: Case, settings: Settings, *, previous: State | None,
    respond: dict[str, str] | None = None, bulk: bool = False,
) -> None:
    """Queue, in the session's transaction, the step messages and the card that show `case` as it will be
    committed; `previous` is the state before the event (None when the case has just been opened).
    `respond` is the click's response_url (`url`, the clicked message's `ts`, `at`); `bulk` marks work no
    agent is waiting for (the morning opening), sent after everything else."""
    names = agent_names(session)
    today = agency_today(settings)
    last = outbox.last_digests(session, case.id)
    states = [case.state]
    if previous is not None and _STEP_ROLE[previous] != _STEP_ROLE[case.state]:
        states.insert(0, previous)
    for state in states:
        step = step_message(case, names, today, state=state)
        _upsert(session, settings, case, _STEP_ROLE[state], step.text, step.blocks, last=last, respond=respond,
                priority=BULK if bulk else URGENT)
    card = status_card(case, names)
    _upsert(session, settings, case, CARD, card.text, card.blocks, last=last, respond=respond,
            priority=BULK if bulk else NORMAL)


def queue_opened_case(session: Session, case_id: int, settings: Settings, *, bulk: bool = True) -> None:
    """The `on_open` hook of `storage.queries.open_due`: post the card and the preparation step."""
    queue_case_messages(session, load_case(session, case_id, lock=False), settings, previous=None, bulk=bulk)


def _upsert(
    session: Session, settings: Settings, case: Case, role: str, text: str, blocks: list[dict], *,
    last: dict[str, str | None], respond: dict[str, str] | None, priority: int,
) -> None:
    payload = {"case_id": case.id, "role": role, "channel": settings.m3_channel, "text": text, "blocks": blocks}
    if last.get(role) == outbox.content_digest(payload):
        return  # Slack shows (or will show) exactly this already
    if respond is not None:
        payload["respond"] = respond
    outbox.enqueue(session, UPSERT, payload, case_id=case.id, priority=priority)
