"""The Slack messages a change of a case causes, queued in the same transaction as the change (outbox).

The status card and the thread message of the current step are re-rendered from the saved case and queued
as `message.upsert`: posted once, then edited in place. When the state moves on, the step just left is
rendered once more, read-only, so the thread keeps a record of every answer. A message whose rendering is
the same as the last one queued for it is not queued again (the card changes only with what it shows: the
step, the agent, the callback, the attempts, the consent, the next action, a passed due time, the closing).
The step messages are queued before the card: delivery sends them first. After a click, every row carries
the click's `response_url` (`respond`): delivery uses it for the message that was clicked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot import agents
from bot.views.blocks import Message
from bot.views.card import status_card
from bot.views.steps import step_message
from config.settings import Settings
from flows.case import Case, State
from storage import outbox
from storage.outbox import BULK, NORMAL, URGENT
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


@dataclass(frozen=True)
class People:
    """The agents as messages show them, read in one statement."""

    names: dict[str, str]  # e-mail -> display name
    slack_ids: dict[str, str]  # e-mail -> Slack user ID, for mentions


def people(session: Session) -> People:
    rows = session.exec(select(Agent.email, Agent.display_name, Agent.slack_user_id)).all()
    return People({email: name for email, name, _ in rows if name}, {email: user for email, _, user in rows if user})


def agent_names(session: Session) -> dict[str, str]:
    """Agents' display names by e-mail, for cards and scripts."""
    return people(session).names


def slack_id(session: Session, email: str | None) -> str | None:
    """One agent's Slack user ID, None while he is not matched."""
    if not email:
        return None
    return session.exec(select(Agent.slack_user_id).where(Agent.email == email)).first()


def tell_destinations(settings: Settings) -> list[str]:
    """Who hears of what the agency must fix (an agent's e-mail unknown to Slack): the leads, else the channel."""
    return list(settings.m3_leads) or ([settings.m3_channel] if settings.m3_channel else [])


def agency_today(settings: Settings, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(settings.agency_timezone)).date()


def queue_case_messages(
    session: Session, case: Case, settings: Settings, *, previous: State | None,
    respond: dict[str, str] | None = None, bulk: bool = False, now: datetime | None = None,
) -> None:
    """Queue, in the session's transaction, the step messages and the card that show `case` as it will be
    committed; `previous` is the state before the event (None when the case has just been opened).
    `respond` is the click's response_url (`url`, the clicked message's `ts`, `at`); `bulk` marks work no
    agent is waiting for (the morning opening), sent after everything else; `now` is the event's time."""
    known = people(session)
    names = known.names
    now = now or utcnow()
    today = agency_today(settings, now)
    last = outbox.last_digests(session, case.id)
    if previous is None:  # an agent imported while the bot runs is matched when his first case is queued
        # Those already matched (the people just read) cost no query: the morning opens cases by the thousand.
        for email in sorted({case.agent, case.seller} - {None} - set(known.slack_ids)):
            agents.queue_lookup(session, email, tell=tell_destinations(settings))
    states = [case.state]
    if previous is not None and _STEP_ROLE[previous] != _STEP_ROLE[case.state]:
        states.insert(0, previous)
    for state in states:
        step = step_message(case, names, today, state=state)
        _upsert(session, settings, case, _STEP_ROLE[state], step.text, step.blocks, last=last, respond=respond,
                priority=BULK if bulk else URGENT)
    queue_card(session, case, settings, names=names, mentions=known.slack_ids, now=now, last=last, respond=respond,
               priority=BULK if bulk else NORMAL)


def queue_card(
    session: Session, case: Case, settings: Settings, *, names: dict[str, str], mentions: dict[str, str],
    now: datetime, last: dict[str, str | None], respond: dict[str, str] | None = None, priority: int = BULK,
) -> None:
    """Queue the card as it reads at `now`, unless Slack shows (or will show) exactly this already."""
    # A new message notifies whom it mentions, an edit does not: the card's first post names the agent (no
    # ping per card at the morning opening, his morning list tells him once); its edits show the mention.
    card = status_card(case, names, now=now, rules=settings.rules(),
                       mentions=mentions if last.get(CARD) is not None else None)
    _upsert(session, settings, case, CARD, card.text, card.blocks, last=last, respond=respond, priority=priority)


def refresh_card(session: Session, case: Case, settings: Settings, *, now: datetime) -> None:
    """A due time passed (the scheduler's reminder): the card's overdue mark may have changed. One edit at
    most, sent after the urgent and normal work; none when the card reads the same."""
    known = people(session)
    queue_card(session, case, settings, names=known.names, mentions=known.slack_ids, now=now,
               last=outbox.last_digests(session, case.id))


def queue_thread_notice(session: Session, settings: Settings, case_id: int, shown: Message, *, now: datetime) -> None:
    """A new reply in the case's thread (a hand-over's notice): a role of its own, posted once."""
    role = f"notice:{case_id}:{now.isoformat()}"
    outbox.enqueue(session, UPSERT, {"case_id": case_id, "role": role, "channel": settings.m3_channel,
                                     "text": shown.text, "blocks": shown.blocks},
                   case_id=case_id, dedupe_key=role, now=now)


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
