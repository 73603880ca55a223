"""A `CallDriver` that lets faults strike while it clicks, and then does what an agent does: when a click got
no answer or did nothing, he clicks again once the bot is back. A resent click carries the same action (same
`action_ts`, hence the same idempotency key): whatever the first one committed is not applied twice."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError

from sandbox.slack_api import BotReply, SlackStandIn
from tests.bot.driver import CallDriver
from tests.bot.harness import Harness, wait_until
from wording import t

NO_ANSWER = (URLError, OSError, http.client.HTTPException)
RESENDS = 5
CLICK_AGAIN = t("listeners.modal_failed")


@dataclass
class Fault:
    """Strikes `delay` seconds after a request is sent (while the bot handles it, commits or delivers);
    `recover` runs once the request is over (restart the process, reconnect the database...)."""

    name: str
    strike: Callable[[], None]
    recover: Callable[[], None]


class FaultyCall(CallDriver):
    """Clicks through a call; `faults(index)` says which fault, if any, strikes the `index`-th interaction,
    and after how long."""

    def __init__(self, harness: Harness, case_id: int, user: str,
                 faults: Callable[[int], tuple[Fault, float] | None]) -> None:
        super().__init__(harness, case_id, user)
        self.faults = faults
        self.interactions = 0
        self.struck: list[str] = []
        self.resent = 0

    def _exchange(self, send: Callable[[], BotReply], done: Callable[[], bool], retarget: Callable[[], None],
                  again: Callable[[], bool] = lambda: False, stuck: Callable[[], bool] = lambda: False) -> BotReply:
        """Send until `done`. `again`: the bot asked him to click again (he does at once); `stuck`: the bot
        answered but nothing he can see happened (a modal that did not open, and nobody told him)."""
        planned = self.faults(self.interactions)
        self.interactions += 1
        reply = self._send_under(send, planned)
        for _ in range(RESENDS):
            answered = reply is not None and reply.status == 200
            if answered and _within(lambda: done() or again(), 10.0 if planned is None else 2.0) and done():
                return reply
            if answered and stuck() and not again():
                raise AssertionError(f"interaction {self.interactions}: the modal did not open and nobody said so")
            retarget()
            self.resent += 1
            reply = self._send_under(send, None)
        raise AssertionError(f"interaction {self.interactions} never handled (last reply {reply})")

    def _send_under(self, send: Callable[[], BotReply], planned: tuple[Fault, float] | None) -> BotReply | None:
        timer = None
        if planned is not None:
            fault, delay = planned
            timer = threading.Timer(delay, fault.strike)
            timer.start()
        try:
            reply = send()
        except NO_ANSWER:
            reply = None
        if timer is not None:
            timer.join()
            planned[0].recover()
            self.struck.append(planned[0].name)
        return reply

    def send(self, payload: dict[str, Any]) -> BotReply:
        action = payload["actions"][0]
        key = f"action:{action['action_ts']}:{action['action_id']}:{self.user}"

        told = [self._told_to_click_again()]

        def retarget() -> None:  # a trigger works once: a new click brings a new one
            payload["trigger_id"] = self.h.slack.new_trigger(self.user)
            told[0] = self._told_to_click_again()

        reply = self._exchange(lambda: self.h.slack.send_interaction(payload),
                               lambda: self._handled(key) or opened_modal(self.h.slack, payload),
                               retarget, lambda: self._told_to_click_again() > told[0],
                               lambda: opened_modal(self.h.slack, payload, failed=True))
        self.clicks += 1
        self.h.drain()
        return reply

    def submit(self, values: dict[str, Any]) -> BotReply:
        view = self.modal()
        state = {block: {block: value} for block, value in values.items()}
        reply = self._exchange(lambda: self.h.submit(self.user, view.id, state), lambda: True, lambda: None)
        self.clicks += 1
        self.h.drain()
        return reply


    def _told_to_click_again(self) -> int:
        return sum(1 for e in self.h.slack.ephemerals_for(self.user) if e.text == CLICK_AGAIN)


def opened_modal(slack: SlackStandIn, payload: dict[str, Any], *, failed: bool = False) -> bool:
    """The bot opened a modal with this click's trigger (other agents' modals do not count); `failed`: it
    tried, and Slack failed every attempt."""
    calls = [call for call in slack.calls_to("views.open") if call.args.get("trigger_id") == payload["trigger_id"]]
    opened = any(call.status == 200 and call.response.get("ok") for call in calls)
    return bool(calls) and not opened if failed else opened


def _within(condition: Callable[[], bool], timeout: float) -> bool:
    try:
        wait_until(condition, timeout)
    except AssertionError:
        return False
    return True
