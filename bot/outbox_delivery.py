"""Delivers the outbox to Slack after each commit: one background thread, woken at once, polling as a fallback.

Each claim hands out the due rows of several cases (storage's claim gives one worker a case at a time and
only the newest row of each message); a case's rows go out in one worker, those an agent waits for first,
the card after. Every Web API call first takes a token from the buckets of Slack's limits it counts
against (`storage.pacing`, shared through the database by every deliverer of the workspace, limits from
`config.pacing`): a row that would exceed them is put back until its token is there, without counting an
attempt, so delivery stays ahead of the 429s; bulk work leaves headroom for the agents' messages. The
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
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
        # Rows put back for a bucket, by rank (`_rank`), with when they first waited: its tokens go to them in
        # that order (see `_pace`). The row a worker is delivering, per thread.
        self._turns: dict[str, dict[int, tuple[float, tuple[Any, Any]]]] = {}  # line -> rank -> (since, lane)
        # .row: the row being delivered; .workspace, .sender: its workspace and that workspace's client
        self._delivering = threading.local()
        self._held_lock = threading.Lock()
        self._pace_lock = threading.Lock()
        self._next_due: datetime | None = None  # the earliest row put back since the thread last waited
        self._swept_at: datetime | None = None
        self.poll_seconds = poll_seconds
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.batch = batch
        self.clock = clock
        self._workers = workers
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        # SQLAlchemy removes a listener by identity: keep one bound method of each.
        self._listeners = (("after_flush", self._note_outbox_rows), ("after_commit", self._wake_if_outbox_rows))

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=THREAD_PREFIX)
        # Wake on every commit that queued outbox rows, whoever committed it, so delivery follows at once.
        for name, listener in self._listeners:
            sa.event.listen(Session, name, listener)
        self._thread = threading.Thread(target=self._run, name=f"{THREAD_PREFIX}-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        for name, listener in self._listeners:
            sa.event.remove(Session, name, listener)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call it after committing outbox rows)."""
        self._wakeup.set()

    def _note_outbox_rows(self, session: Session, _context: Any) -> None:
        if session.bind is self.engine and any(isinstance(row, Outbox) for row in session.new):
            session.info["outbox_queued"] = True

    def _wake_if_outbox_rows(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released (a reminder inserted once): the rows are not committed yet
        if session.info.pop("outbox_queued", False):
            self.wake()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()  # before draining: a wake() during the drain triggers another round
            try:
                delivered = self.deliver_pending()
                self._sweep()
            except Exception as error:  # the database is away: keep the thread alive, try at the next poll
                # The type only: a database error's text carries the row's payload, personal data included.
                log.error("outbox delivery round failed: %s", type(error).__name__)
                delivered = 0
            if not delivered:
                self._wakeup.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """Until the next poll, or sooner when a row put back this round is due before it."""
        with self._held_lock:
            due, self._next_due = self._next_due, None
        if due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max((due - self.clock()).total_seconds(), 0.005))

    def _due_again(self, at: datetime) -> None:
        with self._held_lock:
            self._next_due = at if self._next_due is None else min(self._next_due, at)

    def _sweep(self) -> None:
        now = self.clock()
        if self._swept_at is None or now - self._swept_at >= URL_BUCKETS_SWEEP:
            self._swept_at = now
            for team in self.clients.teams():
                pacing.forget(self.engine, team, "url:", idle=URL_BUCKETS_IDLE, now=now)

    # ---- delivery ----------------------------------------------------------------------------------

    def deliver_pending(self) -> int:
        """Deliver every row due now; returns how many rows were handled (sent, put back or failed)."""
        handled = 0
        while batch := outbox.claim_due(self.engine, self.clock(), self.batch):
            cases: dict[object, list[OutboxMessage]] = {}
            for message in batch:  # claimed by priority: each case's list keeps that order
                cases.setdefault(message.case_id if message.case_id is not None else ("row", message.id), []).append(message)
            cases = {key: _in_delivery_order(rows) for key, rows in cases.items()}
            self._line_up(cases.values())
            # One case's rows in one worker, the cases in parallel.
            if self._pool is not None and len(cases) > 1:
                list(self._pool.map(self._deliver_case, cases.values()))
            else:
                for rows in cases.values():
                    self._deliver_case(rows)
            handled += len(batch)
            if len(batch) < self.batch:
                break  # that was all; rows committed meanwhile wake the thread again
        return handled

    def _deliver_case(self, rows: list[OutboxMessage]) -> None:
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
            self._due_again(deferred.until)
            return deferred.until
        except _Retry as retry:
            self._served(message)
            delay = retry.delay if retry.delay is not None else self._backoff(message.attempts)
            log.warning("outbox %s (%s, case %s) retried in %.1fs: %s", message.id, message.method, message.case_id, delay,
                        retry.error)
            retry_at = self.clock() + timedelta(seconds=delay)
            outbox.mark_retry(self.engine, message.id, retry.error, retry_at)
            self._due_again(retry_at)
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
            raise _Retry("cards_not_posted_yet")
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
        """Take this call's tokens, or raise `_Deferred` until they are there."""
        buckets = self.pace.buckets(method, channel)
        if not buckets:
            return
        now = self.clock()
        team = self._now_sending().team
        row = getattr(self._delivering, "row", None)
        # A token goes to the rows waiting for it in their order (the agents' first, then by age), not to
        # whichever worker asks first when it comes back: each row put back returns at its own turn, one
        # token interval after the one ahead of it, and a row behind others does not take a token first. The
        # line is the channel's for a post (other channels never wait for it), else the method's.
        line = [b for b in buckets if b.key.startswith("channel:")] or buckets[:1]
        here = _local(team, line[0].key)  # the line's name in this process's state, which serves every team
        interval = 1.0 / line[0].rate if line[0].rate > 0 else self.backoff_cap
        # One worker of this process at a time counts the rows ahead and takes its token, so that a row counted
        # ahead is one still waiting for its token, not one that has just taken it.
        with self._pace_lock:
            with self._held_lock:  # known in this process already: no database round trip to learn it again
                held = [until for key, (until, lowest) in self._held.items()
                        if until > now and priority >= lowest and any(_local(team, b.key) == key for b in buckets)]
                ahead = self._ahead(here, row)
            # Rows ahead in the line keep their tokens: this one takes one only from what the burst leaves them.
            if held or ahead + 1 > line[0].burst:
                raise _Deferred(self._wait_turn(here, row, max(held) if held else now, interval))
            reserve = ahead + (self.pace.bulk_reserve if priority >= BULK else 0.0)
            wait = pacing.acquire(self.engine, team, buckets, now=now, reserve=reserve)
            if wait > 0:
                until = now + timedelta(seconds=min(wait, self.backoff_cap))
                if not ahead:  # the line's head is short of tokens: everyone behind it waits too
                    self._hold_here([here], until, priority)
                raise _Deferred(self._wait_turn(here, row, until, interval))
            if row is not None:  # it holds its token: the rows behind it no longer keep one for it
                with self._held_lock:
                    for waiting in self._turns.values():
                        waiting.pop(row[0], None)

    def _line_up(self, cases: Iterable[list[OutboxMessage]]) -> None:
        """Each case's first post of a claim takes its place in its channel's line before any worker asks for a
        token: the first token goes to the oldest of them too, not to the first worker to ask. (A case's
        later posts wait for its first: they line up if they must wait themselves.)"""
        now = time.monotonic()
        firsts = [next((m for m in rows if m.method == "chat.postMessage" or (
            m.method == slack_messages.UPSERT and m.posted is None)), None) for rows in cases]
        teams = {m.id: self._team_of(m) for m in firsts if m is not None}
        with self._held_lock:
            for message in firsts:
                channel = message.payload.get("channel") if message is not None else None
                if (message is not None and isinstance(channel, str) and teams[message.id] is not None
                        and self.pace.buckets("chat.postMessage", channel)):
                    line = _local(teams[message.id], f"channel:{channel}")
                    self._turns.setdefault(line, {}).setdefault(_rank(message), (now, _lane(message)))

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
        with self._held_lock:
            self._turns.setdefault(line, {}).setdefault(row[0], (time.monotonic(), row[1]))
            ahead = self._ahead(line, row)
        return start + timedelta(seconds=min(ahead * interval, self.backoff_cap))

    def _served(self, message: OutboxMessage) -> None:
        """`message` is out of the lines, and so are the older rows of its message that it settles."""
        rank, lane = _rank(message), _lane(message)
        with self._held_lock:
            for waiting in self._turns.values():
                for other in [r for r, (_since, their) in waiting.items()
                              if r == rank or (lane is not None and their == lane and r < rank)]:
                    del waiting[other]


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
