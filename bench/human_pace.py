"""Benchmark 5: N agents clicking through whole calls at a human pace, the Slack stand-in applying Slack's
limits at their defaults (`sandbox.slack_api.Limits()`, real rates, no speed-up), on PostgreSQL.

The bot runs as in benchmark 1 (`bench.latency.servers`: `m3bot run`'s HTTP mode in a process of its own).
Each agent walks whole calls (the steps of `bench.latency.SimulatedAgent`), one case after another, and
before each gesture (a click or a modal's submission) pauses 4 to 8 seconds at random, as a person reading
and deciding; he waits for what he reads, not for the whole outbox: his click committed, the step message he
clicks next posted. The cases are opened before the run with the stand-in limiting nothing (the morning
opening is benchmark 2's subject), then the limits start with full buckets and the agents for `seconds`.

Measured, all on the stand-in's clock except the outbox's age:
- the 429 answers the limits gave after the run's first minute (a bucket's burst may go in the first);
- click → clicked message updated: from a click on a message to the stand-in changing that message's
  content, through `chat.update` or the interaction's `response_url` (both counted, and by which way);
  clicks that open a modal are left out (the modal's submission changes the message);
- click → next step posted: to the first message posted in the case's thread before the agent's next
  gesture, for the clicks that post one;
- click → card updated: for the clicks whose transaction queued a card update (outbox rows of the case's
  card), to the stand-in showing that card content or a later one queued (pending updates may be merged);
  the outbox's digest of each card row pairs it with the stand-in's edit;
- both again for the clicks after the first minute: the agents all start at once, and the first steps of
  their calls post in the same seconds, a burst the channel's 1 post a second spreads over several;
- the outbox's oldest pending row's age, sampled twice a second from the database (a row's birth is when a
  sample first saw its id);
- gestures per agent per minute achieved, against the 10 intended (one every 6 s on average);
- what Slack's limits allow: posts a minute in the M+3 channel and `chat.update` calls a minute (every call
  of the method counts, cards and clicked messages alike), against what the agents asked for at the
  intended pace, and how many agents the limits let click at that pace.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.figures import percentile
from bench.latency import BENCH_AGENTS, PLAN_DUE, POLL, Bench, SimulatedAgent, pending_rows
from sandbox.slack_api import POSTS, BotReply, Call, Edit, Limits, Message, View
from storage import outbox, slack_messages
from storage.tables import Outbox
from tests.bot.harness import CHANNEL, wait_until
from tests.support.faulty_driver import opened_modal
from tests.support.process_harness import CaseHarness

THINK_SECONDS = (4.0, 8.0)
INTENDED_PER_MINUTE = 60 / (sum(THINK_SECONDS) / 2)
FIRST_MINUTE = 60.0
GESTURES_PER_CALL = 24  # a whole call of SimulatedAgent (benchmark 1: 72 requests for three calls)
SAMPLE_SECONDS = 0.5
DRAIN_TIMEOUT = 900.0  # after the run: how long the outbox may take to empty before rows count as lost


class _Stop(Exception):
    """The run's time is up: the agent stops before his next gesture."""


@dataclass(frozen=True)
class Gesture:
    """One gesture of an agent: what, on which case, when (monotonic), on which message (a click), and the
    outbox's highest id just before it (the rows after it, up to his next gesture's, are this gesture's)."""

    user: str
    case_id: int
    kind: str  # block_actions or view_submission
    started: float
    target: tuple[str, str] | None
    outbox_before: int


