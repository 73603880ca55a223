"""Benchmarks 1 and 4: how fast the bot acknowledges agents clicking through whole calls at once, next to a
bare Bolt app under the same load, and the bot's resident memory after that load.

The bot runs as `m3bot run` serves it over HTTP (`bench.server`), in a process of its own, behind waitress,
against the database it is given; the Slack stand-in (no rate limit) and N simulated agents run here. Each agent walks whole cases
(as `tests.bot.driver.CallDriver` does: start, reached, client file, contracts, rebound with its modals,
action plan, close), clicking as soon as the messages of his previous click are in Slack. Every request is
signed as Slack signs it. Measured per request: the time to the HTTP acknowledgement, and for those that
change the case, the time from the click to the stand-in receiving the `chat.update` of the case's card.

The bare app then gets the same load: each agent's recorded requests are replayed in the same order with the
same pauses between them, so both servers see the same requests at the same pace.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.figures import memory_mb, percentile
from bench.server import ServerProcess
from config.pacing import PaceSettings
from config.settings import reveal
from flows.case import State
from sandbox.slack_api import BotReply, SlackStandIn
from storage import outbox, slack_messages
from storage.tables import M3Case, Outbox
from tests.bot.conftest import bot_settings
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, CHANNEL, COLLEAGUE, LEAD, wait_until
from tests.support.faulty_driver import opened_modal
from tests.support.process_harness import ProcessHarness

# Tuesday 1 December 2026, 10:30 in Paris: a legal calling slot (the engine enforces the French rules).
CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
PLAN_DUE = date(2026, 12, 8)
POLL = 0.05  # how often an agent looks whether his case's messages are all out (database), seconds
WAIT_SLACK = 10.0  # how long an agent waits for his click to show in Slack before asking the database
BENCH_AGENTS = [(f"U0BENCH{n:02d}", f"bench{n:02d}@agence.fr", f"Agent Bench{n:02d}") for n in range(50)]


@dataclass(frozen=True)
class Sent:
    """One request the stand-in sent the bot: who, on which case, when (monotonic), how long to the answer."""

    user: str
    case_id: int | None
    started: float
    elapsed: float
    status: int
    payload: dict[str, Any]


class RecordingStandIn(SlackStandIn):
    """The stand-in, keeping every interaction it sends to the bot with its timing, and indexing what an
    agent waits for (his card edited, the message he clicked replaced through its response_url, his modal
    opened, a refusal told) so that he need not poll for it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.sent: list[Sent] = []
        self.case_of: dict[str, int] = {}  # user -> the case he is working on
        self.edited: dict[tuple[str, str], float] = {}  # (channel, ts) -> last chat.update (monotonic)
        self.triggers_used: set[str] = set()  # by views.open
        self.told: dict[str, float] = {}  # user -> last ephemeral (monotonic)
        self.responded: dict[str, float] = {}  # user -> last post to his click's response_url (monotonic)
        self._sent_lock = threading.Lock()

    def handle_api(self, method: str, args: dict[str, Any], auth: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
        answer = super().handle_api(method, args, auth)
        if answer[0] == 200 and answer[1].get("ok"):
            with self._changed:
                if method == "chat.update":
                    self.edited[(args.get("channel"), args.get("ts"))] = time.monotonic()
                elif method == "views.open":
                    self.triggers_used.add(args.get("trigger_id"))
                elif method == "chat.postEphemeral":
                    self.told[args.get("user")] = time.monotonic()
                self._changed.notify_all()
        return answer

    def handle_response_url(self, response_id: str, body: dict[str, Any]) -> tuple[int, str]:
        answer = super().handle_response_url(response_id, body)
        if answer[0] == 200:
            with self._changed:
                self.responded[self._responses[response_id].user] = time.monotonic()
                self._changed.notify_all()
        return answer

    def send_interaction(self, payload: dict[str, Any], **signing: Any) -> BotReply:
        started = time.monotonic()
        reply = super().send_interaction(payload, **signing)
        user = payload["user"]["id"]
        with self._sent_lock:
            self.sent.append(Sent(user, self.case_of.get(user), started, reply.elapsed, reply.status, payload))
        return reply


class SimulatedAgent(CallDriver):
    """An agent who clicks as soon as his previous click is committed and its messages are in Slack; waits
    only on his own case (the base driver waits for the whole outbox), and on the stand-in rather than on the
    database wherever he can, so that fifty of them do not load the database the bot uses."""

    def send(self, payload: dict[str, Any]) -> BotReply:
        slack: RecordingStandIn = self.h.slack
        where = self._card_at()
        action = payload["actions"][0]
        started = time.monotonic()
        reply = slack.send_interaction(payload)
        if reply.status != 200:
            raise RuntimeError(f"the bot answered {reply.status} to {action['action_id']}")
        self.clicks += 1
        try:
            slack.wait_for(lambda: slack.edited.get(where, 0) > started or payload["trigger_id"] in slack.triggers_used
                           or slack.told.get(self.user, 0) > started or slack.responded.get(self.user, 0) > started,
                           timeout=WAIT_SLACK)
        except TimeoutError:  # a click that changed nothing shows nothing: the database says when it is done
            key = f"action:{action['action_ts']}:{action['action_id']}:{self.user}"
            wait_until(lambda: self._handled(key) or opened_modal(slack, payload), timeout=60, interval=POLL)
        self.h.drain()
        return reply

    def _card_at(self) -> tuple[str, str]:
        """Where the case's card is (it never moves): asked of the database once per case."""
        if not hasattr(self, "_card"):
            card = self.card()
            self._card = (card.channel, card.ts)
        return self._card


@dataclass
class Run:
    """One load run against one server: every request sent, and the card updates they caused."""

    server: str
    agents: int
    cases: list[int]
    started: float
    duration: float
    sent: list[Sent]
    card_updates_ms: list[float] = field(default_factory=list)
    unfinished: int = 0  # cases not closed at the end (should be 0)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.sent if s.status != 200)

    def ack(self, q: int, kind: str | None = None) -> float:
        """Percentile q of the acknowledgements, of one kind of request (`block_actions`, `view_submission`)
        or of all."""
        return percentile([s.elapsed * 1000 for s in self.sent if kind in (None, s.payload["type"])], q)

    def count(self, kind: str) -> int:
        return sum(1 for s in self.sent if s.payload["type"] == kind)

    def update(self, q: int) -> float:
        return percentile(self.card_updates_ms, q)


@dataclass
class Bench:
    slack: RecordingStandIn
    harness: ProcessHarness
    ours: ServerProcess
    bare: ServerProcess
    runs: int = 0
    idle_memory_mb: float = 0.0

    @property
    def engine(self) -> Engine:
        return self.harness.engine


# The bot's own pacing when the stand-in applies no limit (benchmark 1): Slack's rates a thousand times faster,
# so that the bot paces to what this stand-in allows, as it does to Slack's limits in production.
UNLIMITED = PaceSettings(_env_file=None).faster(1000)


def server_env(slack: SlackStandIn, engine: Engine, pace: PaceSettings | None = None) -> dict[str, str]:
    """The bot process's environment; `pace`: the limits it paces to (Slack's by default)."""
    settings = bot_settings(slack, engine)
    paced = {} if pace is None else {
        "SLACK_PACE_METHODS": json.dumps(pace.methods),
        "SLACK_PACE_POST_PER_CHANNEL": str(pace.post_per_channel),
        "SLACK_PACE_POST_CHANNEL_BURST": str(pace.post_channel_burst),
    }
    return paced | {
        "DATABASE_URL": settings.database_url,
        "SLACK_BOT_TOKEN": reveal(settings.slack_bot_token),
        "SLACK_SIGNING_SECRET": reveal(settings.slack_signing_secret),
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": settings.slack_api_url,
        "M3_CHANNEL": settings.m3_channel,
        "M3_LEADS": ",".join(settings.m3_leads),
    }


@contextmanager
def servers(engine: Engine, log_path: Path, *, bare: bool = True, pace: PaceSettings | None = None) -> Iterator[Bench]:
    """The stand-in (no limits), our bot pacing itself to `pace` (Slack's limits by default) and the bare Bolt
    app (unless not `bare`) around the migrated database `engine`. The caller has travelled to `CALL_TIME`:
    the servers start their clocks where the caller's is."""
    with RecordingStandIn() as slack, open(log_path, "a") as log:
        slack.add_channel(CHANNEL, "m3-suivi")
        settings = bot_settings(slack, engine)
        harness = ProcessHarness(slack, None, settings, engine, None)
        harness.add_agents([AGENT, COLLEAGUE, LEAD, *BENCH_AGENTS])
        env = server_env(slack, engine, pace)
        ours, bare_app = ServerProcess("ours", env, log), ServerProcess("bare", env, log)
        try:
            if bare:
                bare_app.start(datetime.now(UTC))
            slack.bot_url = ours.start(datetime.now(UTC))
            bench = Bench(slack, harness, ours, bare_app, idle_memory_mb=memory_mb(ours.pid)[0])
            yield bench
        finally:
            ours.stop()
            bare_app.stop()


def pending_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(sa.func.count(Outbox.id)).where(Outbox.status == outbox.PENDING)).one()


