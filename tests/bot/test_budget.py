"""The budget of a click over whole calls: its Web API calls, counted by the Slack stand-in at Slack's own
limits, and its SQL statements, on both databases.

An answer inside a step that changes nothing the card shows costs one call (the clicked message replaced
through its response_url); an answer that changes the card, two; a step change, at most three (the step
left, replaced; the next step, posted; the card, edited). A modal costs its `views.open`, then its result
counts as an answer. The response_url and the modal each count as a call here, though Slack's tiers do not
count the former.

SQL statements are counted from the request to its commit, delivery apart (`tests.support.statements`).
The ceilings are what a click costs now (about 45 statements before the loaded rows were kept for the save):
a guard against regressions on the way to the use-case layer's target of 12 for an answer and 20 for a step
change (issue 15), not that target yet. A modal's submission counts as an answer; opening it is not counted.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from sqlmodel import Session

from flows.case import ClientType, State
from sandbox.slack_api import BotReply
from storage import outbox
from tests.bot.driver import CallDriver
from tests.bot.slack_counts import SlackCounts
from tests.bot.test_call_scenarios import open_case
from tests.support.statements import StatementCounter

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 10:30 in Paris: a legal calling slot


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


class BudgetDriver(CallDriver):
    """A call driver that sorts every interaction by what it changed and counts what it cost in Slack and
    in SQL statements."""

    def __init__(self, *args: Any, counts: SlackCounts, statements: StatementCounter) -> None:
        super().__init__(*args)
        self.counts, self.statements = counts, statements
        self.spent: list[tuple[str, int, str]] = []  # (kind, calls, what was clicked)
        self.sql: list[tuple[str, int, str]] = []  # (kind, statements, what was clicked)

    def _card_digest(self) -> str | None:
        with Session(self.h.engine) as session:
            return outbox.last_digests(session, self.case_id).get("card")

    def _measured(self, what: str, interact) -> BotReply:
        before, state, card = self.counts.total(), self.case().state, self._card_digest()
        modals = len(self.h.slack.calls_to("views.open"))
        self.statements.reset()
        reply = interact()
        self.h.drain()
        statements = self.statements.reset()
        cost = self.counts.total() - before
        if len(self.h.slack.calls_to("views.open")) > modals:
            kind = "modal opened"
        elif self.case().state is not state:
            kind = "step change"
        elif self._card_digest() != card:
            kind = "card changed"
        else:
            kind = "answer"
        self.spent.append((kind, cost, what))
        self.sql.append(("answer" if kind == "card changed" else kind, statements, what))
        return reply

    def send(self, payload: dict[str, Any]) -> BotReply:
        return self._measured(payload["actions"][0]["action_id"], lambda: super(BudgetDriver, self).send(payload))

    def submit(self, values: dict[str, Any]) -> BotReply:
        self.modal()
        return self._measured("modal", lambda: super(BudgetDriver, self).submit(values))


BUDGET = {"answer": 1, "card changed": 2, "step change": 3, "modal opened": 1}
STATEMENTS = {"sqlite": {"answer": 34, "step change": 30}, "postgresql": {"answer": 28, "step change": 24}}


def whole_call(harness, factory, client_type: ClientType) -> BudgetDriver:
    """A call from its start to its closing, each click measured."""
    extra = {"siren": "732829320", "naf": "62.01Z", "activity": "Conseil"} if client_type is ClientType.professionnel else {}
    case_id = open_case(harness, factory, client_type=client_type, **extra)
    harness.drain()
    with StatementCounter(harness.engine) as statements:
        call = BudgetDriver(harness, case_id, harness.agent_id, counts=SlackCounts(harness.slack),
                            statements=statements)
        call.whole_call(date(2026, 12, 8))
    assert call.case().state is State.closed
    return call


@pytest.mark.parametrize("client_type", [ClientType.particulier, ClientType.professionnel])
def test_a_whole_call_keeps_to_the_budget_of_each_click(harness, factory, client_type) -> None:
    call = whole_call(harness, factory, client_type)
    counts = call.counts

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


@pytest.mark.parametrize("client_type", [ClientType.particulier, ClientType.professionnel])
def test_a_whole_call_keeps_to_the_statements_of_each_click(harness, factory, client_type) -> None:
    call = whole_call(harness, factory, client_type)

    ceiling = STATEMENTS[harness.engine.dialect.name]
    over = [(kind, cost, what) for kind, cost, what in call.sql if cost > ceiling.get(kind, cost)]
    assert over == []
    assert {kind for kind, _cost, _what in call.sql} >= {"answer", "step change"}
    assert all(cost > 0 for _kind, cost, _what in call.sql)  # the counter sees the bot's threads


POSTS_PER_CALL = 7  # card, preparation, contact, client file, contracts, rebound, action plan (then closing)
