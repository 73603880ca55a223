"""What the agency's IT sees of a running bot: liveness and readiness probes, Prometheus metrics, JSON logs."""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from bot import logs
from bot.metrics import MetricsServer
from bot.runner import serve_http, stop_http
from storage.db import make_engine
from storage.tables import Outbox, Reminder, utcnow


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def base_url(harness) -> str:
    return harness.slack.bot_url.removesuffix("/slack/events")


def test_liveness_and_readiness_answer_on_the_slack_port(harness):
    assert get(base_url(harness) + "/healthz") == (200, "ok")
    assert get(base_url(harness) + "/readyz") == (200, "ok")


def test_a_database_without_the_newest_migration_is_not_ready(harness, tmp_path):
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    server, thread = serve_http(harness.app, "127.0.0.1", 0, engine=unmigrated)
    try:
        status, reason = get(f"http://127.0.0.1:{server.effective_port}/readyz")
        assert (status, reason) == (503, "schema not migrated")
        assert get(f"http://127.0.0.1:{server.effective_port}/healthz")[0] == 200
    finally:
        stop_http(server, thread)
        unmigrated.dispose()


def test_an_unreachable_database_is_not_ready_and_the_reason_names_no_credentials(harness):
    gone = make_engine("postgresql://secretuser:secretpw@127.0.0.1:1/nowhere")
    server, thread = serve_http(harness.app, "127.0.0.1", 0, engine=gone)
    try:
        status, reason = get(f"http://127.0.0.1:{server.effective_port}/readyz")
        assert status == 503 and reason.startswith("database unreachable")
        assert "secret" not in reason
    finally:
        stop_http(server, thread)
        gone.dispose()


@pytest.fixture
def metrics(harness):
    server = MetricsServer(harness.engine, "127.0.0.1", 0, tick_seconds=30)
    yield f"http://127.0.0.1:{server.port}/metrics"
    server.stop()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    status, text = get(url)
    assert status == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_count_requests_by_kind_and_time_their_acknowledgement(harness, metrics):
    before = scrape(metrics)
    assert harness.slash(harness.lead_id, "aide").status == 200
    after = scrape(metrics)
    key = ("m3bot_requests_total", (("kind", "command"), ("team", harness.slack.team_id)))
    assert after[key] == before.get(key, 0) + 1
    count = ("m3bot_ack_seconds_count", (("kind", "command"),))
    assert after[count] == before.get(count, 0) + 1


def test_metrics_count_slack_429_answers_by_method(harness, metrics):
    before = scrape(metrics).get(("m3bot_slack_ratelimited_total", (("method", "chat.postMessage"),)), 0)
    harness.slack.ratelimit("chat.postMessage", times=1, retry_after=1)
    harness.enqueue(("chat.postMessage", {"channel": harness.channel, "text": "x"}, None))
    harness.drain(timeout=10)
    after = scrape(metrics)[("m3bot_slack_ratelimited_total", (("method", "chat.postMessage"),))]
    assert after == before + 1


def test_metrics_report_the_outbox_and_reminder_backlog_from_the_database(harness, metrics):
    with Session(harness.engine) as session, session.begin():
        # Held back by a Retry-After an hour long: pending for the whole test.
        session.add(Outbox(method="chat.postMessage", payload={"channel": harness.channel, "text": "x"},
                           next_attempt_at=utcnow() + timedelta(hours=1)))
        session.add(Reminder(kind="digest", dedupe_key="late", due_at=utcnow() - timedelta(hours=1)))
        session.add(Reminder(kind="digest", dedupe_key="due", due_at=utcnow() - timedelta(seconds=5)))
        session.add(Reminder(kind="digest", dedupe_key="later", due_at=utcnow() + timedelta(hours=1)))
    figures = scrape(metrics)
    agency = (("team", "unnamed"),)  # the bot has not met Slack's team yet in this test
    assert figures[("m3bot_outbox_pending", agency)] == 1
    assert figures[("m3bot_reminders_due", agency)] == 2
    assert figures[("m3bot_reminders_late", agency)] == 1


def test_json_logs_are_one_object_per_line():
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(logs.formatter("json"))
    logger = logging.getLogger("m3bot.test")
    logger.addHandler(handler)
    try:
        logger.warning("delivery held %s", "chat.update")
    finally:
        logger.removeHandler(handler)
    record = json.loads(written.getvalue().strip().splitlines()[-1])
    assert record["message"] == "delivery held chat.update"
    assert record["level"] == "WARNING" and record["logger"] == "m3bot.test" and "time" in record
