"""The outbox reaches Slack once per row, in order per case, through rate limits and outages."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy.engine import Engine

from bot.app import web_client
from storage import slack_messages
from storage.db import make_engine
from tests.bot.conftest import bot_settings, fast_deliverer
from tests.bot.harness import CHANNEL, Harness, drain, enqueue, wait_until
from tests.conftest import client_file, contract


def post(text: str, channel: str = CHANNEL) -> tuple[str, dict, None]:
    return "chat.postMessage", {"channel": channel, "text": text}, None


def successes(harness: Harness, method: str) -> list:
    return [call for call in harness.slack.calls_to(method) if call.status == 200 and call.response.get("ok")]


def test_a_commit_wakes_the_deliverer_without_waiting_for_the_poll(harness: Harness) -> None:
    harness.deliverer.poll_seconds = 30
    harness.deliverer.wake()  # let the current wait end so the long poll applies
    harness.enqueue(post("tout de suite"))
    wait_until(lambda: harness.slack.channel_messages(CHANNEL), timeout=1.0)


def test_a_rate_limited_call_waits_retry_after_then_is_delivered_once(harness: Harness) -> None:
    harness.slack.ratelimit("chat.postMessage", retry_after=1)
    harness.enqueue(post("bonjour"))
    harness.drain()

    first, second = harness.slack.calls_to("chat.postMessage")
    assert first.status == 429
    assert second.at - first.at >= 1.0
    assert [m.text for m in harness.slack.channel_messages(CHANNEL)] == ["bonjour"]
    assert harness.outbox_rows()[0].status == "delivered"


def test_server_errors_are_retried_until_delivered(harness: Harness) -> None:
    harness.slack.fail("chat.postMessage", times=2, status=503)
    harness.enqueue(post("après la panne"))
    harness.drain()

    assert [call.status for call in harness.slack.calls_to("chat.postMessage")] == [503, 503, 200]
    assert [m.text for m in harness.slack.channel_messages(CHANNEL)] == ["après la panne"]
    assert harness.outbox_rows()[0].attempts == 3


def test_a_timeout_is_retried(harness: Harness) -> None:
    harness.slack.slow("chat.postMessage", 3.0)  # longer than the deliverer's 2 s timeout
    harness.enqueue(post("lent"))
    harness.drain(timeout=10)

    assert harness.outbox_rows()[0].status == "delivered"
    assert harness.outbox_rows()[0].attempts == 2


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"channel": "C0UNKNOWN", "text": "perdu"}, "channel_not_found"),
        ({"channel": CHANNEL, "text": "trop", "blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
    ],
)
def test_a_permanent_slack_error_marks_the_row_failed_without_retrying(harness: Harness, payload: dict, error: str) -> None:
    harness.enqueue(("chat.postMessage", payload, None))
    harness.drain()

    (row,) = harness.outbox_rows()
    assert (row.status, row.last_error, row.attempts) == ("failed", error, 1)
    assert len(harness.slack.calls_to("chat.postMessage")) == 1


def test_a_revoked_token_marks_the_row_failed(harness: Harness) -> None:
    harness.slack.token = "xoxb-rotated"
    harness.enqueue(post("refusé"))
    harness.drain()

    assert harness.outbox_rows()[0].last_error == "invalid_auth"


def test_messages_of_one_case_keep_their_order_while_other_cases_go_on(harness: Harness, factory) -> None:
    held = factory.case()
    other = factory.case(client_file(number="C002", last_name="Durand"), [contract(number="HAB-2")])
    harness.slack.ratelimit("chat.postMessage", retry_after=1)
    harness.enqueue(
        ("chat.postMessage", {"channel": CHANNEL, "text": "1"}, held),
        ("chat.postMessage", {"channel": CHANNEL, "text": "2"}, held),
        ("chat.postMessage", {"channel": CHANNEL, "text": "3"}, held),
    )
    harness.enqueue(("chat.postEphemeral", {"channel": CHANNEL, "user": harness.agent_id, "text": "autre"}, other))
    harness.drain()

    assert [m.text for m in harness.slack.channel_messages(CHANNEL)] == ["1", "2", "3"]
    first_post = successes(harness, "chat.postMessage")[0]
    assert successes(harness, "chat.postEphemeral")[0].at < first_post.at


def test_upserts_of_one_message_coalesce_to_the_latest_then_edit_in_place(harness: Harness, factory) -> None:
    case_id = factory.case()
    harness.enqueue(*(harness.upsert(case_id, slack_messages.CARD, f"version {n}") for n in (1, 2, 3)))
    harness.drain()

    assert [c.args["text"] for c in harness.slack.calls_to("chat.postMessage")] == ["version 3"]
    harness.enqueue(harness.upsert(case_id, slack_messages.CARD, "version 4"))
    harness.drain()

    (card,) = harness.slack.channel_messages(CHANNEL)
    assert (card.text, card.edited) == ("version 4", True)
    assert len(harness.slack.calls_to("chat.postMessage")) == 1


def test_a_step_message_goes_in_the_cards_thread_and_is_then_updated(harness: Harness, factory) -> None:
    case_id = factory.case()
    harness.enqueue(
        harness.upsert(case_id, slack_messages.CARD, "carte"),
        harness.upsert(case_id, "step:admin_profile_update", "fiche client"),
    )
    harness.drain()
    harness.enqueue(harness.upsert(case_id, "step:admin_profile_update", "fiche client, nom confirmé"))
    harness.drain()

    (card,) = harness.slack.channel_messages(CHANNEL)
    (step,) = harness.slack.thread(CHANNEL, card.ts)
    assert step.text == "fiche client, nom confirmé"


def test_a_step_message_waits_for_its_card(harness: Harness, factory) -> None:
    case_id = factory.case()
    harness.slack.fail("chat.postMessage", times=1)
    harness.enqueue(harness.upsert(case_id, "step:admin_profile_update", "fiche client"))
    harness.enqueue(harness.upsert(case_id, slack_messages.CARD, "carte"))
    harness.drain()

    (card,) = harness.slack.channel_messages(CHANNEL)
    assert [m.text for m in harness.slack.thread(CHANNEL, card.ts)] == ["fiche client"]


def test_two_deliverers_on_postgresql_deliver_each_row_exactly_once(pg_engine: Engine, slack) -> None:
    settings = bot_settings(slack, pg_engine)
    second_engine = make_engine(settings.database_url)
    deliverers = [fast_deliverer(pg_engine, settings), fast_deliverer(second_engine, settings)]
    enqueue(pg_engine, *(post(f"message {n}") for n in range(60)))
    for deliverer in deliverers:
        deliverer.start()
    try:
        drain(pg_engine, timeout=20)
    finally:
        for deliverer in deliverers:
            deliverer.stop()
        second_engine.dispose()

    sent = Counter(call.args["text"] for call in slack.calls_to("chat.postMessage"))
    assert sent == Counter(f"message {n}" for n in range(60))


def test_a_card_deleted_in_slack_is_posted_again_on_its_next_change(harness: Harness, factory) -> None:
    case_id = factory.case()
    card = harness.post_card(case_id, text="carte")
    web_client(harness.settings).chat_delete(channel=CHANNEL, ts=card.ts)

    harness.enqueue(harness.upsert(case_id, slack_messages.CARD, "carte à jour"))
    harness.drain()

    (again,) = harness.slack.channel_messages(CHANNEL)
    assert again.text == "carte à jour" and again.ts != card.ts
    assert slack_messages.find(harness.engine, case_id, slack_messages.CARD).ts == again.ts


def test_a_payload_missing_what_its_method_needs_fails_without_stopping_delivery(harness: Harness) -> None:
    harness.enqueue((slack_messages.UPSERT, {"text": "sans dossier"}, None), post("suivant"))
    harness.drain()

    failed, delivered = harness.outbox_rows()
    assert (failed.status, failed.last_error) == ("failed", "malformed_payload:KeyError")
    assert delivered.status == "delivered"
