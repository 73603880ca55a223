"""Delivery paced ahead of Slack's limits, the clicked message through its response_url, agents first.

The deliverers here pace to limits the stand-in enforces (its per-channel rate, its 429 faults), with the
real pipeline: outbox rows in the database, the bot's deliverer, the stand-in over HTTP.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.views import ids
from config.pacing import PaceSettings
from flows.case import State
from storage import outbox, slack_messages
from storage.db import make_engine
from storage.tables import Outbox, utcnow
from tests.bot.budget import CALL_TIME
from tests.bot.conftest import bot_settings, fast_deliverer
from tests.bot.driver import CallDriver
from tests.bot.harness import CHANNEL, Harness, drain, wait_until
from tests.bot.slack_counts import SlackCounts
from tests.bot.test_call_scenarios import open_case


def pace(**limits) -> PaceSettings:
    return PaceSettings(_env_file=None, **limits)


def queue(engine: Engine, *rows: tuple[str, dict, int | None, int]) -> None:
    with Session(engine) as session, session.begin():
        for method, payload, case_id, priority in rows:
            outbox.enqueue(session, method, payload, case_id=case_id, priority=priority)


def post(text: str, channel: str = CHANNEL, priority: int = outbox.NORMAL) -> tuple[str, dict, None, int]:
    return "chat.postMessage", {"channel": channel, "text": text}, None, priority


def delivered_posts(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.status == 200 and c.response.get("ok")]


def deliver_all(engine: Engine, slack, limits: PaceSettings, *rows: tuple[str, dict, int | None, int],
                timeout: float = 15) -> None:
    """Queue `rows`, then run a deliverer pacing to `limits` until none is pending."""
    deliverer = fast_deliverer(engine, bot_settings(slack, engine), pace=limits)
    queue(engine, *rows)
    deliverer.start()
    try:
        drain(engine, timeout=timeout)
    finally:
        deliverer.stop()


# ---- the clicked message: its response_url, or chat.update ------------------------------------------------

BUTTON = "m3.test"


def edit(harness: Harness, case_id: int, text: str, respond: dict) -> None:
    method, payload, _ = harness.upsert(case_id, "step:profile", text)
    harness.enqueue((method, {**payload, "respond": respond}, case_id))
    harness.drain()


def click_origin(harness: Harness, message, *, minutes_ago: float = 0) -> dict:
    """The response_url Slack gives a click on `message`, as the middleware keeps it."""
    payload = harness.slack.block_actions(harness.agent_id, message, BUTTON)
    at = utcnow() - timedelta(minutes=minutes_ago)
    return {"url": payload["response_url"], "ts": message.ts, "at": at.isoformat()}


@pytest.fixture
def step_with_button(harness: Harness, factory):
    case_id = factory.case()
    button = {"type": "actions", "elements": [{"type": "button", "action_id": BUTTON, "value": "x",
                                               "text": {"type": "plain_text", "text": "OK"}}]}
    harness.enqueue(harness.upsert(case_id, slack_messages.CARD, "carte"),
                    harness.upsert(case_id, "step:profile", "fiche client", [button]))
    harness.drain()
    posted = slack_messages.find(harness.engine, case_id, "step:profile")
    return case_id, harness.slack.message(posted.channel, posted.ts)


def test_the_clicked_message_is_replaced_through_the_clicks_response_url(harness: Harness, step_with_button) -> None:
    counts = SlackCounts(harness.slack)
    case_id, step = step_with_button
    edit(harness, case_id, "fiche client, nom confirmé", click_origin(harness, step))

    assert [post.ok for post in counts.replaced()] == [True]
    assert harness.slack.message(step.channel, step.ts).text == "fiche client, nom confirmé"
    assert harness.slack.calls_to("chat.update") == []
    row = harness.outbox_rows()[-1]
    assert row.result["action"] == "respond" and "respond" not in row.payload and "text" not in row.payload


def test_an_expired_response_url_falls_back_to_chat_update(harness: Harness, step_with_button) -> None:
    counts = SlackCounts(harness.slack)
    case_id, step = step_with_button
    edit(harness, case_id, "trop tard", click_origin(harness, step, minutes_ago=31))

    assert counts.responses == []
    (update,) = harness.slack.calls_to("chat.update")
    assert update.args["ts"] == step.ts and harness.slack.message(step.channel, step.ts).text == "trop tard"


def test_a_response_url_used_five_times_falls_back_to_chat_update(harness: Harness, step_with_button) -> None:
    counts = SlackCounts(harness.slack)
    case_id, step = step_with_button
    origin = click_origin(harness, step)
    for n in range(7):
        edit(harness, case_id, f"version {n}", origin)

    assert len(counts.replaced()) == 5
    assert len(harness.slack.calls_to("chat.update")) == 2
    assert harness.slack.message(step.channel, step.ts).text == "version 6"


def test_a_failing_response_url_falls_back_to_chat_update(harness: Harness, step_with_button) -> None:
    counts = SlackCounts(harness.slack)
    case_id, step = step_with_button
    forgotten = {**click_origin(harness, step), "url": f"{harness.slack.base_url}/response/unknown"}
    edit(harness, case_id, "par chat.update", forgotten)

    assert [post.ok for post in counts.responses] == [False]
    assert harness.slack.message(step.channel, step.ts).text == "par chat.update"
    assert harness.outbox_rows()[-1].result["action"] == "update"


def test_a_response_url_of_another_message_is_not_used(harness: Harness, step_with_button) -> None:
    counts = SlackCounts(harness.slack)
    case_id, step = step_with_button
    method, payload, _ = harness.upsert(case_id, slack_messages.CARD, "carte à jour")
    harness.enqueue((method, {**payload, "respond": click_origin(harness, step)}, case_id))
    harness.drain()

    assert counts.responses == []  # the click was on the step: the card is edited with chat.update
    assert [c.args["text"] for c in harness.slack.calls_to("chat.update")] == ["carte à jour"]


# ---- over a real call ------------------------------------------------------------------------------------


@pytest.fixture
def call_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def test_an_answer_that_changes_nothing_on_the_card_queues_no_card_edit(harness: Harness, factory, call_time) -> None:
    call = CallDriver(harness, open_case(harness, factory), harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    before = len(harness.outbox_rows())

    call.click("step:profile", ids.PROFILE_ANSWER, 0, "confirmed")

    assert [row.role for row in harness.outbox_rows()[before:]] == ["step:profile"]


def test_the_clicked_and_next_steps_do_not_wait_behind_the_cards_429(harness: Harness, factory, call_time) -> None:
    counts = SlackCounts(harness.slack)
    call = CallDriver(harness, open_case(harness, factory), harness.agent_id)
    preparation = call.message("step:preparation")
    harness.slack.ratelimit("chat.update", retry_after=2)
    clicked = time.monotonic()

    harness.click(harness.agent_id, preparation, ids.START_CALL)
    contact = wait_until(lambda: slack_messages.find(harness.engine, call.case_id, "step:contact"), timeout=2)
    harness.drain()

    assert call.case().state is State.contact_attempt
    first_update, card_update = harness.slack.calls_to("chat.update")
    assert first_update.status == 429 and card_update.status == 200
    replaced = counts.replaced()[0]
    next_step = next(c for c in delivered_posts(harness.slack) if c.response["ts"] == contact.ts)
    assert replaced.at - clicked < 1.0 and next_step.at - clicked < 1.0
    assert replaced.at < card_update.at and next_step.at < card_update.at
    assert card_update.at - first_update.at >= 2.0


# ---- pacing -----------------------------------------------------------------------------------------------


def test_two_deliverers_on_postgresql_share_one_budget_and_meet_no_429(pg_engine: Engine, slack) -> None:
    """The stand-in allows 4 posts a second in a channel, with bursts of 2 (as Slack tolerates short bursts:
    without one, a post that leaves one deliverer late and the next that leaves the other on time would
    arrive closer than 250 ms on a busy machine); each deliverer alone would pace to 3.2 a second, together
    they would send 6.4 a second if each kept its own budget, and the stand-in takes 2 + 4 a second."""
    slack.rate("chat.postMessage", 4, per_channel=True, burst=2)
    settings = bot_settings(slack, pg_engine)
    second_engine = make_engine(settings.database_url)
    limits = pace(post_per_channel=4, post_channel_burst=1, margin=0.8)
    deliverers = [fast_deliverer(pg_engine, settings, pace=limits), fast_deliverer(second_engine, settings, pace=limits)]
    queue(pg_engine, *(post(f"message {n}") for n in range(16)))
    for deliverer in deliverers:
        deliverer.start()
    try:
        drain(pg_engine, timeout=30)
    finally:
        for deliverer in deliverers:
            deliverer.stop()
        second_engine.dispose()

    calls = slack.calls_to("chat.postMessage")
    assert [c.status for c in calls if c.status != 200] == []
    assert Counter(c.args["text"] for c in calls) == Counter(f"message {n}" for n in range(16))
    with Session(pg_engine) as session:
        handled_by = set(session.exec(select(Outbox.attempts)))
    assert handled_by == {1}  # paced, never retried


def test_a_429_on_one_channel_holds_that_channel_and_not_another(harness: Harness) -> None:
    harness.slack.add_channel("C0AUTRE", "autre")
    harness.slack.ratelimit("chat.postMessage", retry_after=2)
    queue(harness.engine, post("bloqué"))
    refused = wait_until(lambda: harness.slack.calls_to("chat.postMessage"))[0]
    queue(harness.engine, post("suit le bloqué"), post("ailleurs", channel="C0AUTRE"))
    harness.drain()

    sent = {c.args["text"]: c for c in delivered_posts(harness.slack)}
    assert sent["ailleurs"].at - refused.at < 1.0
    assert sent["bloqué"].at - refused.at >= 2.0 and sent["suit le bloqué"].at - refused.at >= 2.0
    assert len(harness.slack.calls_to("chat.postMessage")) == 4  # one 429, three posts


def test_messages_an_agent_waits_for_go_before_bulk_work(engine: Engine, slack) -> None:
    settings = bot_settings(slack, engine)
    deliverer = fast_deliverer(engine, settings, pace=pace(post_per_channel=2, post_channel_burst=2, margin=1))
    queue(engine, *(post(f"ouverture {n}", priority=outbox.BULK) for n in range(6)))
    deliverer.start()
    try:
        wait_until(lambda: delivered_posts(slack))
        queue(engine, post("étape suivante", priority=outbox.URGENT))
        drain(engine, timeout=15)
    finally:
        deliverer.stop()

    order = [c.args["text"] for c in delivered_posts(slack)]
    # Right after the posts under way: the one going out, and at most one bulk post that booked its token
    # ahead (one interval ahead at most); the other openings wait.
    assert order.index("étape suivante") <= 2
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [200] * 7


def test_posts_waiting_for_a_channels_token_go_out_in_their_order(engine: Engine, slack) -> None:
    """Eight posts of eight cases, four workers, one token at a time: each token goes to the oldest waiting
    post, not to whichever worker asks first when the channel's token comes back."""
    deliver_all(engine, slack, pace(post_per_channel=5, post_channel_burst=1, margin=1),
                *(post(f"étape {n}") for n in range(8)))

    assert [c.args["text"] for c in delivered_posts(slack)] == [f"étape {n}" for n in range(8)]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [200] * 8


