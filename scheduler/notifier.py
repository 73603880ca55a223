"""What the scheduler tells people, as an interface: the bot implements it (`bot.notifier`) by queueing
Slack messages into the outbox in the session it is given, so a reminder fires and its messages are
written in one transaction; the scheduler itself never imports Slack code."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from flows.case import Action, Case, State
from scheduler.digest import Digest


class Notifier(Protocol):
    def case_opened(self, session: Session, case: Case, *, now: datetime) -> None:
        """A case whose M+3 date has come was just opened: post its card."""

    def case_changed(self, session: Session, case: Case, *, previous: State, now: datetime) -> None:
        """The scheduler moved the case from `previous` (a booked callback came back): refresh its messages."""

    def callback_due(
        self, session: Session, case: Case, *, reminder_id: int, callback_at: datetime, unanswered: int,
        offer_unreachable: bool, now: datetime,
    ) -> None:
        """A booked callback is about to come: remind the agent in the thread; after `unanswered` attempts
        without answer (enough, says `offer_unreachable`), offer to close the case as unreachable."""

    def action_due(
        self, session: Session, case: Case, action: Action, *, reminder_id: int, overdue: bool, now: datetime
    ) -> None:
        """An action of the plan is due (or still not done): remind its owner."""

    def digest(self, session: Session, digest: Digest, *, reminder_id: int, now: datetime) -> None:
        """Send the morning digest to the leads."""

    def case_erased(self, session: Session, case_id: int) -> None:
        """A client was erased (RGPD retention): anonymise what Slack shows of this case."""