@dataclass
class Pace:
    """One run of N agents at a human pace: what was measured (see the module's docstring)."""

    agents: int
    seconds: float  # how long the agents clicked
    limits: Limits
    gestures: int
    clicked_ms: list[float]
    clicked_via: Counter[str]
    next_step_ms: list[float]
    card_ms: list[float]
    # The same, for the clicks after the first minute: the agents all start at once, and their calls' first
    # steps post in the same seconds (the start's burst, as the 429s after the first minute leave it out).
    next_step_late_ms: list[float]
    card_late_ms: list[float]
    outbox_age_s: list[float]
    refused_after_first_minute: int
    refused: int
    channel_posts: int  # accepted posts in the M+3 channel during the run
    updates: int  # accepted chat.update calls during the run
    lost: int  # outbox rows failed, or still pending DRAIN_TIMEOUT after the run
    errors: int  # gestures the bot did not answer 200

    @property
    def per_agent_per_minute(self) -> float:
        return self.gestures / self.agents / (self.seconds / 60)

    def clicked(self, q: int) -> float:
        return _quantile(self.clicked_ms, q)

    def next_step(self, q: int) -> float:
        return _quantile(self.next_step_ms, q)

    def card(self, q: int) -> float:
        return _quantile(self.card_ms, q)

    def next_step_late(self, q: int) -> float:
        return _quantile(self.next_step_late_ms, q)

    def card_late(self, q: int) -> float:
        return _quantile(self.card_late_ms, q)

    def outbox_age(self, q: int) -> float:
        return _quantile(self.outbox_age_s, q)

    @property
    def posts_allowed_per_minute(self) -> float:
        return self.limits.channel_post_rate * 60

    @property
    def updates_allowed_per_minute(self) -> float:
        per_second = self.limits.per_second("chat.update")
        assert per_second is not None
        return per_second * 60

    def asked_per_minute(self, count: int) -> float:
        """What `count` calls during the run amount to per minute with every agent at the intended pace."""
        return count / self.gestures * INTENDED_PER_MINUTE * self.agents if self.gestures else 0.0

    @property
    def agents_allowed(self) -> float:
        """How many agents at the intended pace the channel's posts and chat.update's tier let through."""
        per_agent = [(self.posts_allowed_per_minute, self.asked_per_minute(self.channel_posts) / self.agents),
                     (self.updates_allowed_per_minute, self.asked_per_minute(self.updates) / self.agents)]
        return min((allowed / asked for allowed, asked in per_agent if asked), default=math.inf)


def _quantile(samples: list[float], q: int) -> float:
    return percentile(samples, q) if samples else math.nan


@dataclass
class _PacedCase(CaseHarness):
    def drain(self, timeout: float | None = None) -> None:
        """Nothing: an agent at a human pace waits for what he reads (`HumanAgent.message`), not for the
        case's whole outbox (the card may lag behind Slack's limits)."""


class HumanAgent(SimulatedAgent):
    """An agent who pauses 4 to 8 s before each gesture and stops once the run's `deadline` is past."""

    def __init__(self, harness: CaseHarness, case_id: int, user: str, *, deadline: float, rng: random.Random,
                 gestures: list[Gesture]) -> None:
        paced = _PacedCase(**{f.name: getattr(harness, f.name) for f in fields(harness)})
        super().__init__(paced, case_id, user)
        self.deadline, self.rng, self.gestures = deadline, rng, gestures

    def message(self, role: str) -> Message:
        """The step message he clicks next, once posted (the run's end stops the wait)."""
        posted = wait_until(lambda: slack_messages.find(self.h.engine, self.case_id, role)
                            or time.monotonic() >= self.deadline, timeout=self.deadline - time.monotonic() + 60,
                            interval=0.2)
        if posted is True:
            raise _Stop
        return self.h.slack.message(posted.channel, posted.ts)

    def click(self, role: str, action_id: str, *suffix: object, value: str | None = None) -> BotReply:
        # He reads, then clicks: the click's payload (and its trigger_id, which lives 3 seconds) comes after the
        # pause, as in Slack.
        self._pause()
        return super().click(role, action_id, *suffix, value=value)

    def send(self, payload: dict[str, Any]) -> BotReply:
        container = payload["container"]
        on_message = container["type"] == "message" and not container.get("is_ephemeral")
        self._record("block_actions", (container["channel_id"], container["message_ts"]) if on_message else None)
        action = payload["actions"][0]
        reply = self.h.slack.send_interaction(payload)
        if reply.status != 200:
            raise RuntimeError(f"the bot answered {reply.status} to {action['action_id']}")
        self.clicks += 1
        key = f"action:{action['action_ts']}:{action['action_id']}:{self.user}"
        wait_until(lambda: self._handled(key) or opened_modal(self.h.slack, payload), timeout=120, interval=POLL)
        return reply

    def submit(self, values: dict[str, Any]) -> BotReply:
        self._pause()
        self._record("view_submission", None)
        return super().submit(values)

    def modal(self) -> View:
        """The modal his click opened: `views.open` may wait its turn under the limits."""
        return self.h.slack.wait_for(lambda: self.h.slack.open_modal(self.user), timeout=60)

    def _pause(self) -> None:
        """What he takes to read and decide (4 to 8 s); past the run's end he stops."""
        if time.monotonic() < self.deadline:
            time.sleep(self.rng.uniform(*THINK_SECONDS))
        if time.monotonic() >= self.deadline:
            raise _Stop

    def _record(self, kind: str, target: tuple[str, str] | None) -> None:
        with Session(self.h.engine) as session:
            before = session.exec(select(sa.func.max(Outbox.id))).one() or 0
        self.gestures.append(Gesture(self.user, self.case_id, kind, time.monotonic(), target, before))


