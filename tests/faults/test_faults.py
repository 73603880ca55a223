"""Faults while agents work: the bot process SIGKILLed and restarted, Slack failing, slow or rate-limiting,
PostgreSQL unreachable. After each, every case is consistent with its answers, and every step the bot
committed shows in Slack once, with its last content: nothing lost, nothing duplicated.

The bot runs as a real process (`tests.support.bot_process`) talking to PostgreSQL through a proxy the test
controls and to the Slack stand-in; the agent is a `FaultyCall` that clicks again when a click is lost.
Random choices come from a seeded generator: a failure names its seed (`M3_FAULT_SEED` replays it).
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy.engine import Engine

from flows.case import State
from tests.bot.harness import wait_until
from tests.faults.conftest import FIGURES
from tests.support.faulty_driver import Fault, FaultyCall
from tests.support.ledger import reconcile
from tests.support.process_harness import ProcessHarness, process_harness

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Paris: a legal calling slot
CALL_INTERACTIONS = 24  # the clicks and modal submissions of `whole_call`
# CI replays known schedules of faults so that a submission is judged on its code, not on the draw;
# elsewhere each run draws a new one. Seed 250782 once failed: views.open answered 500 twice in the rebound
# and the agent was left waiting for a modal (now he is told to click again); CI keeps replaying it.
CI_SEEDS = (212998, 250782)
if os.environ.get("M3_FAULT_SEED"):
    SEEDS = (int(os.environ["M3_FAULT_SEED"]),)
else:
    SEEDS = CI_SEEDS if os.environ.get("CI") else (random.SystemRandom().randrange(10**6),)


@pytest.fixture(autouse=True)
def legal_calling_time() -> Iterator[None]:
    with time_machine.travel(CALL_TIME, tick=True):
        yield


@pytest.fixture
def bot(pg_engine: Engine, tmp_path) -> Iterator[ProcessHarness]:
    with process_harness(pg_engine, tmp_path / "bot.log") as harness:
        yield harness


@pytest.fixture(params=SEEDS, ids=lambda seed: f"seed{seed}")
def seed(request: pytest.FixtureRequest, record_property: Callable[[str, object], None]) -> int:
    record_property("seed", request.param)
    FIGURES[f"runs with M3_FAULT_SEED={request.param}"] += 1
    return request.param


@pytest.fixture
def rng(seed: int) -> random.Random:
    return random.Random(seed)


def whole_call(bot: ProcessHarness, number: str, faults: Callable[[int], tuple[Fault, float] | None]) -> FaultyCall:
    """One case from its opening to its closing, through Slack, with `faults` striking on the way."""
    case_id = bot.open_case(number)
    call = FaultyCall(bot, case_id, bot.agent_id, faults)
    call.whole_call(date(2026, 12, 8))
    FIGURES["scenarios run"] += 1
    FIGURES["clicks resent"] += call.resent
    assert call.interactions == CALL_INTERACTIONS
    return call


def at_random(rng: random.Random, fault: Fault, count: int, *, interactions: int = CALL_INTERACTIONS,
              max_delay: float = 0.3) -> Callable[[int], tuple[Fault, float] | None]:
    """`fault` strikes `count` interactions of a call, chosen at random, a random time after each is sent."""
    chosen = set(rng.sample(range(interactions), count))
    return lambda index: (fault, rng.uniform(0.0, max_delay)) if index in chosen else None


def assert_nothing_lost_or_repeated(bot: ProcessHarness, calls: list[FaultyCall], seed: int) -> None:
    bot.drain()
    for call in calls:
        assert call.case().state is State.closed, f"seed {seed}"
    ledger = reconcile(bot.engine, bot.slack, bot.channel)
    FIGURES["messages expected"] += ledger.expected
    FIGURES["messages delivered"] += ledger.delivered
    FIGURES["messages duplicated"] += ledger.duplicated
    assert ledger.problems == [], f"seed {seed}"
    assert ledger.delivered == ledger.expected and ledger.duplicated == 0


def test_a_bot_killed_at_random_points_of_calls_loses_and_repeats_nothing(bot: ProcessHarness, rng: random.Random,
                                                                           seed: int) -> None:
    kill = Fault("SIGKILL", strike=bot.bot.kill, recover=bot.restart)

    calls = [whole_call(bot, f"K{n}", at_random(rng, kill, 3)) for n in range(2)]

    kills = sum(len(call.struck) for call in calls)
    FIGURES["bot killed"] += kills
    FIGURES["faults injected"] += kills
    assert kills == 6
    assert_nothing_lost_or_repeated(bot, calls, seed)


def test_slack_failing_slow_and_rate_limiting_delays_messages_but_loses_and_repeats_none(
        bot: ProcessHarness, rng: random.Random, seed: int) -> None:
    slack = bot.slack
    outages = [
        lambda: slack.fail("chat.postMessage", times=3),
        lambda: slack.fail("chat.update", times=3, status=503),
        lambda: slack.ratelimit("chat.update", times=2, retry_after=1),
        lambda: slack.ratelimit("chat.postMessage", times=1, retry_after=1),
        lambda: slack.slow("chat.update", 1.5, times=2),  # past the client's 1 s timeout
        lambda: slack.fail("views.open", times=1),  # the listeners' client retries a 500 once
    ]

    def outage(index: int) -> tuple[Fault, float] | None:
        if index % 3:
            return None
        start = rng.choice(outages)
        return Fault("Slack outage", strike=start, recover=lambda: None), 0.0

    calls = [whole_call(bot, "S1", outage)]

    refused = sum(1 for c in slack.calls if c.status != 200)
    FIGURES["Slack outages"] += sum(len(call.struck) for call in calls)
    FIGURES["Slack answers 5xx / 429"] += refused
    FIGURES["faults injected"] += sum(len(call.struck) for call in calls)
    assert refused, "no fault reached the bot"
    assert_nothing_lost_or_repeated(bot, calls, seed)


def test_the_database_unreachable_for_a_while_loses_and_repeats_nothing(bot: ProcessHarness, rng: random.Random,
                                                                        seed: int) -> None:
    proxy = bot.proxy

    def cut() -> None:
        proxy.cut()
        threading.Timer(rng.uniform(0.5, 1.5), proxy.restore).start()

    database_away = Fault("database unreachable", strike=cut, recover=lambda: wait_until(proxy.is_open, 5))

    calls = [whole_call(bot, "D1", at_random(rng, database_away, 3))]

    FIGURES["database cuts"] += proxy.cuts
    FIGURES["faults injected"] += proxy.cuts
    assert proxy.cuts == 3
    assert_nothing_lost_or_repeated(bot, calls, seed)


def test_posts_whose_answer_was_lost_after_slack_made_them_are_not_posted_twice(
        bot: ProcessHarness, rng: random.Random, seed: int) -> None:
    slack = bot.slack

    def lose_answer() -> None:  # Slack posts at once, its answer comes after the bot's 1 s timeout
        slack.slow("chat.postMessage", 1.5, times=1, after_answer=True)

    lost = Fault("answer lost after the post", strike=lose_answer, recover=lambda: None)

    calls = [whole_call(bot, "T1", at_random(rng, lost, 6))]

    look_ups = slack.calls_to("conversations.replies") + slack.calls_to("conversations.history")
    FIGURES["answers lost after a post"] += sum(len(call.struck) for call in calls)
    FIGURES["look-ups before posting again"] += len(look_ups)
    FIGURES["faults injected"] += sum(len(call.struck) for call in calls)
    assert look_ups, "no post lost its answer"
    assert_nothing_lost_or_repeated(bot, calls, seed)
