"""Three delivery processes on one PostgreSQL for two installed agencies (hosted mode), against a stand-in
that applies Slack's per-channel limit: every queued message goes out once, with its agency's token, and the
processes keep one budget per agency between them (no 429)."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from datetime import UTC, datetime

from slack_sdk.oauth.installation_store import Installation
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.app import delivery_clients
from bot.installations import installations
from bot.outbox_delivery import OutboxDeliverer
from config.pacing import PaceSettings
from config.settings import Settings
from sandbox.slack_api import SlackStandIn
from storage import outbox
from storage.db import make_engine
from storage.tables import Outbox, Workspace
from storage.workspaces import all_workspaces, session_for
from tests.bot.test_install import hosted_settings

SPAWN = multiprocessing.get_context("spawn")
CHILD_TIMEOUT = 120
TEAMS = {"T0PORT": ("Agence du Port", "C0PORT"), "T0PLAGE": ("Agence de la Plage", "C0PLAGE")}
MESSAGES = 12  # per agency, in its own channel
# The stand-in takes 4 posts a second in a channel with bursts of 2; each process paces to 3.2 a second:
# three processes keeping separate budgets would send 9.6 a second and meet 429s.
PACE = {"post_per_channel": 4, "post_channel_burst": 1, "margin": 0.8}


def deliver_until_done(url: str, values: dict, deadline: float) -> None:
    """One delivery process of the hosted service: deliver until nothing is pending."""
    engine = make_engine(url)
    settings = Settings(_env_file=None, **values)
    deliverer = OutboxDeliverer(engine, delivery_clients(settings, engine, timeout=2), poll_seconds=0.1,
                                backoff_base=0.05, backoff_cap=0.5, pace=PaceSettings(_env_file=None, **PACE))
    deliverer.start()
    try:
        while time.monotonic() < deadline:
            with all_workspaces(engine) as session:
                if not session.exec(select(Outbox.id).where(Outbox.status == outbox.PENDING)).first():
                    return
            time.sleep(0.2)
    finally:
        deliverer.stop()
        engine.dispose()


def installed(engine: Engine, slack: SlackStandIn, settings: Settings, team: str) -> int:
    name, channel = TEAMS[team]
    token = slack.install(team, name)
    slack.add_channel(channel, f"m3-{team.lower()}")
    installations(settings, engine).save(Installation(
        app_id=slack.app_id, enterprise_id=None, team_id=team, team_name=name, bot_token=token, bot_id="B0BOT",
        bot_user_id=slack.bot_user_id, bot_scopes="chat:write", user_id="U0ADMIN",
        installed_at=datetime.now(UTC).timestamp()))
    with Session(engine) as session:
        workspace = session.exec(select(Workspace.id).where(Workspace.team_id == team)).one()
    with session_for(engine, workspace) as session, session.begin():
        for n in range(MESSAGES):
            outbox.enqueue(session, "chat.postMessage", {"channel": channel, "text": f"{team} {n}"})
    return workspace


def test_three_processes_deliver_two_agencies_once_each_with_its_token_in_one_budget_per_agency(
        pg_engine: Engine, slack: SlackStandIn) -> None:
    slack.rate("chat.postMessage", 4, per_channel=True, burst=2)
    settings = hosted_settings(slack, pg_engine)
    for team in TEAMS:
        installed(pg_engine, slack, settings, team)
    values = {name: getattr(settings, name) for name in ("database_url", "slack_client_id", "slack_signing_secret",
                                                           "slack_api_url")}
    values["slack_client_secret"] = settings.slack_client_secret.get_secret_value()  # type: ignore[union-attr]

    deadline = time.monotonic() + 60
    url = pg_engine.url.render_as_string(hide_password=False)
    workers = [SPAWN.Process(target=deliver_until_done, args=(url, values, deadline)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(CHILD_TIMEOUT)
    assert [w.exitcode for w in workers] == [0, 0, 0]

    posts = slack.calls_to("chat.postMessage")
    assert [c.status for c in posts if c.status != 200] == []  # one budget per agency, shared: no 429
    assert Counter(c.args["text"] for c in posts) == Counter(f"{t} {n}" for t in TEAMS for n in range(MESSAGES))
    assert all(c.token == slack.token_of(c.team) and c.args["text"].startswith(c.team) for c in posts)
    with Session(pg_engine) as session:
        assert set(session.exec(select(Outbox.status))) == {outbox.DELIVERED}