def test_posts_a_channels_burst_allows_go_out_at_once_though_workers_line_up(engine: Engine, slack) -> None:
    """Five bulk posts of five cases, four workers, a channel that holds a burst of six (one kept for the
    agents) but refills one token every two seconds: all five go out together (a morning's cards appear at
    once), none waits a token interval for the posts lined up ahead of it."""
    deliver_all(engine, slack, pace(post_per_channel=0.5, post_channel_burst=6, margin=1),
                *(post(f"carte {n}", priority=outbox.BULK) for n in range(5)))

    sent = delivered_posts(slack)
    assert sorted(c.args["text"] for c in sent) == [f"carte {n}" for n in range(5)]
    assert sent[-1].at - sent[0].at < 1.0
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [200] * 5


def test_a_channel_short_of_tokens_does_not_hold_up_the_posts_of_other_channels(engine: Engine, slack) -> None:
    """Eight bulk posts in the M+3 channel (two a second) queued before four to other channels: the other
    channels' posts go out at once, not after the channel's, though the deliverer has four workers."""
    others = [f"C0AUTRE{n}" for n in range(4)]
    for channel in others:
        slack.add_channel(channel, channel.lower())
    deliver_all(engine, slack, pace(post_per_channel=2, post_channel_burst=1, margin=1),
                *(post(f"ouverture {n}", priority=outbox.BULK) for n in range(8)),
                *(post(f"rappel {n}", channel=channel, priority=outbox.BULK) for n, channel in enumerate(others)))

    sent = delivered_posts(slack)
    in_channel = [c.at for c in sent if c.args["channel"] == CHANNEL]
    elsewhere = [c.at for c in sent if c.args["channel"] in others]
    assert len(in_channel) == 8 and len(elsewhere) == 4
    assert in_channel[-1] - in_channel[0] >= 3.0  # the channel's pace: one post every half second
    assert max(elsewhere) - in_channel[0] < 1.0
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [200] * 12


