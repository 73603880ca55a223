"""The bot as a separate process against the stand-in, with PostgreSQL reached through a `TcpProxy`:
the set-up of the fault and load tests (`process_harness` context manager)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from config.pacing import PaceSettings
from config.settings import Settings, reveal
from sandbox.slack_api import SlackStandIn
from storage import outbox
from storage.tables import Outbox
from tests.bot.conftest import bot_settings, fast_pace
from tests.bot.harness import AGENT, CHANNEL, COLLEAGUE, LEAD, Harness, drain, wait_until
from tests.conftest import Factory, client_file, contract
from tests.support.bot_process import BotProcess
from tests.support.opening import open_and_post
from tests.support.proxy import TcpProxy

LEASE_SECONDS = 3  # a row a killed process was delivering is taken up again this long after


@dataclass
class ProcessHarness(Harness):
    """A `Harness` whose bot runs in `bot` (app and deliverer live there, not here)."""

    bot: BotProcess | None = None
    proxy: TcpProxy | None = None
    drain_timeout: float = 30.0
    poll: float = 0.05  # seconds between two looks at the database while waiting
    cases: list[int] = field(default_factory=list)

    def drain(self, timeout: float | None = None) -> None:
        drain(self.engine, timeout or self.drain_timeout)

    def for_case(self, case_id: int) -> CaseHarness:
        """The same bot, seen by one agent who waits only for his own case's messages."""
        return CaseHarness(**{f.name: getattr(self, f.name) for f in fields(self)}, case_id=case_id)

    def restart(self) -> None:
        self.slack.bot_url = self.bot.restart()

    def open_case(self, number: str, agent: str = AGENT[1]) -> int:
        """A new client's case sold by `agent` (e-mail), opened: its card and first step queued as
        `m3bot open-due` does."""
        factory = Factory(self.engine)
        case_id = factory.case(client_file(number=number), [contract(number=f"AUTO-{number}", seller=agent)],
                               opened=False, agent=agent)
        open_and_post(self.engine, self.settings, case_id)
        self.cases.append(case_id)
        return case_id


@dataclass
class CaseHarness(ProcessHarness):
    case_id: int = 0

    def drain(self, timeout: float | None = None) -> None:
        wait_until(self._case_drained, timeout or self.drain_timeout, interval=self.poll)

    def _case_drained(self) -> bool:
        with Session(self.engine) as session:
            pending = select(Outbox.id).where(Outbox.case_id == self.case_id, Outbox.status == outbox.PENDING)
            return session.exec(pending).first() is None


def env_of(settings: Settings, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": reveal(settings.slack_bot_token),
        "SLACK_SIGNING_SECRET": reveal(settings.slack_signing_secret),
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": settings.slack_api_url,
        "M3_CHANNEL": settings.m3_channel,
        "M3_LEADS": ",".join(settings.m3_leads),
        "M3_TEST_LEASE_SECONDS": str(LEASE_SECONDS),
        **pace_env(fast_pace()),
    }


def pace_env(pace: PaceSettings) -> dict[str, str]:
    """The bot process paces to these limits (the stand-in enforces none of Slack's here)."""
    return {
        "SLACK_PACE_METHODS": json.dumps(pace.methods),
        "SLACK_PACE_POST_PER_CHANNEL": str(pace.post_per_channel),
        "SLACK_PACE_POST_CHANNEL_BURST": str(pace.post_channel_burst),
    }


@contextmanager
def process_harness(engine: Engine, log_path: Path) -> Iterator[ProcessHarness]:
    """Stand-in, proxy and bot process around the migrated, empty PostgreSQL database `engine`."""
    with SlackStandIn() as slack, open(log_path, "w") as log:
        slack.add_channel(CHANNEL, "m3-suivi")
        settings = bot_settings(slack, engine)
        proxy = TcpProxy(engine.url.host or "127.0.0.1", engine.url.port or 5432).start()
        through_proxy = engine.url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        bot = BotProcess(env_of(settings, through_proxy), log)
        harness = ProcessHarness(slack, None, settings, engine, None, bot=bot, proxy=proxy)
        harness.add_agents([AGENT, COLLEAGUE, LEAD])
        try:
            slack.bot_url = bot.start()
            yield harness
        finally:
            bot.stop()
            proxy.stop()

