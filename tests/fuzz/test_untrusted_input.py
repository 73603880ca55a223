"""Each kind of untrusted input gets a clear refusal, a log line naming no person, and changes nothing:
a button naming another agent's case, a payload of the wrong shape, a huge text, a stale modal.
(Bad signatures and requests replayed after five minutes get HTTP 401: tests/bot/test_requests.py.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import time_machine

from bot.payloads import encode
from bot.views import ids
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, COLLEAGUE, Harness
from tests.fuzz.test_interactions_fuzz import open_case
from tests.support.snapshots import case_snapshot
from wording import t

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
# What tests.conftest.client_file puts in every client file: none of it may reach a log line.
PERSONAL = ["Martin", "Claire", "claire.martin@example.fr", "+33612345678", "0612345678", "Lilas", "69003"]


@pytest.fixture(autouse=True)
def legal_calling_time() -> Iterator[None]:
    with time_machine.travel(CALL_TIME, tick=True):
        yield


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_logged_without_personal_data(logs: pytest.LogCaptureFixture, fragment: str) -> None:
    text = "\n".join(record.getMessage() for record in logs.records)
    assert fragment in text
    assert [word for word in PERSONAL if word in text] == []


def test_a_button_forged_to_name_another_agents_case_is_refused_and_changes_it_not(
        harness: Harness, factory, logs: pytest.LogCaptureFixture) -> None:
    own = open_case(harness, factory, "C001", AGENT[1])
    other = open_case(harness, factory, "C002", COLLEAGUE[1])
    call = CallDriver(harness, own, harness.agent_id)
    harness.drain()
    before = case_snapshot(harness.engine, other)

    call.click("step:preparation", ids.START_CALL, value=encode(other))

    (refusal,) = call.ephemerals()
    assert "pas le vôtre" in refusal
    assert case_snapshot(harness.engine, other) == before
    assert_logged_without_personal_data(logs, f"refused on case {other}")


@pytest.mark.parametrize("shape", [
    {"actions": "m3.start_call"},
    {"actions": [{"action_id": ["m3.start_call"], "value": "{\"c\": 1}"}]},
    {"user": {"id": {"$ne": None}}},
    {"actions": []},
])
def test_a_payload_of_the_wrong_shape_is_acknowledged_and_changes_nothing(
        harness: Harness, factory, logs: pytest.LogCaptureFixture, shape: dict) -> None:
    own = open_case(harness, factory, "C001", AGENT[1])
    call = CallDriver(harness, own, harness.agent_id)
    payload = harness.slack.block_actions(harness.agent_id, call.message("step:preparation"), ids.START_CALL)
    before = case_snapshot(harness.engine, own)

    reply = harness.slack.send_interaction(payload | shape)

    assert (reply.status, reply.body) == (200, "")
    harness.drain()
    assert case_snapshot(harness.engine, own) == before
    assert_logged_without_personal_data(logs, "block_actions refused before any listener: ")


def test_a_huge_text_in_a_modal_is_shown_as_an_error_under_its_field_and_saved_nowhere(
        harness: Harness, factory, logs: pytest.LogCaptureFixture) -> None:
    own = open_case(harness, factory, "C001", AGENT[1])
    call = CallDriver(harness, own, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.CLOSE_EARLY)
    before = case_snapshot(harness.engine, own)
    view = call.modal()
    reason_block = next(b["block_id"] for b in view.content["blocks"] if b["type"] == "input"
                        and b["element"]["type"] == "plain_text_input")

    reply = harness.submit(harness.agent_id, view.id, {reason_block: {reason_block: "Martin " * 20_000}})

    answer = reply.json()
    assert answer["response_action"] == "errors" and reason_block in answer["errors"]
    assert case_snapshot(harness.engine, own) == before
    assert [word for word in PERSONAL if word in logs.text] == []


def test_a_stale_modal_submitted_after_the_case_moved_on_gets_a_modal_error_and_changes_nothing(
        harness: Harness, factory, logs: pytest.LogCaptureFixture) -> None:
    own = open_case(harness, factory, "C001", AGENT[1])
    call = CallDriver(harness, own, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    contact = call.message("step:contact")
    call.click("step:contact", ids.ATTEMPT, "callback")
    stale = call.modal()
    # Meanwhile, from the message still on screen, the client turns out to be available.
    call.send(harness.slack.block_actions(harness.agent_id, contact, f"{ids.ATTEMPT}:available"))
    before = case_snapshot(harness.engine, own)

    reply = harness.submit(harness.agent_id, stale.id, {
        ids.INPUT_CALLBACK_AT: {ids.INPUT_CALLBACK_AT: int(datetime(2026, 12, 2, 14, 30, tzinfo=UTC).timestamp())}})

    assert reply.json()["response_action"] == "errors"
    assert case_snapshot(harness.engine, own) == before
    assert_logged_without_personal_data(logs, f"refused on case {own}")


def test_a_button_naming_no_case_at_all_is_refused_in_french(harness: Harness, factory,
                                                             logs: pytest.LogCaptureFixture) -> None:
    own = open_case(harness, factory, "C001", AGENT[1])
    call = CallDriver(harness, own, harness.agent_id)

    reply = harness.click(harness.agent_id, call.message("step:preparation"), ids.START_CALL, '{"c": 99999999999}')

    assert (reply.status, reply.body) == (200, "")
    (refusal,) = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id))
    assert refusal.text == t("bot.refusal.unknown_action")
    assert_logged_without_personal_data(logs, "refused before any listener")
