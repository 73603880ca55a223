"""Delivers the outbox to Slack after each commit: two background loops, woken at once, polling as a fallback.

The agents' rows (the steps they click, their cards) and bulk work (the morning's openings, digests,
reminders) are claimed and sent apart, each lane by its own loop and workers, so a morning's backlog never
holds up a click. Each claim hands out the due rows of several cases (storage's claim gives one worker a
case at a time and only the newest row of each message); a case's rows go out in one worker, those an agent
waits for first, the card after; at most two cases of a channel are with workers at once, the others wait
in the loop while other channels' rows go out. Every Web API call first takes a token from the buckets of
Slack's limits it counts against (`storage.pacing`, shared through the database by every deliverer of the
workspace, limits from `config.pacing`), booked up to one interval ahead so that a busy channel's next post
is ready when its token comes; the worker waits for a short turn in place, and a row whose turn is further
off is put back until then, without counting an attempt, so delivery stays ahead of the 429s; bulk work
leaves headroom for the agents' messages. The
message the agent clicked is replaced through the click's `response_url` (5 uses in 30 minutes, no tier
limit), falling back to `chat.update` when it is expired, used up or failing. Every post carries its
outbox row in the message's metadata, and a post whose earlier attempt has an unknown outcome is first looked
for in Slack (`bot.post_once`), so that it never shows twice.
Slack's answers decide what happens next: 429 holds the method (or, for posts, the channel) for
`Retry-After`, 5xx / timeouts / connection errors back off exponentially with jitter, other Slack errors are
permanent. Retries are written to the outbox, never slept in the thread, so a rate-limited channel does not
stall others.
Each row is sent with its workspace's client (`bot.installations`): a single-agency install's one bot token, or
in hosted mode the token its workspace's installation holds, paced as that team's (buckets, holds and lines
are per team). A workspace with no installation (never installed, revoked) gets its rows set aside as failed
(`workspace_not_installed`), never sent with another workspace's token.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

import sqlalchemy as sa
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import agents, post_once
from bot.channel import permalink, team_url
from bot.installations import NotInstalled, OneClient, Sender, WorkspaceClients
from bot.views.reminders import morning_list
from config.pacing import PaceSettings
from storage import outbox, pacing, slack_messages
from storage.outbox import BULK, OutboxMessage
from storage.tables import Agent, Outbox, utcnow
from storage.workspaces import session_for

log = logging.getLogger(__name__)

RAW_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "views.publish", "chat.delete"})
# The bot's own row kinds, rendered at delivery from what other rows delivered: an agent's morning list links
# to the threads of cards posted in the same morning, and goes to him once he is matched.
MORNING_LIST = "m3.morning_list"
# Slack's answers on HTTP 200 that mean "try again later" rather than "this will never work".
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# How many times a thread reply waits for its card before giving up (the card failed for good).
CARD_WAIT_ATTEMPTS = 20
# Bulk cases of one channel handed to workers at a time: one whose post has its token, one asking for the
# next.
CASES_PER_CHANNEL = 2
# How often a lane busy sending looks for rows committed meanwhile (seconds).
WAKE_CHECK = 0.05
# A row that waited this long for a bucket's turn no longer holds its place (another process sent it, or it
# was settled unseen); one that is put back again takes it again.
TURN_FORGOTTEN = 15.0
# The names of the delivery threads begin with it (logs, and the tests' count of a request's statements).
THREAD_PREFIX = "outbox"
# Spent response_url buckets are deleted this long after their last use, checked this often.
URL_BUCKETS_IDLE, URL_BUCKETS_SWEEP = timedelta(hours=1), timedelta(minutes=10)
# Slack's answers that mean the workspace's token no longer works (revoked, uninstalled, rotated away).
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
NOT_INSTALLED = "workspace_not_installed"


class _Deferred(Exception):
    """Paced: the call would exceed a limit; the row goes back until `until`."""

    def __init__(self, until: datetime):
        super().__init__(until.isoformat())
        self.until = until


@dataclass
class _CaseRound:
    """What one worker learns while sending one case's rows of a claim."""

    card_ts: str | None


