"""The Web API budget of a click, counted by the Slack stand-in over whole calls at Slack's own limits.

An answer inside a step that changes nothing the card shows costs one call (the clicked message replaced
through its response_url); an answer that changes the card, two; a step change, at most three (the step
left, replaced; the next step, posted; the card, edited). A modal costs its `views.open`, then its result
counts as an answer. The response_url and the modal each count as a call here, though Slack's tiers do not
count the former.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from sqlmodel import Session

from bot.views import ids
from flows.case import ClientType, State
from sandbox.slack_api import BotReply
from storage import outbox
from tests.bot.driver import CallDriver
from tests.bot.slack_counts import SlackCounts
from tests.bot.test_call_scenarios import open_case

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 10:30 in Paris: a legal calling slot


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


class BudgetDriver(CallDriver):
    """A call driver that sorts every interaction by what it changed and counts what it cost in Slack."""

    def __init__(self, *args: Any, counts: SlackCounts) -> None:
        super().__init__(*args)
        self.counts = counts
        self.spent: list[tuple[str, int, str]] = []  # (kind, calls, what was clicked)

    def _card_digest(self) -> str | None:
        with Session(self.h.engine) as session:
            return outbox.last_digests(session, self.case_id).get("card")

    def _measured(self, what: str, interact) -> BotReply:
        before, state, card = self.counts.total(), self.case().state, self._card_digest()
        reply = interact()
        self.h.drain()
        cost = self.counts.total() - before
        if self.case().state is not state:
            kind = "step change"
        elif self._card_digest() != card:
            kind = "card changed"
        else:
            kind = "answer"
        self.spent.append((kind, cost, what))
        return reply

    def send(self, payload: dict[str, Any]) -> BotReply:
        return self._measured(payload["actions"][0]["action_id"], lambda: super(BudgetDriver, self).send(payload))

    def submit(self, values: dict[str, Any]) -> BotReply:
        self.modal()
        return self._measured("modal", lambda: super(BudgetDriver, self).submit(values))


BUDGET = {"answer": 1, "card changed": 2, "step change": 3}


@pytest.mark.parametrize("client_type", [ClientType.particulier, ClientType.professionnel])
def test_a_whole_call_keeps_to_the_budget_of_each_click(harness, factory, client_type) -> None:
    counts = SlackCounts(harness.slack)
    extra = {"siren": "732829320", "naf": "62.01Z", "activity": "Conseil"} if client_type is ClientType.professionnel else {}
    case_id = open_case(harness, factory, client_type=client_type, **extra)
    harness.drain()
    call = BudgetDriver(harness, case_id, harness.agent_id, counts=counts)

    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    call.profile()
    call.contracts()
    call.rebound()
    call.plan_and_close(date(2026, 12, 8))

    assert call.case().state is State.closed
    over = [(kind, cost, what) for kind, cost, what in call.spent if cost > BUDGET[kind]]
    assert over == []
    kinds = Counter(kind for kind, _cost, _what in call.spent)
    assert kinds["answer"] >= 5 and kinds["step change"] >= 6  # the call really went through both kinds
    # Every clicked message was replaced through its response_url, never edited by chat.update.
    assert counts.replaced() and len(harness.slack.calls_to("chat.update")) <= kinds["step change"] + kinds["card changed"]
    assert not [c for c in harness.slack.calls if c.status == 429]
    # The posts a call makes in the channel (1 a second per channel): the card and one message per step,
    # the closing notice replacing the action plan's message.
    assert len(harness.slack.calls_to("chat.postMessage")) == POSTS_PER_CALL


POSTS_PER_CALL = 7  # card, preparation, contact, client file, contracts, rebound, action plan (then closing)