class _OutboxSampler:
    """Twice a second: the outbox's highest id and its lowest pending id, on the bench's clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.samples: list[tuple[float, int, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-sampler", daemon=True)

    def __enter__(self) -> _OutboxSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        query = sa.select(sa.func.max(Outbox.id), sa.func.min(Outbox.id).filter(Outbox.status == outbox.PENDING))
        while not self._stop.wait(SAMPLE_SECONDS):
            with self.engine.connect() as connection:
                highest, oldest_pending = connection.execute(query).one()
            self.samples.append((time.monotonic(), highest or 0, oldest_pending))

    def ages(self) -> list[float]:
        """The oldest pending row's age at each sample (0 when none was pending)."""
        born: list[tuple[int, float]] = []  # (highest id, first seen), increasing
        ages = []
        for at, highest, oldest in self.samples:
            if not born or highest > born[-1][0]:
                born.append((highest, at))
            if oldest is None:
                ages.append(0.0)
            else:
                ages.append(at - next(seen for top, seen in born if top >= oldest))
        return ages


def run(bench: Bench, agents: int, seconds: float, *, limits: Limits | None = None, seed: int = 0) -> Pace:
    """N agents at a human pace for `seconds` under `limits` (Slack's defaults), fresh cases each."""
    limits = limits or Limits()
    slack, harness = bench.slack, bench.harness
    bench.runs += 1
    slack.limits = None  # the opening is not what this measures
    cases_each = math.ceil(seconds / (GESTURES_PER_CALL * THINK_SECONDS[0])) + 1
    plan = {user: [harness.open_case(f"H{bench.runs}A{n}K{k}", agent=email) for k in range(cases_each)]
            for n, (user, email, _name) in enumerate(BENCH_AGENTS[:agents])}
    wait_until(lambda: pending_rows(bench.engine) == 0, timeout=600, interval=0.5)
    cards = {case_id: slack_messages.find(bench.engine, case_id, slack_messages.CARD)
             for cases in plan.values() for case_id in cases}

    slack.bot_url = bench.ours.url
    slack.limits = limits
    gestures: list[Gesture] = []
    errors: list[BaseException] = []
    started = time.monotonic()
    deadline = started + seconds

    def walk(index: int, user: str) -> None:
        rng = random.Random(seed * 1000 + index)
        try:
            for case_id in plan[user]:
                slack.case_of[user] = case_id
                HumanAgent(harness.for_case(case_id), case_id, user, deadline=deadline, rng=rng,
                           gestures=gestures).whole_call(PLAN_DUE)
        except _Stop:
            pass
        except Exception as error:  # one agent's failure is reported, the others go on
            errors.append(error)

    with _OutboxSampler(bench.engine) as sampler:
        threads = [threading.Thread(target=walk, args=(i, user), daemon=True) for i, user in enumerate(plan)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ended = time.monotonic()
    lost = _drained(bench.engine)
    slack.limits = None

    calls = [c for c in slack.calls if started <= c.at <= ended]
    accepted = [c for c in calls if c.status == 200 and c.response.get("ok")]
    gestures.sort(key=lambda g: g.started)
    following = _next_of(gestures)
    edits = _edits_by_message(slack.edits)
    clicked, via = _clicked(gestures, following, edits)
    late = [g for g in gestures if g.started >= started + FIRST_MINUTE]
    return Pace(
        agents=agents, seconds=seconds, limits=limits, gestures=len(gestures),
        clicked_ms=clicked, clicked_via=via,
        next_step_ms=_next_steps(gestures, following, cards, accepted),
        card_ms=_card_updates(bench.engine, gestures, following, cards, edits),
        next_step_late_ms=_next_steps(late, following, cards, accepted),
        card_late_ms=_card_updates(bench.engine, late, following, cards, edits),
        outbox_age_s=sampler.ages(),
        refused_after_first_minute=sum(1 for c in calls if c.refused_by and c.at > started + FIRST_MINUTE),
        refused=sum(1 for c in calls if c.refused_by),
        channel_posts=sum(1 for c in accepted if c.method == POSTS and c.args.get("channel") == CHANNEL),
        updates=sum(1 for c in accepted if c.method == "chat.update"),
        lost=lost, errors=len(errors),
    )


def _drained(engine: Engine) -> int:
    """Rows lost: failed, or still pending after DRAIN_TIMEOUT."""
    with contextlib.suppress(AssertionError):  # counted below as lost
        wait_until(lambda: pending_rows(engine) == 0, timeout=DRAIN_TIMEOUT, interval=1.0)
    with Session(engine) as session:
        return session.exec(select(sa.func.count(Outbox.id)).where(Outbox.status != outbox.DELIVERED)).one()


def _next_of(gestures: list[Gesture]) -> dict[Gesture, Gesture | None]:
    by_user: dict[str, list[Gesture]] = defaultdict(list)
    for gesture in gestures:
        by_user[gesture.user].append(gesture)
    return {g: n for mine in by_user.values() for g, n in zip(mine, [*mine[1:], None], strict=True)}


def _edits_by_message(edits: list[Edit]) -> dict[tuple[str, str], list[Edit]]:
    found: dict[tuple[str, str], list[Edit]] = defaultdict(list)
    for edit in edits:
        found[(edit.channel, edit.ts)].append(edit)
    return found


def _clicked(gestures: list[Gesture], following: dict[Gesture, Gesture | None],
             edits: dict[tuple[str, str], list[Edit]]) -> tuple[list[float], Counter[str]]:
    times, via = [], Counter()
    for gesture in gestures:
        after = following[gesture]
        if gesture.target is None or (after is not None and after.kind == "view_submission"):
            continue
        edit = next((e for e in edits.get(gesture.target, []) if e.at > gesture.started), None)
        if edit is not None:
            times.append((edit.at - gesture.started) * 1000)
            via[edit.via] += 1
    return times, via


def _next_steps(gestures: list[Gesture], following: dict[Gesture, Gesture | None], cards: dict[int, Any],
                accepted: list[Call]) -> list[float]:
    posts: dict[tuple[str, str], list[float]] = defaultdict(list)
    for call in accepted:
        if call.method == POSTS and call.args.get("thread_ts"):
            posts[(call.args.get("channel"), call.args["thread_ts"])].append(call.at)
    times = []
    for gesture in gestures:
        card, after = cards[gesture.case_id], following[gesture]
        end = after.started if after else math.inf
        at = next((t for t in posts.get((card.channel, card.ts), []) if gesture.started < t < end), None)
        if at is not None:
            times.append((at - gesture.started) * 1000)
    return times


def _card_updates(engine: Engine, gestures: list[Gesture], following: dict[Gesture, Gesture | None],
                  cards: dict[int, Any], edits: dict[tuple[str, str], list[Edit]]) -> list[float]:
    rows: dict[int, list[tuple[int, str]]] = defaultdict(list)  # case -> (outbox id, content), in order
    with Session(engine) as session:
        for row in session.exec(select(Outbox).where(Outbox.method == slack_messages.UPSERT).order_by(Outbox.id)):
            if row.payload.get("role") == slack_messages.CARD:
                rows[row.case_id].append((row.id, row.digest))  # a delivered row keeps its digest, not its content
    times = []
    for gesture in gestures:
        after, card = following[gesture], cards[gesture.case_id]
        upper = after.outbox_before if after else math.inf
        mine = [row_id for row_id, _ in rows[gesture.case_id] if gesture.outbox_before < row_id <= upper]
        if not mine:
            continue  # this gesture left the card as it was
        shown = {digest for row_id, digest in rows[gesture.case_id] if row_id >= mine[0]}
        edit = next((e for e in edits.get((card.channel, card.ts), []) if e.at > gesture.started and e.digest in shown),
                    None)
        if edit is not None:
            times.append((edit.at - gesture.started) * 1000)
    return times