@dataclass(eq=False)
class _Lane:
    """Rows of priorities `first`..`last`, claimed by their own loop and sent by their own workers."""

    name: str
    first: int
    last: int
    workers: int
    per_channel: float  # cases of one channel with workers at once
    wait_in_place: float  # seconds a row waits in its worker for its turn and tokens (see `_pace`)
    wakeup: threading.Event = field(default_factory=threading.Event)
    next_due: datetime | None = None  # the earliest row put back since the loop last waited
    thread: threading.Thread | None = None
    pool: ThreadPoolExecutor | None = None


class _Retry(Exception):
    def __init__(self, error: str, delay: float | None = None):
        super().__init__(error)
        self.error, self.delay = error, delay


class _Permanent(Exception):
    pass


class OutboxDeliverer:
    """Sends due outbox rows with `client` (one bot token), or with each row's workspace's client (`clients`,
    hosted mode); `start()` runs it in the background, `deliver_pending()` drains once."""

    def __init__(
        self,
        engine: Engine,
        client: WebClient | WorkspaceClients,
        *,
        poll_seconds: float = 1.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        batch: int = 20,
        workers: int = 4,
        clock: Callable[[], datetime] = utcnow,
        pace: PaceSettings | None = None,
        team: str | None = None,
        webhook_timeout: int = 5,
    ):
        self.engine = engine
        self.clients: WorkspaceClients = OneClient(client, team) if isinstance(client, WebClient) else client
        self.pace = pace or PaceSettings()
        self.webhook_timeout = webhook_timeout
        self._held: dict[str, tuple[datetime, int]] = {}  # bucket -> (until, lowest priority it stops)
        # Rows waiting for a line's tokens (in place, or put back), by rank (`_rank`), with when they first
        # waited: its tokens go to them in that order (see `_pace`).
        self._turns: dict[str, dict[int, tuple[float, tuple[Any, Any]]]] = {}  # line -> rank -> (since, lane)
        # .row: the row being delivered; .workspace, .sender: its workspace and that workspace's client;
        # .lease_ends: when its case stops waiting for tokens (monotonic); .wait_in_place: its lane's
        self._delivering = threading.local()
        self._held_lock = threading.RLock()
        self._turn = threading.Condition(self._held_lock)  # notified when a row leaves a line
        self._swept_at: datetime | None = None
        self.poll_seconds = poll_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.batch = batch
        self.clock = clock
        # The agents' messages and bulk work are claimed and sent apart, each by its own workers: a morning's
        # hundreds of openings waiting for the channel's tokens never hold up the step an agent clicked. Bulk
        # work keeps its channel's rate used to the full: two cases of a channel with workers, each waiting in
        # place for its turn. An agent's case goes to a worker at once and waits only for the token it booked:
        # one whose post must wait longer goes back to the outbox, so that the workers stay free for the
        # clicked messages, which need no channel token (they go by the click's response_url); it books no
        # token ahead either.
        self._lanes = (_Lane("agents", outbox.URGENT, outbox.NORMAL, workers=workers, per_channel=math.inf,
                             wait_in_place=0.0),
                       _Lane("bulk", BULK, BULK, workers=workers, per_channel=CASES_PER_CHANNEL,
                             wait_in_place=self.pace.wait_in_place))
        self._stopping = threading.Event()
        # SQLAlchemy removes a listener by identity: keep one bound method of each.
        self._listeners = (("after_flush", self._note_outbox_rows), ("after_commit", self._wake_if_outbox_rows))

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        # Wake on every commit that queued outbox rows, whoever committed it, so delivery follows at once.
        for name, listener in self._listeners:
            sa.event.listen(Session, name, listener)
        for lane in self._lanes:
            lane.pool = ThreadPoolExecutor(max_workers=lane.workers, thread_name_prefix=f"{THREAD_PREFIX}-{lane.name}")
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=f"{THREAD_PREFIX}-{lane.name}-delivery",
                                           daemon=True)
            lane.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self.wake()
        for name, listener in self._listeners:
            sa.event.remove(Session, name, listener)
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(timeout)
                lane.thread = None
        for lane in self._lanes:
            if lane.pool is not None:
                lane.pool.shutdown(wait=True)
                lane.pool = None

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call it after committing outbox rows)."""
        for lane in self._lanes:
            lane.wakeup.set()

    def _note_outbox_rows(self, session: Session, _context: Any) -> None:
        if session.bind is self.engine and any(isinstance(row, Outbox) for row in session.new):
            session.info["outbox_queued"] = True

    def _wake_if_outbox_rows(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released (a reminder inserted once): the rows are not committed yet
        if session.info.pop("outbox_queued", False):
            self.wake()

    def _run(self, lane: _Lane) -> None:
        while not self._stopping.is_set():
            lane.wakeup.clear()  # before draining: a wake() during the drain triggers another round
            try:
                delivered = self._deliver_lane(lane)
                self._sweep()
            except Exception as error:  # the database is away: keep the thread alive, try at the next poll
                # The type only: a database error's text carries the row's payload, personal data included.
                log.error("outbox delivery round failed: %s", type(error).__name__)
                delivered = 0
            if not delivered:
                lane.wakeup.wait(self._idle_wait(lane))

    def _idle_wait(self, lane: _Lane) -> float:
        """Until the next poll, or sooner when a row put back this round is due before it."""
        with self._held_lock:
            due, lane.next_due = lane.next_due, None
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max((due - self.clock()).total_seconds(), 0.005))

    def _due_again(self, message: OutboxMessage, at: datetime) -> None:
        with self._held_lock:
            for lane in self._lanes:
                if lane.first <= message.priority <= lane.last:
                    lane.next_due = at if lane.next_due is None else min(lane.next_due, at)

    def _sweep(self) -> None:
        now = self.clock()
        if self._swept_at is None or now - self._swept_at >= URL_BUCKETS_SWEEP:
            self._swept_at = now
            for team in self.clients.teams():
                pacing.forget(self.engine, team, "url:", idle=URL_BUCKETS_IDLE, now=now)

    # ---- delivery ----------------------------------------------------------------------------------

    def deliver_pending(self) -> int:
        """Deliver every row due now, the agents' first; returns how many rows were handled (sent, put back
        or failed)."""
        return sum(self._deliver_lane(lane) for lane in self._lanes)

    def _deliver_lane(self, lane: _Lane) -> int:
        """Claim and send the lane's due rows until none is left. A case goes to a worker when fewer than the
        lane's `per_channel` of its channel are going out; the others wait their turn here, so that a channel
        short of tokens never ties up the workers the other channels need. A channel with a claim's worth of
        cases waiting here is left out of the next claims (its rows keep their place in the outbox), and a
        case that waited here half its lease goes back to the outbox rather than out late."""
        handled, claim, last_claim, skipped = 0, True, time.monotonic(), []
        # A channel (or a case of none) -> its cases, with when they were claimed.
        waiting: dict[object, deque[tuple[float, list[OutboxMessage]]]] = {}
        running: dict[Future[None], object] = {}
        while not self._stopping.is_set():
            if lane.wakeup.is_set() or time.monotonic() - last_claim >= self.poll_seconds:
                lane.wakeup.clear()  # rows committed, or put-back rows come due: claim again
                claim = True
            if claim and len(running) < lane.workers:
                skipped = [channel for channel, cases in waiting.items()
                           if isinstance(channel, str) and len(cases) >= self.batch // 2]
                batch = outbox.claim_due(self.engine, self.clock(), self.batch, priorities=(lane.first, lane.last),
                                         skip_channels=skipped)
                handled, claim, last_claim = handled + len(batch), len(batch) == self.batch, time.monotonic()
                for rows in _by_case(batch):
                    waiting.setdefault(_channel_of(rows) or ("case", rows[0].id), deque()).append((last_claim, rows))
            # A case that waited here half its lease goes back to the outbox, before another claim may take
            # it: it is never sent after its lease ran out.
            stale = time.monotonic() - outbox.LEASE.total_seconds() / 2
            for cases in waiting.values():
                while cases and cases[0][0] < stale:
                    self._release(cases.popleft()[1])
            for channel, cases in waiting.items():
                going = sum(1 for other in running.values() if other == channel)
                while cases and going < lane.per_channel and (lane.pool is None or len(running) < lane.workers):
                    claimed_at, rows = cases.popleft()
                    self._line_up(rows)
                    if lane.pool is None:  # draining in the caller's thread (`deliver_pending`)
                        self._deliver_case(rows, claimed_at, lane)
                        continue
                    running[lane.pool.submit(self._deliver_case, rows, claimed_at, lane)] = channel
                    going += 1
            waiting = {channel: cases for channel, cases in waiting.items() if cases}
            if not running and not waiting and not claim:
                break  # that was all; rows committed meanwhile wake the loop again
            if running:
                done, _ = wait(running, timeout=WAKE_CHECK, return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    future.result()  # a round that failed (the database away) fails the lane's round
                if any(len(waiting.get(channel, ())) < self.batch // 4 for channel in skipped):
                    claim, skipped = True, []  # a channel left out has room again
        for cases in waiting.values():  # stopping: what was claimed and not started goes back at once
            for _claimed_at, rows in cases:
                self._release(rows)
        return handled

    def _release(self, rows: list[OutboxMessage]) -> None:
        """Claimed rows not sent go back to the outbox, due now, their attempt not counted."""
        for message in rows:
            outbox.mark_deferred(self.engine, message.id, self.clock())

    def _deliver_case(self, rows: list[OutboxMessage], claimed_at: float, lane: _Lane) -> None:
        self._delivering.wait_in_place = lane.wait_in_place
        # Its rows wait for their tokens only while well within their lease: past it, another claim could
        # take them while they are still being sent.
        self._delivering.lease_ends = claimed_at + outbox.LEASE.total_seconds() / 2
        round_ = _CaseRound(card_ts=rows[0].card_ts)
        try:
            for index, message in enumerate(rows):
                if (put_back := self._deliver(message, round_)) is not None:
                    # The rest of the case waits with it, so that its messages still reach the thread in order.
                    for later in rows[index + 1:]:
                        self._served(later)  # out of the lines until it is claimed again
                        outbox.mark_deferred(self.engine, later.id, put_back)
                    return
        except Exception:  # the database went away: its rows keep no place in a line meanwhile
            for message in rows:
                self._served(message)
            raise

    def _deliver(self, message: OutboxMessage, round_: _CaseRound) -> datetime | None:
        """Send one row; returns when it is due again if it was put back (paced or to retry)."""
        self._delivering.row = (_rank(message), _lane(message))
        try:
            return self._deliver_row(message, round_)
        finally:
            self._delivering.row = None

    def _deliver_row(self, message: OutboxMessage, round_: _CaseRound) -> datetime | None:
        try:
            result = self._send(message, round_)
        except _Deferred as deferred:
            outbox.mark_deferred(self.engine, message.id, deferred.until)
            self._due_again(message, deferred.until)
            return deferred.until
        except _Retry as retry:
            self._served(message)
            delay = retry.delay if retry.delay is not None else self._backoff(message.attempts)
            log.warning("outbox %s (%s, case %s) retried in %.1fs: %s", message.id, message.method, message.case_id, delay,
                        retry.error)
            retry_at = self.clock() + timedelta(seconds=delay)
            outbox.mark_retry(self.engine, message.id, retry.error, retry_at)
            self._due_again(message, retry_at)
            return retry_at
        except _Permanent as failure:
            self._served(message)
            log.error("outbox %s (%s, case %s) failed: %s", message.id, message.method, message.case_id, failure)
            outbox.mark_failed(self.engine, message.id, str(failure))
        except (KeyError, TypeError, AttributeError) as error:  # a payload the bot could never send
            log.error("outbox %s (%s) malformed: %s", message.id, message.method, type(error).__name__)
            outbox.mark_failed(self.engine, message.id, f"malformed_payload:{type(error).__name__}")
        else:
            self._served(message)
            outbox.mark_delivered(self.engine, message, result)
        return None

    def _sender(self, message: OutboxMessage) -> Sender:
        """The client of the row's workspace; a workspace with no installation has its rows set aside."""
        try:
            return self.clients.sender(message.workspace_id)
        except NotInstalled as error:
            raise _Permanent(NOT_INSTALLED) from error
        except (SlackTokenRotationError, URLError, OSError) as error:  # its token is due and Slack is away
            raise _Retry(type(error).__name__) from error

    def _now_sending(self) -> Sender:
        return self._delivering.sender

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0))
        return random.uniform(ceiling / 2, ceiling)  # jitter keeps several workers from retrying in step

    def _send(self, message: OutboxMessage, round_: _CaseRound) -> dict[str, Any]:
        self._delivering.workspace = message.workspace_id
        self._delivering.sender = self._sender(message)
        if message.method == slack_messages.UPSERT:
            return self._upsert(message, round_)
        if message.method == "chat.postMessage":
            response = self._post_once(message, message.payload, row_id=message.id, role=None)
            return {key: response[key] for key in ("channel", "ts") if key in response}
        if message.method == agents.LOOKUP:
            return self._lookup(message)
        if message.method == MORNING_LIST:
            return self._morning_list(message)
        if message.method in RAW_METHODS:
            response = self._call(message.method, message.payload, message.priority)
            return {key: response[key] for key in ("channel", "ts", "message_ts") if key in response}
        raise _Permanent(f"unknown outbox method {message.method}")

    def _lookup(self, message: OutboxMessage) -> dict[str, Any]:
        """users.lookupByEmail (a read method: form arguments, not JSON), its answer kept by `bot.agents`."""
        try:
            response = self._call(agents.LOOKUP, message.payload, message.priority, form={"email": message.payload["email"]})
        except _Permanent as failure:
            if str(failure) != "users_not_found":
                raise
            agents.looked_up(self.engine, _workspace(message), message.payload, None)
            return {"found": False}
        agents.looked_up(self.engine, _workspace(message), message.payload, response["user"])
        return {"found": True}

    def _morning_list(self, message: OutboxMessage) -> dict[str, Any]:
        """An agent's list of the cases opened for him, once he is matched and, while they are coming, once
        their cards are posted (their threads' links); an agent Slack does not know gets none."""
        payload = message.payload
        patient = message.attempts < CARD_WAIT_ATTEMPTS
        with session_for(self.engine, _workspace(message)) as session:
            agent = session.execute(sa.select(Agent).where(Agent.email == payload["agent"])).scalar_one_or_none()
        if agent is None or agent.slack_unknown_at is not None or (agent.slack_user_id is None and not patient):
            return {"skipped": "agent_not_in_slack"}
        if agent.slack_user_id is None:
            raise _Retry("agent_not_matched_yet")
        cards = {case_id: slack_messages.find(self.engine, case_id, slack_messages.CARD)
                 for case_id, _client, _date in payload["cases"]}
        if patient and not all(cards.values()):
            # Its cards go out with the messages queued before it, at the channel's pace: look again then.
            ahead = outbox.posts_ahead(self.engine, message.id)
            raise _Retry("cards_not_posted_yet", min(max(ahead, 1) * self.pace.channel_interval, self.backoff_cap))
        url = team_url(self._now_sending().client)
        rows = [(client, when, permalink(url, card.channel, card.ts) if (card := cards[case_id]) else None)
                for case_id, client, when in payload["cases"]]
        shown = morning_list(rows)
        response = self._post_once(message, {"channel": agent.slack_user_id, "text": shown.text,
                                             "blocks": shown.blocks}, row_id=message.id, role=None)
        return {key: response[key] for key in ("channel", "ts") if key in response}

    def _upsert(self, message: OutboxMessage, round_: _CaseRound) -> dict[str, Any]:
        payload = message.payload
        role = payload["role"]
        if message.posted is not None:
            channel, ts = message.posted
            respond = payload.get("respond")
            if respond and respond.get("ts") == ts and self._respond(respond, payload):
                return {"channel": channel, "ts": ts, "action": "respond"}
            try:
                self._call("chat.update", {"channel": channel, "ts": ts, **_content(payload)}, message.priority)
                return {"channel": channel, "ts": ts, "action": "update"}
            except _Permanent as failure:
                if str(failure) != "message_not_found":
                    raise
                # Someone deleted the message: post it again rather than lose every later edit.
        thread: dict[str, str] = {}
        if role != slack_messages.CARD:
            thread = {"thread_ts": round_.card_ts or self._card_ahead(message, round_)}
        result = self._post(message, role, {"channel": payload["channel"], **thread, **_content(payload)})
        if role == slack_messages.CARD:
            round_.card_ts = result["ts"]
        return result

    def _respond(self, respond: dict[str, Any], payload: dict[str, Any]) -> bool:
        """Replace the clicked message through the click's response_url; False: use chat.update instead."""
        clicked_at = datetime.fromisoformat(respond["at"])
        now = self.clock()
        if now - clicked_at > timedelta(minutes=self.pace.response_url_minutes):
            return False  # expired
        url = respond["url"]
        key = f"url:{hashlib.sha256(url.encode()).hexdigest()[:32]}"
        if not pacing.take_use(self.engine, self._now_sending().team, key, uses=self.pace.response_url_uses, now=now):
            return False  # used up
        try:
            response = WebhookClient(url, timeout=self.webhook_timeout).send(
                replace_original=True, **_content(payload))
        except (URLError, OSError) as error:
            log.warning("response_url failed (%s): chat.update instead", type(error).__name__)
            return False
        if response.status_code != 200:
            log.warning("response_url answered %s: chat.update instead", response.status_code)
            return False
        return True

    def _card_ahead(self, message: OutboxMessage, round_: _CaseRound) -> str:
        """A thread reply needs its card's ts: post the newest queued card first, or wait for one to be queued.

        Only this row's case is held meanwhile (storage's claim hands out no row of a case another worker
        holds), so taking its card rows here is safe.
        """
        queued = outbox.pending_of(self.engine, message.case_id, slack_messages.CARD)
        if not queued:
            if message.attempts >= CARD_WAIT_ATTEMPTS:
                raise _Permanent("card_not_posted")
            raise _Retry("card_not_posted_yet")
        newest = queued[-1]
        payload = newest.payload
        result = self._post(message, slack_messages.CARD, {"channel": payload["channel"], **_content(payload)},
                            row_id=newest.id)
        outbox.mark_delivered(self.engine, newest, {**result, "ahead_of": message.id})
        round_.card_ts = result["ts"]
        return result["ts"]

    def _post(self, message: OutboxMessage, role: str, arguments: dict[str, Any], *,
              row_id: int | None = None) -> dict[str, Any]:
        """Post the case's `role` message (the content of outbox row `row_id`, by default the one delivered)."""
        response = self._post_once(message, arguments, row_id=row_id or message.id, role=role)
        slack_messages.record(self.engine, message.case_id, role, response["channel"], response["ts"])
        return {"channel": response["channel"], "ts": response["ts"], "action": "post"}

    def _post_once(self, message: OutboxMessage, arguments: dict[str, Any], *, row_id: int,
                   role: str | None) -> dict[str, Any]:
        """chat.postMessage, unless an earlier attempt of `message` already posted it (`bot.post_once`). A
        look-up that must wait for its token (paced) puts the row back like any call."""
        tagged = post_once.tag(arguments, row_id, case_id=message.case_id, role=role)
        try:
            found = post_once.earlier_post(self._call, self.engine, tagged, outbox_id=message.id,
                                           attempts=message.attempts, case_id=message.case_id, role=role)
        except _Retry as retry:  # the look-up waits its turn; the next attempt looks again
            raise _Retry(post_once.UNCONFIRMED + retry.error, retry.delay) from retry
        except _Permanent as failure:  # never re-posted unchecked
            raise _Permanent(post_once.UNCONFIRMED + str(failure)) from failure
        if found is None:
            return self._call("chat.postMessage", tagged, message.priority)
        log.info("outbox %s (case %s) already in Slack, not posted again", message.id, message.case_id)
        if post_once.posted_by(found) != row_id:  # an older content of the role: show this row's
            self._call("chat.update", {"channel": found["channel"], "ts": found["ts"], **_content(arguments),
                                       "metadata": tagged["metadata"]}, message.priority)
        return {"channel": found["channel"], "ts": found["ts"]}

    # ---- pacing ------------------------------------------------------------------------------------

    def _pace(self, method: str, channel: str | None, priority: int) -> None:
        """Take this call's tokens and wait for their time, or raise `_Deferred` until they are there."""
        buckets = self.pace.buckets(method, channel)
        if not buckets:
            return
        team = self._now_sending().team
        row = getattr(self._delivering, "row", None)
        # A token goes to the rows waiting for it in their order (the agents' first, then by age), not to
        # whichever worker asks first: only the first row of a line asks for one. The line is the channel's
        # for a post (other channels never wait for it), else the method's.
        line = [b for b in buckets if b.key.startswith("channel:")] or buckets[:1]
        here = _local(team, line[0].key)  # the line's name in this process's state, which serves every team
        interval = 1.0 / line[0].rate if line[0].rate > 0 else self.backoff_cap
        # A call books its token at most one interval ahead, and no further than its lane waits in place: the
        # next bulk call of a busy line is ready when its token comes, and an agent's message queued meanwhile
        # comes at most one interval after it; an agent's call books nothing ahead (its worker stays free).
        wait_in_place = getattr(self._delivering, "wait_in_place", self.pace.wait_in_place)
        within = min(interval, wait_in_place) if line[0].rate > 0 else 0.0
        reserve = self.pace.bulk_reserve if priority >= BULK else 0.0
        deadline = min(time.monotonic() + wait_in_place, getattr(self._delivering, "lease_ends", math.inf))
        with self._turn:
            self._join(here, row)
        while True:
            now = self.clock()
            with self._turn:  # known in this process already: no database round trip to learn it again
                held = [until for key, (until, lowest) in self._held.items()
                        if until > now and priority >= lowest and any(_local(team, b.key) == key for b in buckets)]
                ahead = self._ahead(here, row)
                if not held and ahead:  # the rows ahead book first; each booking wakes the rows behind
                    if not self._turn.wait(max(deadline - time.monotonic(), 0)) and time.monotonic() >= deadline:
                        raise _Deferred(self._wait_turn(here, row, now, interval))
                    continue
            if held:
                due = max(held)
            else:
                grant = pacing.acquire(self.engine, team, buckets, now=now, reserve=reserve, within=within)
                if grant.taken:
                    self._booked(row)
                    if grant.wait > 0:
                        time.sleep(grant.wait)
                    return
                due = now + timedelta(seconds=min(grant.wait - within, self.backoff_cap))
            left = (due - now).total_seconds()
            if left > deadline - time.monotonic():
                if not held:  # the line's first row is short of tokens for longer: the rows behind it wait too
                    self._hold_here([here], due, priority)
                raise _Deferred(self._wait_turn(here, row, due, interval))
            time.sleep(max(left, 0.001))

    def _join(self, line: str, row: tuple[int, Any] | None) -> None:
        """`row` takes its place in `line` (the caller holds `_turn`)."""
        if row is not None:
            self._turns.setdefault(line, {}).setdefault(row[0], (time.monotonic(), row[1]))

    def _booked(self, row: tuple[int, Any] | None) -> None:
        """`row` holds its tokens: it leaves the lines, and the rows behind it may ask for theirs."""
        with self._turn:
            if row is not None:
                for waiting in self._turns.values():
                    waiting.pop(row[0], None)
            self._turn.notify_all()

    def _line_up(self, rows: list[OutboxMessage]) -> None:
        """A case's first post takes its place in its channel's line as the case goes to a worker, before
        the worker asks for a token: the cases of a channel take its tokens in the order they were handed out.
        (A case's later posts wait for its first: they line up when they ask for their own.)"""
        first = _first_post(rows)
        if first is None:
            return
        channel, team = first.payload["channel"], self._team_of(first)
        if team is not None and self.pace.buckets("chat.postMessage", channel):
            with self._turn:
                self._join(_local(team, f"channel:{channel}"), (_rank(first), _lane(first)))

    def _team_of(self, message: OutboxMessage) -> str | None:
        """The team a row's calls are paced as; None when it will not be sent (no installation)."""
        try:
            return self.clients.sender(message.workspace_id).team
        except (NotInstalled, SlackTokenRotationError, URLError, OSError):
            return None

    def _ahead(self, line: str, row: tuple[int, Any] | None) -> int:
        """How many rows put back in `line` come before `row` (rank, lane; the caller holds `_held_lock`); one
        waiting longer than `TURN_FORGOTTEN` is forgotten (another process may have sent it)."""
        if row is None:
            return 0
        waiting = self._turns.get(line, {})
        stale = time.monotonic() - TURN_FORGOTTEN
        rank, lane = row
        # An older row of the same message is settled by this one (it will never be claimed again).
        for other in [r for r, (since, their) in waiting.items()
                      if since < stale or (lane is not None and their == lane and r < rank)]:
            del waiting[other]
        return sum(1 for other in waiting if other < rank)

    def _wait_turn(self, line: str, row: tuple[int, Any] | None, start: datetime, interval: float) -> datetime:
        """Put `row` in `line`; when it is due again: at `start`, plus one interval per row ahead of it."""
        if row is None:
            return start
        with self._turn:
            self._join(line, row)
            ahead = self._ahead(line, row)
        return start + timedelta(seconds=min(ahead * interval, self.backoff_cap))

    def _served(self, message: OutboxMessage) -> None:
        """`message` is out of the lines, and so are the older rows of its message that it settles."""
        rank, lane = _rank(message), _lane(message)
        with self._turn:
            for waiting in self._turns.values():
                for other in [r for r, (_since, their) in waiting.items()
                              if r == rank or (lane is not None and their == lane and r < rank)]:
                    del waiting[other]
            self._turn.notify_all()


    def _hold_here(self, keys: list[str], until: datetime, priority: int) -> None:
        with self._held_lock:
            for key in keys:
                self._held[key] = (until, priority)

    def _rate_limited(self, method: str, channel: str | None, retry_after: float) -> None:
        """Slack said 429: hold the channel (posts) or the method for `Retry-After`, for every deliverer."""
        now = self.clock()
        team = self._now_sending().team
        key = f"channel:{channel}" if method == "chat.postMessage" and channel else f"method:{method}"
        until = now + timedelta(seconds=retry_after)
        pacing.hold(self.engine, team, key, until=until, now=now)
        self._hold_here([_local(team, key)], until, 0)

    def _call(self, method: str, payload: dict[str, Any], priority: int = outbox.NORMAL, *,
              form: dict[str, Any] | None = None) -> dict[str, Any]:
        """One Web API call, paced; `form` sends these arguments form-encoded instead of `payload` as JSON."""
        self._pace(method, payload.get("channel"), priority)
        client = self._now_sending().client
        try:
            if form is not None:
                return client.api_call(method, data=form).data  # type: ignore[return-value]
            return client.api_call(method, json=payload).data  # type: ignore[return-value]
        except SlackApiError as error:
            status = error.response.status_code
            code = error.response.get("error") or f"http_{status}"
            if status == 429:
                retry_after = float(error.response.headers.get("Retry-After", 1))
                self._rate_limited(method, payload.get("channel"), retry_after)
                raise _Retry(code, retry_after) from error
            if status >= 500 or code in TRANSIENT_ERRORS:
                raise _Retry(code) from error
            if code in TOKEN_REFUSED:  # revoked or rotated away: look the workspace's token up again
                self.clients.forget(self._delivering.workspace)
            raise _Permanent(code) from error
        except (URLError, OSError) as error:  # timeouts and refused connections
            raise _Retry(type(error).__name__) from error


