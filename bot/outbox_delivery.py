"""Delivers the outbox to Slack after each commit: one background thread, woken at once, polling as a fallback.

Rows of one case go out in order (storage's claim only hands out a case's oldest pending row), so a failing
row holds back its own case and no other. Slack's answers decide what happens next: 429 waits `Retry-After`,
5xx / timeouts / connection errors back off exponentially with jitter, other Slack errors are permanent.
Retries are written to the outbox, never slept in the thread, so a rate-limited channel does not stall others.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.error import URLError

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import post_once
from storage import outbox, slack_messages
from storage.outbox import OutboxMessage
from storage.tables import Outbox, utcnow

log = logging.getLogger(__name__)

RAW_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "views.publish", "chat.delete"})
# Slack's answers on HTTP 200 that mean "try again later" rather than "this will never work".
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# How many times a thread reply waits for its card before giving up (the card failed for good).
CARD_WAIT_ATTEMPTS = 20


class _Retry(Exception):
    def __init__(self, error: str, delay: float | None = None):
        super().__init__(error)
        self.error, self.delay = error, delay


class _Permanent(Exception):
    pass


class OutboxDeliverer:
    """Sends due outbox rows with `client`; `start()` runs it in the background, `deliver_pending()` drains once."""

    def __init__(
        self,
        engine: Engine,
        client: WebClient,
        *,
        poll_seconds: float = 1.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        batch: int = 20,
        workers: int = 4,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.engine = engine
        self.client = client
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
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="outbox")
        # Wake on every commit that queued outbox rows, whoever committed it, so delivery follows at once.
        for name, listener in self._listeners:
            sa.event.listen(Session, name, listener)
        self._thread = threading.Thread(target=self._run, name="outbox-delivery", daemon=True)
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
            except Exception as error:  # the database is away: keep the thread alive, try at the next poll
                # The type only: a database error's text carries the row's payload, personal data included.
                log.error("outbox delivery round failed: %s", type(error).__name__)
                delivered = 0
            if not delivered:
                self._wakeup.wait(self.poll_seconds)

    # ---- delivery ----------------------------------------------------------------------------------

    def deliver_pending(self) -> int:
        """Deliver every row due now, case by case in order; returns how many rows were handled."""
        handled = 0
        while batch := outbox.claim_due(self.engine, self.clock(), self.batch):
            # A batch holds at most one row per case, so its rows may go out in parallel.
            if self._pool is not None and len(batch) > 1:
                list(self._pool.map(self._deliver, batch))
            else:
                for message in batch:
                    self._deliver(message)
            handled += len(batch)
        return handled

    def _deliver(self, message: OutboxMessage) -> None:
        try:
            result = self._send(message)
        except _Retry as retry:
            delay = retry.delay if retry.delay is not None else self._backoff(message.attempts)
            log.warning("outbox %s (%s, case %s) retried in %.1fs: %s", message.id, message.method, message.case_id, delay, retry.error)
            outbox.mark_retry(self.engine, message.id, retry.error, self.clock() + timedelta(seconds=delay))
        except _Permanent as failure:
            log.error("outbox %s (%s, case %s) failed: %s", message.id, message.method, message.case_id, failure)
            outbox.mark_failed(self.engine, message.id, str(failure))
        except (KeyError, TypeError, AttributeError) as error:  # a payload the bot could never send
            log.error("outbox %s (%s) malformed: %s", message.id, message.method, type(error).__name__)
            outbox.mark_failed(self.engine, message.id, f"malformed_payload:{type(error).__name__}")
        else:
            outbox.mark_delivered(self.engine, message.id, result)

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0))
        return random.uniform(ceiling / 2, ceiling)  # jitter keeps several workers from retrying in step

    def _send(self, message: OutboxMessage) -> dict[str, Any]:
        if message.method == slack_messages.UPSERT:
            return self._upsert(message)
        if message.method == "chat.postMessage":
            response = self._post_once(message, message.payload, row_id=message.id, role=None)
            return {key: response[key] for key in ("channel", "ts") if key in response}
        if message.method in RAW_METHODS:
            response = self._call(message.method, message.payload)
            return {key: response[key] for key in ("channel", "ts", "message_ts") if key in response}
        raise _Permanent(f"unknown outbox method {message.method}")

    def _upsert(self, message: OutboxMessage) -> dict[str, Any]:
        payload = message.payload
        case_id, role = payload["case_id"], payload["role"]
        if newer := slack_messages.pending_upserts(self.engine, case_id, role, after=message.id):
            # The newest content of this message is already queued: sending this one would only flash by.
            return {"coalesced_into": newer[-1]}
        posted = slack_messages.find(self.engine, case_id, role)
        if posted is not None:
            try:
                self._call("chat.update", {"channel": posted.channel, "ts": posted.ts, **_content(payload)})
                return {"channel": posted.channel, "ts": posted.ts, "action": "update"}
            except _Permanent as failure:
                if str(failure) != "message_not_found":
                    raise
                # Someone deleted the message: post it again rather than lose every later edit.
        thread: dict[str, str] = {}
        if role != slack_messages.CARD:
            card = slack_messages.find(self.engine, case_id, slack_messages.CARD)
            thread = {"thread_ts": card.ts if card else self._card_ahead(message)}
        return self._post(message, role, {"channel": payload["channel"], **thread, **_content(payload)})

    def _card_ahead(self, message: OutboxMessage) -> str:
        """A thread reply needs its card's ts: post the newest queued card first, or wait for one to be queued.

        Only this row's case is held meanwhile, and the later card rows cannot be claimed by anyone else
        (they are not the case's oldest pending row), so taking them here is safe.
        """
        queued = slack_messages.pending_upserts(self.engine, message.case_id, slack_messages.CARD, after=message.id)
        if not queued:
            if message.attempts >= CARD_WAIT_ATTEMPTS:
                raise _Permanent("card_not_posted")
            raise _Retry("card_not_posted_yet")
        with Session(self.engine) as session:
            newest = session.get(Outbox, queued[-1])
            payload = dict(newest.payload)
        result = self._post(message, slack_messages.CARD, {"channel": payload["channel"], **_content(payload)},
                            row_id=queued[-1])
        for row_id in queued[:-1]:
            outbox.mark_delivered(self.engine, row_id, {"coalesced_into": queued[-1]})
        outbox.mark_delivered(self.engine, queued[-1], {**result, "ahead_of": message.id})
        return result["ts"]

    def _post(self, message: OutboxMessage, role: str, arguments: dict[str, Any], *,
              row_id: int | None = None) -> dict[str, Any]:
        """Post the case's `role` message (the content of outbox row `row_id`, by default the one delivered)."""
        response = self._post_once(message, arguments, row_id=row_id or message.id, role=role)
        slack_messages.record(self.engine, message.case_id, role, response["channel"], response["ts"])
        return {"channel": response["channel"], "ts": response["ts"], "action": "post"}

    def _post_once(self, message: OutboxMessage, arguments: dict[str, Any], *, row_id: int,
                   role: str | None) -> dict[str, Any]:
        """chat.postMessage, unless an earlier attempt of `message` already posted it (`bot.post_once`)."""
        tagged = post_once.tag(arguments, row_id, case_id=message.case_id, role=role)
        try:
            found = post_once.earlier_post(self._call, self.engine, tagged, outbox_id=message.id,
                                           attempts=message.attempts, case_id=message.case_id, role=role)
        except _Retry as retry:  # the look-up waits its turn; the next attempt looks again
            raise _Retry(post_once.UNCONFIRMED + retry.error, retry.delay) from retry
        except _Permanent as failure:  # never re-posted unchecked
            raise _Permanent(post_once.UNCONFIRMED + str(failure)) from failure
        if found is None:
            return self._call("chat.postMessage", tagged)
        log.info("outbox %s (case %s) already in Slack, not posted again", message.id, message.case_id)
        if post_once.posted_by(found) != row_id:  # an older content of the role: show this row's
            self._call("chat.update", {"channel": found["channel"], "ts": found["ts"], **_content(arguments),
                                       "metadata": tagged["metadata"]})
        return {"channel": found["channel"], "ts": found["ts"]}

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.client.api_call(method, json=payload).data  # type: ignore[return-value]
        except SlackApiError as error:
            status = error.response.status_code
            code = error.response.get("error") or f"http_{status}"
            if status == 429:
                raise _Retry(code, float(error.response.headers.get("Retry-After", 1))) from error
            if status >= 500 or code in TRANSIENT_ERRORS:
                raise _Retry(code) from error
            raise _Permanent(code) from error
        except (URLError, OSError) as error:  # timeouts and refused connections
            raise _Retry(type(error).__name__) from error


def _content(payload: dict[str, Any]) -> dict[str, Any]:
    return {key: payload[key] for key in ("text", "blocks") if key in payload}
