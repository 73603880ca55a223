"""The Bolt app factory: signing secret, Web API client with retries, middleware, then the listeners.

With one bot token (SLACK_BOT_TOKEN) the app serves one agency; in hosted mode (SLACK_CLIENT_ID and
SLACK_CLIENT_SECRET, no bot token) it serves every workspace that installed it from its link, each with its own
token (`bot.installations`), and drops requests of teams with no installation.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from weakref import WeakKeyDictionary

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy.engine import Engine

from bot import metrics, middleware
from bot.admins import AdminDirectory
from bot.agents import AgentDirectory
from bot.context import BotDeps
from bot.installations import InstalledClients, WorkspaceClients, installations, oauth_options
from bot.notifier import SlackNotifier
from bot.outbox_delivery import OutboxDeliverer
from bot.workspaces import WorkspaceDirectory
from config.settings import Settings, reveal
from service.unit_of_work import Backend

SLACK_API_URL = "https://slack.com/api/"
LISTENER_THREADS = 16  # Bolt's default is 5: a few slow Slack calls would delay other agents' clicks
# Bolt acknowledges a click from a listener thread: a click applied on that same thread would hold it, and
# under load the next agents' acknowledgements would queue behind other agents' transactions, past Slack's
# 3 seconds. Clicks are applied on a pool of their own; listener threads only acknowledge, open modals and
# check modal submissions.
WORK_THREADS = 16


def web_client(settings: Settings, *, timeout: int = 10) -> WebClient:
    """The client listeners use: it retries connection errors, 429 (after Retry-After) and 5xx once each. In
    hosted mode it holds no token: Bolt gives each request a copy holding its workspace's."""
    return WebClient(
        base_url=settings.slack_api_url,
        token=reveal(settings.slack_bot_token),
        timeout=timeout,
        retry_handlers=[
            metrics.RateLimitCounter(), ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(),
            ServerErrorRetryHandler(),
        ],
    )


def delivery_client(settings: Settings, *, timeout: int = 10, token: str | None = None) -> WebClient:
    """The outbox's client (with the bot token, or `token`, a workspace's in hosted mode): no sleeping
    retries, the deliverer reschedules rows itself (see outbox_delivery)."""
    return WebClient(
        base_url=settings.slack_api_url,
        token=token or reveal(settings.slack_bot_token),
        timeout=timeout,
        retry_handlers=[metrics.RateLimitCounter(), ConnectionErrorRetryHandler()],
    )


def delivery_clients(settings: Settings, engine: Engine, *, timeout: int = 10) -> WebClient | WorkspaceClients:
    """What the deliverer sends with: the one bot token's client, or in hosted mode each workspace's."""
    if not settings.hosted:
        return delivery_client(settings, timeout=timeout)
    rotator = TokenRotator(client_id=settings.slack_client_id or "", client_secret=reveal(settings.slack_client_secret) or "",
                           client=WebClient(base_url=settings.slack_api_url, timeout=timeout))
    return InstalledClients(engine, installations(settings, engine),
                            lambda token: delivery_client(settings, timeout=timeout, token=token), rotator=rotator)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    client: WebClient | None = None,
    deliverer: OutboxDeliverer | None = None,
) -> App:
    """A ready Bolt app; its `BotDeps` is `deps_of(app)`, whose deliverer the caller starts and stops."""
    client = client or web_client(settings)
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener")
    work = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="click")
    app = App(
        name="m3bot",
        signing_secret=reveal(settings.slack_signing_secret),
        client=client,
        # Off Slack's own API (a stand-in, a proxy) there is nothing to verify at start-up; against Slack
        # the runner checks the token itself to turn a bad one into a clear line.
        token_verification_enabled=False,
        listener_executor=executor,
        **(oauth_options(settings, engine, client) if settings.hosted else {}),
    )
    deps = BotDeps(
        settings=settings,
        engine=engine,
        rules=settings.rules(),
        deliverer=deliverer or OutboxDeliverer(engine, delivery_clients(settings, engine)),
        leads=frozenset(settings.m3_leads),
        work=work,
        backend=Backend(engine, SlackNotifier(settings), settings),
        agents=AgentDirectory(engine),
        workspaces=WorkspaceDirectory(engine, single=not settings.hosted),
        admins=AdminDirectory(),
    )
    metrics.install(app)
    middleware.install(app, deps, executor)
    _DEPS[app] = deps

    from bot import listeners  # late: the listeners import views and flows, the app factory must not need them

    listeners.register(app)
    return app


_DEPS: WeakKeyDictionary[App, BotDeps] = WeakKeyDictionary()


def deps_of(app: App) -> BotDeps:
    """The dependencies the app's listeners see, e.g. to start and stop its deliverer."""
    return _DEPS[app]