def ours_run(bench: Bench, agents: int, cases_each: int) -> Run:
    """N agents at once, each walking `cases_each` whole cases one after the other."""
    bench.runs += 1
    slack, harness = bench.slack, bench.harness
    plan = {
        user: [harness.open_case(f"R{bench.runs}A{n}K{k}", agent=email) for k in range(cases_each)]
        for n, (user, email, _name) in enumerate(BENCH_AGENTS[:agents])
    }
    # The openings' cards are posted by the bot's delivery (it polls: these commits are not its own).
    wait_until(lambda: pending_rows(bench.engine) == 0, timeout=120, interval=0.2)

    def walk(user: str) -> None:
        for case_id in plan[user]:
            slack.case_of[user] = case_id
            SimulatedAgent(harness.for_case(case_id), case_id, user).whole_call(PLAN_DUE)

    slack.bot_url = bench.ours.url
    slack.sent = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=agents) as pool:
        list(pool.map(walk, plan))
    run = Run("ours", agents, [c for cases in plan.values() for c in cases], started, time.monotonic() - started,
              list(slack.sent))
    run.card_updates_ms = card_updates_ms(bench, run)
    with Session(bench.engine) as session:
        run.unfinished = session.exec(select(sa.func.count(M3Case.id)).where(
            M3Case.id.in_(run.cases), M3Case.state != State.closed.value)).one()
    return run


