"""A modal that Slack does not open (HTTP 500, timeout, an expired trigger) is not a silent dead end: the
agent is told, in an ephemeral message where he clicked, to click again; his next click opens it."""

from __future__ import annotations

from bot.views import ids
from tests.bot.harness import Harness, wait_until
from tests.support.opening import open_and_post
from wording import t

CLICK_AGAIN = t("listeners.modal_failed")


def preparation_step(harness: Harness, factory):
    case_id = factory.case()
    open_and_post(harness.engine, harness.settings, case_id, mark=False)
    harness.drain()
    (card,) = harness.slack.channel_messages(harness.channel)
    (step,) = harness.slack.thread(harness.channel, card.ts)
    return card, step


def told_to_click_again(harness: Harness, user: str):
    harness.drain()
    return wait_until(lambda: [e for e in harness.slack.ephemerals_for(user) if e.text == CLICK_AGAIN])


def test_a_modal_slack_fails_to_open_tells_the_agent_to_click_again_in_the_thread(harness: Harness, factory):
    card, step = preparation_step(harness, factory)
    harness.slack.fail("views.open", times=2)  # the listeners' client retries a 500 once

    assert harness.click(harness.agent_id, step, ids.CLOSE_EARLY).status == 200

    (told,) = told_to_click_again(harness, harness.agent_id)
    assert told.thread_ts == card.ts and told.channel == harness.channel
    assert harness.slack.open_modal(harness.agent_id) is None

    harness.click(harness.agent_id, step, ids.CLOSE_EARLY)  # he clicks again: a new trigger
    assert wait_until(lambda: harness.slack.open_modal(harness.agent_id)).content["callback_id"] == ids.MODAL_CLOSE_EARLY


def test_an_expired_trigger_tells_the_agent_to_click_again(harness: Harness, factory):
    _card, step = preparation_step(harness, factory)
    payload = harness.slack.block_actions(harness.agent_id, step, ids.CLOSE_EARLY)
    with harness.slack._lock:  # the click reached the bot more than 3 seconds after it was made
        user, issued = harness.slack._triggers[payload["trigger_id"]]
        harness.slack._triggers[payload["trigger_id"]] = (user, issued - 10)

    harness.slack.send_interaction(payload)

    told_to_click_again(harness, harness.agent_id)
    (call,) = harness.slack.calls_to("views.open")
    assert call.response["error"] == "expired_trigger_id"


def test_a_modal_that_times_out_tells_the_agent_to_click_again(harness: Harness, factory, monkeypatch):
    _card, step = preparation_step(harness, factory)
    monkeypatch.setattr(harness.app.client, "timeout", 1)
    harness.slack.slow("views.open", 1.5, times=2)  # past the client's timeout, and its retry's

    harness.click(harness.agent_id, step, ids.CLOSE_EARLY)

    told_to_click_again(harness, harness.agent_id)


def test_the_open_command_whose_modal_fails_tells_the_user_to_run_it_again(harness: Harness, factory):
    factory.case(opened=False)
    harness.slack.fail("views.open", times=2)

    harness.slash(harness.agent_id, "ouvrir")

    (told,) = told_to_click_again(harness, harness.agent_id)
    assert told.channel == harness.channel