def _local(team: str, key: str) -> str:
    """A bucket's name in a deliverer's own state (holds, lines): one deliverer serves every team."""
    return f"{team}/{key}"


def _workspace(message: OutboxMessage) -> int:
    """The agency a row speaks for: its rows are read and written in that workspace only."""
    if message.workspace_id is None:
        raise _Permanent("outbox row of no workspace")
    return message.workspace_id


def _by_case(batch: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """A claim's rows by case (a row of no case alone), each case's in the order they go out."""
    cases: dict[object, list[OutboxMessage]] = {}
    for message in batch:  # claimed by priority: each case's list keeps that order
        cases.setdefault(message.case_id if message.case_id is not None else ("row", message.id), []).append(message)
    return [_in_delivery_order(rows) for rows in cases.values()]


def _first_post(rows: list[OutboxMessage]) -> OutboxMessage | None:
    """A case's first row that posts a message in a channel (its place in the channel's line)."""
    first = next((m for m in rows if m.method == "chat.postMessage" or (
        m.method == slack_messages.UPSERT and m.posted is None)), None)
    return first if first is not None and isinstance(first.payload.get("channel"), str) else None


def _channel_of(rows: list[OutboxMessage]) -> str | None:
    first = _first_post(rows)
    return first.payload["channel"] if first is not None else None


def _in_delivery_order(rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """A case's rows of a claim as they go out: claim order, except that a new case's card goes first (the
    thread replies need its ts)."""
    if rows[0].card_ts is None:
        return sorted(rows, key=lambda m: m.payload.get("role") != slack_messages.CARD)
    return rows


def _rank(message: OutboxMessage) -> int:
    """A row's place in the deliverer's order, as `storage.outbox.claim_due` ranks them."""
    return message.id + message.priority * outbox.PRIORITY_STEP


def _lane(message: OutboxMessage) -> tuple[Any, Any] | None:
    """The message a row shows (its case and role): a newer row of it settles the older ones."""
    role = message.payload.get("role") if message.method == slack_messages.UPSERT else None
    return (message.case_id, role) if role else None


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in ("text", "blocks") if key in payload}
