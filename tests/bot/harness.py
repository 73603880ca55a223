"""The bot under test, whole: the Slack stand-in, the real Bolt app served over HTTP, the outbox deliverer.

    def test_something(harness, factory):
        case_id = factory.case()
        open_and_post(harness.engine, harness.settings, case_id, mark=False)  # card and first step, as the bot does
        harness.drain()                                             # wait until the outbox is empty
        (card,) = harness.slack.channel_messages(harness.channel)
        (step,) = harness.slack.thread(harness.channel, card.ts)
        reply = harness.click(harness.agent_id, step, "m3.start_call")
        assert reply.status == 200
        harness.drain()

Tests never sleep a fixed time: every wait polls a condition, with a timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.app import deps_of
from bot.outbox_delivery import OutboxDeliverer
from config.settings import Settings
from sandbox.slack_api import BotReply, Ephemeral, Message, SlackStandIn, View
from service.unit_of_work import UnitOfWork
from storage import outbox, slack_messages
from storage.tables import Agent, Outbox

CHANNEL = "C0M3"
AGENT = ("U0AGENT", "vendeur@agence.fr", "Vincent Vendeur")
COLLEAGUE = ("U0COLL", "collegue@agence.fr", "Camille Collègue")
LEAD = ("U0LEAD", "chef@agence.fr", "Léa Lead")


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll `condition` until it is truthy; its value, or AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def enqueue(engine: Engine, *calls: tuple[str, dict[str, Any], int | None]) -> None:
    """Queue (method, payload, case_id) calls in one transaction, as a unit of work does."""
    with Session(engine) as session, session.begin():
        for method, payload, case_id in calls:
            outbox.enqueue(session, method, payload, case_id=case_id)


def outbox_rows(engine: Engine) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.id)))


def drain(engine: Engine, timeout: float = 5.0) -> None:
    """Wait until no outbox row is pending any more (delivered or failed)."""
    wait_until(lambda: all(row.status != outbox.PENDING for row in outbox_rows(engine)), timeout)


@dataclass
class Harness:
    slack: SlackStandIn
    app: App
    settings: Settings
    engine: Engine
    deliverer: OutboxDeliverer
    channel: str = CHANNEL
    agent_id: str = AGENT[0]
    colleague_id: str = COLLEAGUE[0]
    lead_id: str = LEAD[0]

    # ---- acting as a Slack user --------------------------------------------------------------------

    def click(self, user: str, target: Message | Ephemeral | View, action_id: str, value: str | None = None) -> BotReply:
        return self.slack.click(user, target, action_id, value)

    def submit(self, user: str, view_id: str, values: dict[str, dict[str, Any]]) -> BotReply:
        return self.slack.submit_view(user, view_id, values)

    def slash(self, user: str, text: str = "", command: str = "/m3") -> BotReply:
        return self.slack.slash_command(user, command, text, channel=self.channel)

    def open_home(self, user: str) -> BotReply:
        return self.slack.app_home_opened(user)

    def uow(self, actor: str) -> UnitOfWork:
        """A unit of work as the bot gives its service handlers (its notifier renders into the outbox)."""
        return deps_of(self.app).uow(actor)

    # ---- the outbox --------------------------------------------------------------------------------

    def enqueue(self, *calls: tuple[str, dict[str, Any], int | None]) -> None:
        enqueue(self.engine, *calls)

    def upsert(self, case_id: int, role: str, text: str,
               blocks: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, Any], int]:
        payload = {"case_id": case_id, "role": role, "channel": self.channel, "text": text, "blocks": blocks or []}
        return slack_messages.UPSERT, payload, case_id

    def post_card(self, case_id: int, text: str = "Dossier M+3", blocks: list[dict[str, Any]] | None = None) -> Message:
        """Post (or update) a case's card through the outbox and return it as stored by the stand-in."""
        self.enqueue(self.upsert(case_id, slack_messages.CARD, text, blocks))
        self.drain()
        posted = slack_messages.find(self.engine, case_id, slack_messages.CARD)
        assert posted is not None, "the card was not posted"
        return self.slack.message(posted.channel, posted.ts)

    def outbox_rows(self) -> list[Outbox]:
        return outbox_rows(self.engine)

    def drain(self, timeout: float = 5.0) -> None:
        drain(self.engine, timeout)

    # ---- seeding -----------------------------------------------------------------------------------

    def add_agents(self, people: Iterable[tuple[str, str, str]]) -> None:
        """Slack users known to the stand-in and agents of the agency, already matched."""
        with Session(self.engine) as session, session.begin():
            for user_id, email, name in people:
                self.slack.add_user(user_id, email, name.split()[0].lower(), name)
                agent = session.exec(select(Agent).where(Agent.email == email)).first() or Agent(email=email)
                agent.display_name, agent.slack_user_id = name, user_id
                session.add(agent)
