"""Slack never shows a message twice: a post whose answer was lost after Slack posted it (a timeout) is found
by its outbox row in the message metadata and not posted again; the look-up waits its turn when Slack
rate-limits history reads, and a row is never posted again without it."""

from __future__ import annotations

import pytest

from bot.post_once import EVENT_TYPE
from sandbox.slack_api import SlackStandIn
from storage import slack_messages
from tests.bot.harness import CHANNEL, Harness

LOST_ANSWER = 3.0  # seconds: past the test deliverer's 2 s timeout


def post(text: str, channel: str = CHANNEL) -> tuple[str, dict, None]:
    return "chat.postMessage", {"channel": channel, "text": text}, None


def bot_messages(slack: SlackStandIn, channel: str = CHANNEL) -> list:
    return [m for m in slack.messages[channel] if m.user == slack.bot_user_id]


def test_every_post_carries_its_outbox_row_in_the_message_metadata(harness: Harness, factory) -> None:
    case_id = factory.case()
    harness.enqueue(post("bonjour"))
    harness.post_card(case_id)

    plain, card = harness.outbox_rows()
    shown = {m.text: m.metadata for m in bot_messages(harness.slack)}
    assert shown["bonjour"] == {"event_type": EVENT_TYPE, "event_payload": {"outbox_id": plain.id}}
    assert shown["Dossier M+3"] == {"event_type": EVENT_TYPE,
                                    "event_payload": {"outbox_id": card.id, "case_id": case_id, "role": "card"}}


def test_a_post_whose_answer_timed_out_is_found_in_the_channel_and_not_posted_again(harness: Harness) -> None:
    harness.slack.slow("chat.postMessage", LOST_ANSWER, after_answer=True)
    harness.enqueue(post("une seule fois"))
    harness.drain(timeout=10)

    assert [m.text for m in bot_messages(harness.slack)] == ["une seule fois"]
    (row,) = harness.outbox_rows()
    (message,) = bot_messages(harness.slack)
    assert (row.status, row.attempts, row.result["ts"]) == ("delivered", 2, message.ts)
    (look_up,) = harness.slack.calls_to("conversations.history")
    assert look_up.args["include_all_metadata"] in (True, "true", "1")
    assert len(harness.slack.calls_to("chat.postMessage")) == 1


def test_a_card_whose_answer_timed_out_is_recorded_where_slack_shows_it(harness: Harness, factory) -> None:
    case_id = factory.case()
    harness.slack.slow("chat.postMessage", LOST_ANSWER, after_answer=True)
    harness.enqueue(harness.upsert(case_id, slack_messages.CARD, "Carte"))
    harness.drain(timeout=10)

    (card,) = bot_messages(harness.slack)
    assert slack_messages.find(harness.engine, case_id, slack_messages.CARD).ts == card.ts


def test_a_thread_reply_whose_answer_timed_out_is_found_in_the_thread(harness: Harness, factory) -> None:
    case_id = factory.case()
    card = harness.post_card(case_id)
    harness.slack.slow("chat.postMessage", LOST_ANSWER, after_answer=True)
    harness.enqueue(harness.upsert(case_id, "step:contact", "Étape"))
    harness.drain(timeout=10)

    assert [m.text for m in harness.slack.thread(CHANNEL, card.ts)] == ["Étape"]
    (look_up,) = harness.slack.calls_to("conversations.replies")
    assert look_up.args["ts"] == card.ts


def test_a_direct_message_whose_answer_timed_out_is_found_in_the_conversation(harness: Harness) -> None:
    harness.slack.slow("chat.postMessage", LOST_ANSWER, after_answer=True)
    harness.enqueue(post("rappel", channel=harness.agent_id))
    harness.drain(timeout=10)

    assert [m.text for m in harness.slack.direct_messages(harness.agent_id)] == ["rappel"]


def test_a_rate_limited_look_up_waits_its_turn_and_the_row_is_still_not_posted_unchecked(harness: Harness) -> None:
    harness.slack.slow("chat.postMessage", LOST_ANSWER, after_answer=True)
    harness.slack.ratelimit("conversations.history", times=2, retry_after=1)
    harness.enqueue(post("patience"))
    harness.drain(timeout=15)

    assert [m.text for m in bot_messages(harness.slack)] == ["patience"]
    assert [c.status for c in harness.slack.calls_to("conversations.history")] == [429, 429, 200]
    history = harness.slack.calls_to("conversations.history")
    assert history[1].at - history[0].at >= 1.0  # Retry-After honoured
    assert len(harness.slack.calls_to("chat.postMessage")) == 1


def test_a_lost_answer_after_slack_refused_the_post_posts_it_after_looking(harness: Harness) -> None:
    harness.slack.fail("chat.postMessage", times=1, status=500)  # not posted, but Slack does not say so
    harness.enqueue(post("réessayé"))
    harness.drain()

    assert [m.text for m in bot_messages(harness.slack)] == ["réessayé"]
    assert len(harness.slack.calls_to("conversations.history")) == 1


def test_a_rate_limited_post_is_posted_again_without_looking(harness: Harness) -> None:
    harness.slack.ratelimit("chat.postMessage", retry_after=1)  # Slack says it did not post
    harness.enqueue(post("limité"))
    harness.drain()

    assert [m.text for m in bot_messages(harness.slack)] == ["limité"]
    assert harness.slack.calls_to("conversations.history") == []


@pytest.fixture
def no_history_scope(harness: Harness) -> None:
    harness.slack.scopes = frozenset({"chat:write", "channels:read"})


def test_without_the_history_scope_a_row_of_unknown_outcome_fails_rather_than_posting_twice(
        harness: Harness, no_history_scope: None) -> None:
    harness.slack.slow("chat.postMessage", LOST_ANSWER, after_answer=True)
    harness.enqueue(post("jamais deux fois"))
    harness.drain(timeout=10)

    (row,) = harness.outbox_rows()
    assert (row.status, row.last_error) == ("failed", "unconfirmed:missing_scope")
    assert [m.text for m in bot_messages(harness.slack)] == ["jamais deux fois"]
