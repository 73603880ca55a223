"""Benchmark 6: the SQL statements of a click, on each database.

A SQLAlchemy event counter (`tests.support.statements`) counts what the bot's request threads send to the
database from a request to its commit (the outbox's delivery apart; SQLite's `BEGIN IMMEDIATE` included), for
every click of two whole calls (a particulier's and a professionnel's), driven as the budget test drives them
(`tests.bot.budget`): the real Bolt app over HTTP, the Slack stand-in, a fresh database. An answer inside a step
(its card changed or not, a modal's submission included) and a step change are counted apart; opening a modal
is not counted. The counts do not depend on the machine's speed: one run.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import time_machine
from sqlalchemy.engine import Engine

from flows.case import ClientType
from sandbox.slack_api import SlackStandIn
from storage.db import migrate
from tests.bot.budget import CALL_TIME, STATEMENTS, whole_call
from tests.bot.conftest import running_bot
from tests.bot.harness import CHANNEL
from tests.conftest import Factory

KINDS = ("answer", "step change")
TARGETS = STATEMENTS["postgresql"]  # the same on both databases


@dataclass
class Statements:
    database: str
    counts: dict[str, list[int]]  # kind -> statements of each click of that kind
    heaviest: dict[str, str]  # kind -> the click that cost the most

    def most(self, kind: str) -> int:
        return max(self.counts[kind])

    def median(self, kind: str) -> float:
        return statistics.median(self.counts[kind])

    def met(self, kind: str) -> bool:
        return self.most(kind) <= TARGETS[kind]


def measure(database: str, engine: Engine) -> Statements:
    """The statements of every click of two whole calls on `engine` (a fresh database)."""
    migrate(engine)
    counts: dict[str, list[int]] = {kind: [] for kind in KINDS}
    heaviest: dict[str, tuple[int, str]] = {}
    with time_machine.travel(CALL_TIME, tick=True), SlackStandIn() as slack:
        slack.add_channel(CHANNEL, "m3-suivi")
        with running_bot(engine, slack) as harness:
            for client_type in (ClientType.particulier, ClientType.professionnel):
                for kind, statements, what in whole_call(harness, Factory(engine), client_type).sql:
                    if kind in counts:
                        counts[kind].append(statements)
                        if statements > heaviest.get(kind, (-1, ""))[0]:
                            heaviest[kind] = (statements, what)
    return Statements(database, counts, {kind: what for kind, (_n, what) in heaviest.items()})
