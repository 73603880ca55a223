"""What a click costs, measured over a whole call: `BudgetDriver` sorts every interaction by what it changed
(an answer, a card changed, a step change, a modal opened) and counts its Web API calls in the Slack
stand-in and its SQL statements (`tests.support.statements`). Used by `tests/bot/test_budget.py` and by the
benchmark of statements per click (`bench/statements.py`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session

from flows.case import ClientType, State
from sandbox.slack_api import BotReply
from storage import outbox
from tests.bot.driver import CallDriver
from tests.bot.slack_counts import SlackCounts
from tests.bot.test_call_scenarios import open_case
from tests.support.statements import StatementCounter

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 10:30 in Paris: a legal calling slot


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
STATEMENTS = {dialect: {"answer": 12, "step change": 20} for dialect in ("sqlite", "postgresql")}


def whole_call(harness, factory, client_type: ClientType) -> BudgetDriver:
    """A call from its start to its closing, each click measured."""
    extra = {"siren": "732829320", "naf": "62.01Z", "activity": "Conseil"} if client_type is ClientType.professionnel else {}
    case_id = open_case(harness, factory, client_type=client_type, **extra)
    # The process meets its agency and the agent before the call, as at any first request after a start:
    # learning them once per process is not a click's cost.
    harness.open_home(harness.agent_id)
    harness.slack.wait_for(lambda: harness.slack.home(harness.agent_id))  # its calls are not the call's
    harness.drain()
    with StatementCounter(harness.engine) as statements:
        call = BudgetDriver(harness, case_id, harness.agent_id, counts=SlackCounts(harness.slack),
                            statements=statements)
        call.whole_call(date(2026, 12, 8))
    assert call.case().state is State.closed
    return call
