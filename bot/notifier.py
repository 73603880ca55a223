"""The scheduler's `Notifier` for Slack: each reminder's messages are queued into the outbox in the
scheduler's own transaction, under a dedupe key named after the reminder, and delivered by
`bot.outbox_delivery` like every other message.

Callback reminders go to the case's thread and mention the agent; an action's reminder goes to its owner
by direct message (in the case's thread when he is not known to Slack); the digest goes to each lead by
direct message, or to the M+3 channel when no lead is configured. Each morning, every agent in charge of
newly opened cases gets one direct message listing them, linked to their threads.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot import agents
from bot.outbox_delivery import MORNING_LIST
from bot.privacy import queue_anonymised_messages
from bot.rendering import (
    agent_names,
    queue_case_messages,
    queue_thread_notice,
    refresh_card,
    slack_id,
    tell_destinations,
)
from bot.views.blocks import Message
from bot.views.lead_tools import handover_notice, handover_summary, reassigned_notice
from bot.views.reminders import action_reminder, callback_reminder, digest_message
from bot.views.text import client_name, day, escape, mention
from config.settings import Settings
from flows.case import Action, Case, State
from service.digest import Digest
from storage import outbox
from storage.outbox import BULK, URGENT
from storage.slack_messages import UPSERT

POST = "chat.postMessage"
EPHEMERAL = "chat.postEphemeral"


class SlackNotifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def with_settings(self, settings: Settings) -> SlackNotifier:
        return SlackNotifier(settings)

    def case_opened(self, session: Session, case: Case, *, now: datetime, bulk: bool = False) -> None:
        queue_case_messages(session, case, self.settings, previous=None, bulk=bulk, now=now)

    def case_changed(self, session: Session, case: Case, *, previous: State, now: datetime,
                     respond: dict[str, str] | None = None) -> None:
        queue_case_messages(session, case, self.settings, previous=previous, respond=respond, now=now)

    def case_reassigned(self, session: Session, case: Case, *, absent: str | None, now: datetime) -> None:
        agents.queue_lookup(session, case.agent, tell=tell_destinations(self.settings))
        names = agent_names(session)
        who = mention(slack_id(session, case.agent), case.agent, names)
        notice = reassigned_notice(who) if absent is None else handover_notice(who, absent, names)
        queue_thread_notice(session, self.settings, case.id, notice, now=now)

    def handed_over(self, session: Session, lead: str, absent: str, given: dict[int, str], *, now: datetime) -> None:
        summary = handover_summary(absent, given, agent_names(session))
        outbox.enqueue(session, POST, {"channel": lead, "text": summary.text, "blocks": summary.blocks}, now=now)

    def tell(self, session: Session, *, channel: str, user: str | None, text: str, thread_ts: str | None,
             key: str | None, now: datetime) -> None:
        payload = {"channel": channel or self.settings.m3_channel, "user": user, "text": text}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        outbox.enqueue(session, EPHEMERAL, payload, dedupe_key=key, now=now, priority=URGENT)

    def callback_due(
        self, session: Session, case: Case, *, reminder_id: int, callback_at: datetime, unanswered: int,
        offer_unreachable: bool, now: datetime,
    ) -> None:
        agent = case.caller or case.agent
        who = mention(slack_id(session, agent), agent, agent_names(session))
        shown = callback_reminder(case, who=who, callback_at=callback_at, unanswered=unanswered,
                                  offer_unreachable=offer_unreachable, tz=self.settings.agency_timezone)
        self._in_thread(session, case, reminder_id, shown, now)

    def action_due(
        self, session: Session, case: Case, action: Action, *, reminder_id: int, overdue: bool, now: datetime
    ) -> None:
        owner = slack_id(session, action.owner)
        shown = action_reminder(case, action, who=mention(owner, action.owner, agent_names(session)),
                                overdue=overdue)
        if overdue:  # the action's date has passed: the card's overdue mark comes now, not at the next click
            refresh_card(session, case, self.settings, now=now)
        if owner is None:
            self._in_thread(session, case, reminder_id, shown, now)
            return
        outbox.enqueue(session, POST, {"channel": owner, "text": shown.text, "blocks": shown.blocks},
                       case_id=case.id, dedupe_key=f"reminder:{reminder_id}", now=now, priority=BULK)

    def digest(self, session: Session, digest: Digest, *, reminder_id: int, now: datetime) -> None:
        shown = digest_message(digest, agent_names(session))
        payload = {"text": shown.text, "blocks": shown.blocks}
        channel = [self.settings.m3_channel] if self.settings.m3_channel else []
        for destination in self.settings.m3_leads or channel:
            outbox.enqueue(session, POST, {"channel": destination, **payload},
                           dedupe_key=f"reminder:{reminder_id}:{destination}", now=now, priority=BULK)

    def cases_opened(self, session: Session, cases: list[Case], *, reminder_id: int, now: datetime) -> None:
        # Rendered at delivery (`bot.outbox_delivery`): the list links to threads whose cards are still coming.
        by_agent: dict[str, list[Case]] = {}
        for case in cases:
            if case.agent:
                by_agent.setdefault(case.agent, []).append(case)
        for email, theirs in by_agent.items():
            rows = [[case.id, escape(client_name(case)), day(case.m3_date)] for case in theirs]
            outbox.enqueue(session, MORNING_LIST, {"agent": email, "cases": rows},
                           dedupe_key=f"reminder:{reminder_id}:morning:{email}", now=now, priority=BULK)

    def case_erased(self, session: Session, case_id: int) -> None:
        queue_anonymised_messages(session, case_id, self.settings)

    def _in_thread(self, session: Session, case: Case, reminder_id: int, shown: Message, now: datetime) -> None:
        # A role of its own posts a new message in the card's thread (delivery waits for the card if needed).
        role = f"reminder:{reminder_id}"
        payload = {"case_id": case.id, "role": role, "channel": self.settings.m3_channel, "text": shown.text,
                   "blocks": shown.blocks}
        outbox.enqueue(session, UPSERT, payload, case_id=case.id, dedupe_key=role, now=now)

