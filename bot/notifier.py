"""The scheduler's `Notifier` for Slack: each reminder's messages are queued into the outbox in the
scheduler's own transaction, under a dedupe key named after the reminder, and delivered by
`bot.outbox_delivery` like every other message.

Callback reminders go to the case's thread and mention the agent; an action's reminder goes to its owner
by direct message (in the case's thread when he is not known to Slack); the digest goes to each lead by
direct message, or to the M+3 channel when no lead is configured.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.privacy import queue_anonymised_messages
from bot.rendering import agent_names, queue_case_messages
from bot.views.blocks import Message
from bot.views.reminders import action_reminder, callback_reminder, digest_message, mention
from config.settings import Settings
from flows.case import Action, Case, State
from scheduler.digest import Digest
from storage import outbox
from storage.outbox import BULK
from storage.slack_messages import UPSERT
from storage.tables import Agent

POST = "chat.postMessage"


class SlackNotifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def case_opened(self, session: Session, case: Case, *, now: datetime) -> None:
        queue_case_messages(session, case, self.settings, previous=None, bulk=True)

    def case_changed(self, session: Session, case: Case, *, previous: State, now: datetime) -> None:
        queue_case_messages(session, case, self.settings, previous=previous)

    def callback_due(
        self, session: Session, case: Case, *, reminder_id: int, callback_at: datetime, unanswered: int,
        offer_unreachable: bool, now: datetime,
    ) -> None:
        agent = case.caller or case.agent
        who = mention(_slack_id(session, agent), agent, agent_names(session))
        shown = callback_reminder(case, who=who, callback_at=callback_at, unanswered=unanswered,
                                  offer_unreachable=offer_unreachable, tz=self.settings.agency_timezone)
        self._in_thread(session, case, reminder_id, shown, now)

    def action_due(
        self, session: Session, case: Case, action: Action, *, reminder_id: int, overdue: bool, now: datetime
    ) -> None:
        slack_id = _slack_id(session, action.owner)
        shown = action_reminder(case, action, who=mention(slack_id, action.owner, agent_names(session)),
                                overdue=overdue)
        if slack_id is None:
            self._in_thread(session, case, reminder_id, shown, now)
            return
        outbox.enqueue(session, POST, {"channel": slack_id, "text": shown.text, "blocks": shown.blocks},
                       case_id=case.id, dedupe_key=f"reminder:{reminder_id}", now=now, priority=BULK)

    def digest(self, session: Session, digest: Digest, *, reminder_id: int, now: datetime) -> None:
        shown = digest_message(digest, agent_names(session))
        payload = {"text": shown.text, "blocks": shown.blocks}
        channel = [self.settings.m3_channel] if self.settings.m3_channel else []
        for destination in self.settings.m3_leads or channel:
            outbox.enqueue(session, POST, {"channel": destination, **payload},
                           dedupe_key=f"reminder:{reminder_id}:{destination}", now=now, priority=BULK)

    def case_erased(self, session: Session, case_id: int) -> None:
        queue_anonymised_messages(session, case_id, self.settings)

    def _in_thread(self, session: Session, case: Case, reminder_id: int, shown: Message, now: datetime) -> None:
        # A role of its own posts a new message in the card's thread (delivery waits for the card if needed).
        role = f"reminder:{reminder_id}"
        payload = {"case_id": case.id, "role": role, "channel": self.settings.m3_channel, "text": shown.text,
                   "blocks": shown.blocks}
        outbox.enqueue(session, UPSERT, payload, case_id=case.id, dedupe_key=role, now=now)


def _slack_id(session: Session, email: str | None) -> str | None:
    if not email:
        return None
    return session.exec(select(Agent.slack_user_id).where(Agent.email == email)).first()