def test_cases_waiting_in_the_deliverer_past_half_their_lease_go_back_and_are_sent_once(
        engine: Engine, slack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six posts in one channel taking one a second, two at a time with the workers, a lease of two seconds:
    the cases waiting their turn in the deliverer go back to the outbox before their lease ends (another
    claim would take them while they wait) and each message is still posted once."""
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=2))
    deliver_all(engine, slack, pace(post_per_channel=1, post_channel_burst=1, margin=1),
                *(post(f"ouverture {n}", priority=outbox.BULK) for n in range(6)), timeout=20)

    assert Counter(c.args["text"] for c in delivered_posts(slack)) == Counter(f"ouverture {n}" for n in range(6))
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [200] * 6


# ---- which response_url the bot keeps --------------------------------------------------------------------


def test_only_slacks_own_response_urls_are_kept_for_delivery() -> None:
    from bot.middleware import _respond_to

    api = "http://127.0.0.1:4000/api/"
    at = utcnow().isoformat()
    click = {"container": {"type": "message", "message_ts": "1.2"}, "response_url": "https://hooks.slack.com/a/b"}
    assert _respond_to("block_actions", click, None, api)["url"] == "https://hooks.slack.com/a/b"
    assert _respond_to("block_actions", {**click, "response_url": "https://evil.example/x"}, None, api) is None
    ephemeral = {**click, "container": {"type": "message", "message_ts": "1.2", "is_ephemeral": True}}
    assert _respond_to("block_actions", ephemeral, None, api) is None
    # A modal's: carried in its metadata by the click that opened it.
    assert _respond_to("view_submission", {}, ["http://127.0.0.1:4000/response/r1", "1.2", at], api)["ts"] == "1.2"
    for forged in (["http://127.0.0.1:4001/response/r1", "1.2", at], ["https://hooks.slack.com/a", "1.2", "hier"],
                   "https://hooks.slack.com/a", ["https://hooks.slack.com/a", "", at]):
        assert _respond_to("view_submission", {}, forged, api) is None
