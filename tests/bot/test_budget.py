"""The budget of a click over whole calls: its Web API calls, counted by the Slack stand-in at Slack's own
limits, and its SQL statements, on both databases.

An answer inside a step that changes nothing the card shows costs one call (the clicked message replaced
through its response_url); an answer that changes the card, two; a step change, at most three (the step
left, replaced; the next step, posted; the card, edited). A modal costs its `views.open`, then its result
counts as an answer. The response_url and the modal each count as a call here, though Slack's tiers do not
count the former.

SQL statements are counted from the request to its commit, delivery apart (`tests.support.statements`),
SQLite's `BEGIN IMMEDIATE` included: at most 12 for an answer and 20 for a step change, on both databases
(about 51 and 45 before the use-case layer). A modal's submission counts as an answer; opening it is not
counted.
"""

from __future__ import annotations

from collections import Counter

import pytest
import time_machine

from flows.case import ClientType
from tests.bot.budget import BUDGET, CALL_TIME, STATEMENTS, whole_call


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


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
