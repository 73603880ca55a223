"""50 agents clicking through whole calls at once against one bot process: every click and every modal is
acknowledged within Slack's 3 seconds (a contract of the platform: past it the agent sees an error), none
fails, and every step of every case is committed and shows in Slack once."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from sqlalchemy.engine import Engine

from flows.case import State
from sandbox.slack_api import BotReply
from tests.bot.driver import CallDriver
from tests.bot.harness import wait_until
from tests.load.conftest import FIGURES
from tests.support.faulty_driver import opened_modal
from tests.support.ledger import reconcile
from tests.support.process_harness import ProcessHarness, process_harness

AGENTS = 50
SLACK_ACK_SECONDS = 3.0
POLL_SECONDS = 0.2
CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def legal_calling_time() -> Iterator[None]:
    with time_machine.travel(CALL_TIME, tick=True):
        yield


@pytest.fixture
def bot(pg_engine: Engine, tmp_path) -> Iterator[ProcessHarness]:
    with process_harness(pg_engine, tmp_path / "bot.log") as harness:
        harness.poll = POLL_SECONDS
        yield harness


class TimedCall(CallDriver):
    """A call that keeps how long the bot took to answer each of its requests."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.answers: list[float] = []

    def send(self, payload: dict[str, Any]) -> BotReply:
        action = payload["actions"][0]
        key = f"action:{action['action_ts']}:{action['action_id']}:{self.user}"
        reply = self.h.slack.send_interaction(payload)
        assert reply.status == 200, reply.body
        self.answers.append(reply.elapsed)
        self.clicks += 1
        # Fifty agents polling the database every 10 ms would be the load: they look less often.
        wait_until(lambda: self._handled(key) or opened_modal(self.h.slack, payload), timeout=30,
                   interval=self.h.poll)
        return reply  # the next look at a message waits for this case's deliveries (`message` drains)

    def submit(self, values: dict[str, Any]) -> BotReply:
        reply = super().submit(values)
        self.answers.append(reply.elapsed)
        return reply


def agent_call(bot: ProcessHarness, n: int) -> TimedCall:
    user, email = f"U0LOAD{n:02d}", f"agent{n:02d}@agence.fr"
    case_id = bot.open_case(f"L{n:02d}", agent=email)
    call = TimedCall(bot.for_case(case_id), case_id, user)
    call.whole_call(date(2026, 12, 8))
    return call


def test_fifty_agents_at_once_are_each_answered_within_three_seconds_and_lose_no_step(bot: ProcessHarness) -> None:
    bot.add_agents([(f"U0LOAD{n:02d}", f"agent{n:02d}@agence.fr", f"Agent {n:02d}") for n in range(AGENTS)])

    with ThreadPoolExecutor(max_workers=AGENTS) as pool:
        calls = list(pool.map(lambda n: agent_call(bot, n), range(AGENTS)))

    refusals = {call.user: call.ephemerals() for call in calls if call.ephemerals()}

    answers = sorted(seconds for call in calls for seconds in call.answers)
    bot.drain()
    ledger = reconcile(bot.engine, bot.slack, bot.channel)
    FIGURES.update({
        "agents": AGENTS, "requests": len(answers),
        "median answer (s)": round(statistics.median(answers), 3), "slowest answer (s)": round(answers[-1], 3),
        "messages expected": ledger.expected, "delivered": ledger.delivered, "duplicated": ledger.duplicated,
    })
    assert answers[-1] < SLACK_ACK_SECONDS
    assert all(call.case().state is State.closed for call in calls)
    assert refusals == {}
    assert ledger.problems == [] and ledger.delivered == ledger.expected