def card_updates_ms(bench: Bench, run: Run) -> list[float]:
    """For each request followed by an update of its case's card before the agent's next request: the time
    from the click to the stand-in receiving that `chat.update`."""
    cards = {case_id: slack_messages.find(bench.engine, case_id, slack_messages.CARD) for case_id in run.cases}
    updates: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in bench.slack.calls_to("chat.update"):
        if call.status == 200 and call.response.get("ok"):
            updates[(call.args.get("channel"), call.args.get("ts"))].append(call.at)
    by_user: dict[str, list[Sent]] = defaultdict(list)
    for sent in run.sent:
        by_user[sent.user].append(sent)
    found = []
    for requests in by_user.values():
        for this, following in zip(requests, [*requests[1:], None], strict=True):
            card = cards.get(this.case_id)
            if card is None:
                continue
            times = sorted(updates[(card.channel, card.ts)])
            first = bisect.bisect_left(times, this.started)
            if first < len(times) and (following is None or times[first] < following.started):
                found.append((times[first] - this.started) * 1000)
    return found


def bare_run(bench: Bench, ours: Run) -> Run:
    """The requests of `ours`, replayed to the bare app by the same agents with the same pauses."""
    by_user: dict[str, list[Sent]] = defaultdict(list)
    for sent in ours.sent:
        by_user[sent.user].append(sent)

    def replay(user: str) -> None:
        previous_end = ours.started
        for sent in by_user[user]:
            time.sleep(max(0.0, sent.started - previous_end))
            bench.slack.send_interaction(sent.payload)
            previous_end = sent.started + sent.elapsed

    bench.slack.bot_url = bench.bare.url
    bench.slack.sent = []
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=len(by_user)) as pool:
            list(pool.map(replay, by_user))
    finally:
        bench.slack.bot_url = bench.ours.url
    return Run("bare", ours.agents, ours.cases, started, time.monotonic() - started, list(bench.slack.sent))


@dataclass
class Memory:
    idle_mb: float
    after_load_mb: float
    after_lists_mb: float
    peak_mb: float
    lists: int  # /m3 mes-dossiers and App Home requests of the last phase


def memory_after_load(bench: Bench, agents: list[str]) -> Memory:
    """Resident memory of the bot: after the click load, then after each of `agents` (e-mails of agents of
    the filled database) and the lead asked for their lists and Homes."""
    after_load = memory_mb(bench.ours.pid)[0]
    slack = bench.slack
    people = [(f"U0MEM{n:02d}", email, f"Agent Mem{n:02d}") for n, email in enumerate(agents)]
    bench.harness.add_agents(people)
    publishes = len(slack.calls_to("views.publish"))
    for user, _email, _name in people:
        assert slack.slash_command(user, "/m3", "mes-dossiers", channel=CHANNEL).status == 200
        assert slack.app_home_opened(user).status == 200
    assert slack.app_home_opened(LEAD[0]).status == 200
    expected = publishes + len(people) + 1
    wait_until(lambda: len(slack.calls_to("views.publish")) >= expected
               and all(slack.ephemerals_for(user) for user, _e, _n in people), timeout=120, interval=0.2)
    now, peak = memory_mb(bench.ours.pid)
    return Memory(bench.idle_memory_mb, after_load, now, peak, 2 * len(people) + 1)
