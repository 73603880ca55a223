"""What the use cases tell people, as an interface: the bot implements it (`bot.notifier`) by queueing
Slack messages into the outbox in the session it is given, so an event and its messages are written in
one transaction; the service layer itself never imports Slack code."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from config.settings import Settings
from flows.case import Action, Case, State
from service.digest import Digest


class Notifier(Protocol):
    def with_settings(self, settings: Settings) -> Notifier:
        """This notifier for an agency whose settings differ (its channel, its leads)."""

    def case_opened(self, session: Session, case: Case, *, now: datetime, bulk: bool = False) -> None:
        """A case was just opened: post its card and first step (`bulk`: no agent is waiting for them)."""

    def case_changed(self, session: Session, case: Case, *, previous: State, now: datetime,
                     respond: dict[str, str] | None = None) -> None:
        """The case moved on from `previous` (an agent's answer, a booked callback that came back): refresh
        its messages; `respond` is the click's response_url (`url`, the clicked message's `ts`, `at`)."""

    def case_reassigned(self, session: Session, case: Case, *, absent: str | None, now: datetime) -> None:
        """A lead gave the case to `case.agent` (in the absence of `absent`, a hand-over): tell him."""

    def handed_over(self, session: Session, lead: str, absent: str, given: dict[int, str], *, now: datetime) -> None:
        """The summary of a hand-over (case id -> new agent) for the lead who made it."""

    def tell(self, session: Session, *, channel: str, user: str | None, text: str, thread_ts: str | None,
             key: str | None, now: datetime) -> None:
        """A message only `user` sees where he acted (a refusal, a modal that did not open); once per `key`."""

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

    def cases_opened(self, session: Session, cases: list[Case], *, reminder_id: int, now: datetime) -> None:
        """This morning's opened `cases`: tell each agent in charge of his, once (never one ping per card)."""

    def case_erased(self, session: Session, case_id: int) -> None:
        """A client was erased (RGPD retention): anonymise what Slack shows of this case."""
