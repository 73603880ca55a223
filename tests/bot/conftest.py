"""Fixtures of the bot's tests: the Slack stand-in and the whole bot served over real HTTP (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.app import create_app, delivery_client
from bot.outbox_delivery import OutboxDeliverer
from bot.runner import serve_http, stop_http
from config.pacing import PaceSettings
from config.settings import Settings
from sandbox.slack_api import SlackStandIn
from tests.bot.harness import AGENT, CHANNEL, COLLEAGUE, LEAD, Harness


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel(CHANNEL, "m3-suivi")
        yield standin


def bot_settings(slack: SlackStandIn, engine: Engine) -> Settings:
    return Settings(
        _env_file=None,
        database_url=engine.url.render_as_string(hide_password=False),
        slack_bot_token=slack.token,
        slack_signing_secret=slack.signing_secret,
        slack_app_token=None,
        slack_api_url=slack.api_url,
        m3_channel=CHANNEL,
        m3_leads=[LEAD[0]],
    )


def fast_pace(factor: float = 50) -> PaceSettings:
    """Slack's limits `factor` times faster: tests that are not about pacing do not wait for it."""
    return PaceSettings(_env_file=None).faster(factor)


def fast_deliverer(engine: Engine, settings: Settings, **options: Any) -> OutboxDeliverer:
    """A deliverer whose back-off fits in a test: same rules, smaller numbers (`pace=` for Slack's own)."""
    values = {"poll_seconds": 0.2, "backoff_base": 0.05, "backoff_cap": 0.5, "pace": fast_pace()} | options
    return OutboxDeliverer(engine, delivery_client(settings, timeout=2), **values)


@contextmanager
def running_bot(engine: Engine, slack: SlackStandIn) -> Iterator[Harness]:
    """The bot served over HTTP against `slack`, its deliverer running, the test agents known to both."""
    settings = bot_settings(slack, engine)
    deliverer = fast_deliverer(engine, settings)
    app = create_app(settings, engine, deliverer=deliverer)
    server, thread = serve_http(app, "127.0.0.1", 0, engine=engine)
    slack.bot_url = f"http://127.0.0.1:{server.effective_port}/slack/events"
    deliverer.start()
    harness = Harness(slack, app, settings, engine, deliverer)
    harness.add_agents([AGENT, COLLEAGUE, LEAD])
    try:
        yield harness
    finally:
        deliverer.stop()
        stop_http(server, thread)


@pytest.fixture
def harness(engine: Engine, slack: SlackStandIn) -> Iterator[Harness]:
    with running_bot(engine, slack) as harness:
        yield harness
