"""The Slack messages a change of a case causes, queued in the same transaction as the change (outbox).

The status card and the thread message of the current step are re-rendered from the saved case and queued
as `message.upsert`: posted once, then edited in place. When the state moves on, the step just left is
rendered once more, read-only, so the thread keeps a record of every answer.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.views.card import status_card
from bot.views.steps import step_message
from config.settings import Settings
from flows.case import Case, State
from flows.engine import checklist_progress
from storage import outbox
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
    State.closed: "step:closed",
}


def agent_names(session: Session) -> dict[str, str]:
    """Agents' display names by e-mail, for cards and scripts."""
    return {email: name for email, name in session.exec(select(Agent.email, Agent.display_name)) if name}


def agency_today(settings: Settings) -> date:
    return utcnow().astimezone(ZoneInfo(settings.agency_timezone)).date()


def queue_case_messages(session: Session, case: Case, settings: Settings, *, previous: State | None) -> None:
    """Queue, in the session's transaction, the card and the step messages that show `case` as it will be
    committed; `previous` is the state before the event (None when the case has just been opened)."""
    names = agent_names(session)
    today = agency_today(settings)
    done, total = checklist_progress(case)
    card = status_card(case, names, done, total)
    _upsert(session, settings, case, CARD, card.text, card.blocks)
    states = [case.state]
    if previous is not None and _STEP_ROLE[previous] != _STEP_ROLE[case.state]:
        states.insert(0, previous)
    for state in states:
        step = step_message(case, names, today, state=state)
        _upsert(session, settings, case, _STEP_ROLE[state], step.text, step.blocks)


def queue_opened_case(session: Session, case_id: int, settings: Settings) -> None:
    """The `on_open` hook of `storage.queries.open_due`: post the card and the preparation step."""
    queue_case_messages(session, load_case(session, case_id, lock=False), settings, previous=None)


def _upsert(session: Session, settings: Settings, case: Case, role: str, text: str, blocks: list[dict]) -> None:
    payload = {"case_id": case.id, "role": role, "channel": settings.m3_channel, "text": text, "blocks": blocks}
    outbox.enqueue(session, UPSERT, payload, case_id=case.id)
