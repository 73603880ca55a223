"""`m3bot run`: check the settings, migrate, start delivery, then serve Slack (Socket Mode or HTTP).

A missing or wrong setting ends the start-up with one line on stderr and exit code 2, never a traceback.

Hosted mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, no SLACK_BOT_TOKEN) serves every workspace that installs
the app from its link, over HTTP only: no bot token to check at start, each workspace's is checked when its
requests come (`bot.installations`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from typing import NoReturn
from urllib.error import URLError

import sqlalchemy as sa
import waitress
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from waitress import wasyncore

from bot import channel, logs
from bot.agents import match_agents
from bot.app import create_app, delivery_clients, deps_of, web_client
from bot.health import with_probes
from bot.metrics import MetricsServer
from bot.notifier import SlackNotifier
from bot.outbox_delivery import OutboxDeliverer
from bot.settings_record import record_at_start
from config.settings import Settings, reveal
from scheduler.service import run_forever, start_scheduler
from service.access import PutCallerRule, put_caller_rule
from service.unit_of_work import UnitOfWork
from service.workspaces import every_workspace, own_workspace
from storage.db import DatabaseUrlError, make_engine, migrate
from wording import t

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HTTP_THREADS = 8


def missing_settings(settings: Settings) -> list[str]:
    """The environment names of the settings `run` cannot start without."""
    required: dict[str, object]
    if _hosted_attempt(settings):  # each workspace's token and channel come with its install
        required = {"SLACK_CLIENT_ID": settings.slack_client_id, "SLACK_CLIENT_SECRET": settings.slack_client_secret}
    else:
        required = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "M3_CHANNEL": settings.m3_channel}
    if not settings.slack_app_token or settings.hosted:  # HTTP mode: requests are authenticated by their signature
        required["SLACK_SIGNING_SECRET"] = settings.slack_signing_secret
    return [name for name, value in required.items() if not value]


def _hosted_attempt(settings: Settings) -> bool:
    """No bot token and (some of) the OAuth credentials: hosted mode is meant, complete or not."""
    return not settings.slack_bot_token and bool(settings.slack_client_id or settings.slack_client_secret)


def run(settings: Settings, *, scheduler: bool = True) -> None:
    """Start the bot and block until interrupted; exits with code 2 on a start-up problem. Without
    `scheduler`, reminders are left to separate `m3bot scheduler` processes (PostgreSQL)."""
    logs.configure(settings.log_format)
    engine, client = start_up(settings)
    app = create_app(settings, engine, client=client)
    deliverer = deps_of(app).deliverer
    deliverer.start()
    reminders = start_scheduler(settings, engine, SlackNotifier(settings)) if scheduler else None
    metrics = start_metrics(settings, engine)
    try:
        if settings.slack_app_token:
            print(t("bot.startup.listening_socket"), file=sys.stderr)
            SocketModeHandler(app, reveal(settings.slack_app_token)).start()
        else:
            server, thread = serve_http(app, settings.host, settings.port, engine=engine)
            listening = "bot.startup.listening_hosted" if settings.hosted else "bot.startup.listening_http"
            print(t(listening, host=settings.host, port=settings.port), file=sys.stderr)
            try:
                while thread.is_alive():
                    thread.join(1.0)  # a timed join keeps Ctrl-C responsive
            finally:
                stop_http(server, thread)
    except KeyboardInterrupt:
        pass
    finally:
        if reminders:
            reminders.shutdown(wait=False)
        deliverer.stop()
        if metrics:
            metrics.stop()


def start_up(settings: Settings) -> tuple[Engine, WebClient]:
    """The checks before serving: settings, database (migrated), Slack token and channel, agents matched."""
    if missing := missing_settings(settings):
        _stop(t("bot.startup.missing", names=", ".join(missing)))
    if settings.hosted and settings.slack_app_token:
        _stop(t("bot.startup.socket_mode_hosted"))
    engine = _database(settings, actor="m3bot run")
    client = web_client(settings)
    if settings.hosted:
        for workspace in every_workspace(engine):
            record_at_start(engine, settings, process="run", workspace=workspace)
        return engine, client
    workspace = _own_workspace(engine, check_slack(settings, client))
    record_at_start(engine, settings, process="run", workspace=workspace)
    if unknown := match_agents(engine, workspace, client).unknown:
        # A count: start-up lines go to the service's logs, the agents' e-mails do not.
        print(t("bot.agents.unknown", count=len(unknown)), file=sys.stderr)
    return engine, client


def run_scheduler(settings: Settings) -> None:
    """`m3bot scheduler`: the reminders without the Slack listeners, with their own outbox delivery."""
    logs.configure(settings.log_format)
    if not settings.hosted and not (settings.slack_bot_token and settings.m3_channel):
        _stop(t("bot.startup.missing", names="SLACK_BOT_TOKEN, M3_CHANNEL"))
    engine = _database(settings, actor="m3bot scheduler")
    for workspace in every_workspace(engine) if settings.hosted else [None]:
        record_at_start(engine, settings, process="scheduler", workspace=workspace)
    deliverer = OutboxDeliverer(engine, delivery_clients(settings, engine))
    deliverer.start()
    metrics = start_metrics(settings, engine)
    try:
        run_forever(settings, engine, SlackNotifier(settings))
    finally:
        deliverer.stop()
        if metrics:
            metrics.stop()


def _database(settings: Settings, *, actor: str) -> Engine:
    """The database, migrated, with the caller rule of these settings applied to the cases still to open."""
    try:
        engine = make_engine(settings.database_url)
        migrate(engine)
        # One agency's: the only workspace (made on a first run); hosted mode's: each installed one.
        for workspace in every_workspace(engine) if settings.hosted else [None]:
            put_caller_rule(PutCallerRule(settings.m3_caller), UnitOfWork(engine, actor=actor, workspace=workspace))
    except (DatabaseUrlError, sa.exc.DBAPIError) as error:
        _stop(t("bot.startup.database", reason=type(error).__name__))
    return engine


def start_metrics(settings: Settings, engine: Engine) -> MetricsServer | None:
    """`/metrics` on METRICS_PORT when it is set; a port already taken stops the start-up with one line."""
    if settings.metrics_port is None:
        return None
    try:
        return MetricsServer(engine, settings.metrics_host, settings.metrics_port,
                             tick_seconds=settings.scheduler_tick_seconds)
    except OSError as error:
        _stop(t("bot.startup.metrics_port", port=settings.metrics_port, reason=error.strerror or type(error).__name__))


def serve_http(
    app: App, host: str, port: int, *, engine: Engine | None = None
) -> tuple[waitress.server.BaseWSGIServer, threading.Thread]:
    """Serve `app` at /slack/events with waitress in a background thread, and with `engine` the probes
    `/healthz` and `/readyz` (`bot.health`); port 0 picks a free one (read it back as
    `server.effective_port`). Stop with `stop_http`."""
    application = _refusing_malformed(SlackRequestHandler(app, path=EVENTS_PATH))
    server = waitress.create_server(
        with_probes(application, engine) if engine is not None else application, host=host, port=port,
        threads=HTTP_THREADS, ident="m3bot",
    )
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    return server, thread


def _refusing_malformed(handler: SlackRequestHandler):
    """Bolt reads a few fields (user, team, channel ids) while building its request, before any middleware,
    and fails on a body whose fields are of the wrong type: answer 400 rather than a 500."""

    def application(environ, start_response):
        try:
            return handler(environ, start_response)
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as error:
            log.warning("request refused: malformed body (%s)", type(error).__name__)
            start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]

    return application


def stop_http(server: waitress.server.BaseWSGIServer, thread: threading.Thread, timeout: float = 5.0) -> None:
    # Sockets are closed from inside waitress's own loop (a trigger thunk): closing them from another
    # thread would pull them from under its select().
    # OSError: the loop has already closed its sockets, the trigger's among them: nothing left to stop.
    with contextlib.suppress(OSError):
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    thread.join(timeout)
    server.task_dispatcher.shutdown(timeout=timeout)


def _own_workspace(engine: Engine, team_id: str) -> int:
    """The workspace of the bot token's Slack team (`service.workspaces.own_workspace`); a database that already
    belongs to another team stops the start-up."""
    found = own_workspace(engine, team_id, actor="m3bot run")
    if found is None:
        _stop(t("bot.startup.other_workspace", team=team_id))
    return found


def check_slack(settings: Settings, client: WebClient) -> str:
    """The token works and the bot can read M3_CHANNEL (else one line and exit code 2); a public channel
    is logged as a warning: every member of the workspace could read the clients' data there. Returns the
    token's Slack team."""
    try:
        team_id = client.auth_test()["team_id"]
    except SlackApiError as error:
        _stop(t("bot.startup.slack_auth", error=error.response.get("error")))
    except (URLError, OSError):
        _stop(t("bot.startup.slack_unreachable", url=settings.slack_api_url))
    try:
        private = channel.is_private(client, settings.m3_channel)
    except channel.ChannelUnusable as error:
        _stop(t("bot.startup.invalid", name="M3_CHANNEL", reason=error.reason))
    if not private:
        log.warning(channel.public_warning(settings.m3_channel))
    return team_id


def _stop(line: str) -> NoReturn:
    print(line, file=sys.stderr)
    raise SystemExit(2)
