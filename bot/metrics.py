"""Prometheus metrics of one process, served on their own port (`METRICS_PORT`), never on Slack's.

Requests by kind and their acknowledgement latency come from a Bolt middleware; 429 answers from a
slack_sdk retry handler that only counts (delivery reschedules rows itself); the outbox and reminder
backlogs are read from the database at each scrape, so every process reports the shared truth. Labels are
request kinds, Slack method names and workspace ids: never anything personal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import urlparse

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryHandler, RetryState
from sqlalchemy.engine import Engine

from storage.operations import backlog
from storage.tables import utcnow

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter("m3bot_requests", "Slack requests handled, by kind and workspace.", ["kind", "team"],
                   registry=REGISTRY)
ACK_SECONDS = Histogram(
    "m3bot_ack_seconds", "Time from a Slack request reaching the app to its acknowledgement, by kind.", ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0), registry=REGISTRY,
)
RATE_LIMITED = Counter("m3bot_slack_ratelimited", "Slack Web API answers 429, by method.", ["method"],
                       registry=REGISTRY)


def request_kind(body: dict) -> str:
    """`block_actions`, `view_submission`, `event_callback`, `command`…: what Slack sent, never its content."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    return kind if isinstance(kind, str) and kind.isidentifier() else "other"


def install(app: App) -> None:
    """Count every request and time it until Bolt has its acknowledgement (listeners run after, in a pool)."""
    app.use(_Measure())


class _Measure(Middleware):
    # A class middleware: Bolt prepares no listener arguments for it, so a body of the wrong shape reaches
    # the shape check (and is counted) instead of failing here.

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        started = time.perf_counter()
        kind = request_kind(req.body)
        team = req.context.team_id or "none"
        try:
            return next()
        finally:
            REQUESTS.labels(kind=kind, team=team if isinstance(team, str) else "none").inc()
            ACK_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


class RateLimitCounter(RetryHandler):
    """Counts 429 answers by Web API method; never asks for a retry itself (put it first in the list)."""

    def can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                  error: Exception | None = None) -> bool:
        if response is not None and response.status_code == 429:
            RATE_LIMITED.labels(method=urlparse(request.url).path.rsplit("/", 1)[-1] or "unknown").inc()
        return False


class BacklogCollector:
    """Outbox depth, age of its oldest row, reminders due and late: read from the database at scrape time."""

    def __init__(self, engine: Engine, *, late_after: timedelta):
        self._engine = engine
        self._late_after = late_after

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = backlog(self._engine, utcnow(), late_after=self._late_after)
        for name, help_text, field in _GAUGES:
            gauge = GaugeMetricFamily(name, help_text, labels=["team"])
            for team, backlog_of_team in figures.items():
                gauge.add_metric([team], getattr(backlog_of_team, field))
            yield gauge


# (metric, help, `storage.operations.Backlog` field), each labelled by the agency's Slack team.
_GAUGES = (
    ("m3bot_outbox_pending", "Slack messages waiting for delivery, by workspace.", "outbox_pending"),
    ("m3bot_outbox_oldest_age_seconds", "Age of the oldest message waiting, by workspace.", "outbox_oldest_age_seconds"),
    ("m3bot_reminders_due", "Reminders due and not yet fired, by workspace.", "reminders_due"),
    ("m3bot_reminders_late", "Reminders due for longer than two scheduler ticks, by workspace.", "reminders_late"),
)


class MetricsServer:
    """`/metrics` on `host:port` for the life of the process (or of a test)."""

    def __init__(self, engine: Engine, host: str, port: int, *, tick_seconds: int):
        self._collector = BacklogCollector(engine, late_after=timedelta(seconds=2 * tick_seconds))
        REGISTRY.register(self._collector)
        self._server, self._thread = start_http_server(port, addr=host, registry=REGISTRY)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        REGISTRY.unregister(self._collector)
