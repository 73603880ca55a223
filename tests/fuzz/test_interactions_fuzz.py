"""The interaction endpoint fuzzed: correctly signed requests whose payload is a real one (captured from the
stand-in) with random parts replaced, removed or forged. The bot never answers 500, and a case the user may
not act on never changes, whatever the payload names."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from bot.views import ids
from sandbox.slack_api import BotReply
from storage.repository import load_case
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, COLLEAGUE, Harness
from tests.conftest import client_file, contract
from tests.flows.test_engine_properties import assert_guard_rails
from tests.support.opening import open_and_post
from tests.support.snapshots import case_snapshot

CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["x" * 5000, "", "0", "-1", "null", "{}", "[]", "m3.close"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
ARG_KEYS = ["f", "a", "o", "n", "p", "on", "i", "k", "step"]


@pytest.fixture(autouse=True)
def legal_calling_time() -> Iterator[None]:
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def open_case(harness: Harness, factory, number: str, agent: str) -> int:
    case_id = factory.case(client_file(number=number), [contract(number=f"AUTO-{number}", seller=agent)],
                           opened=False, agent=agent)
    open_and_post(harness.engine, harness.settings, case_id)
    return case_id


def captured_payloads(harness: Harness, case_id: int) -> list[dict[str, Any]]:
    """Every interaction payload of a short call (buttons of the card and the steps, a modal submission),
    as the stand-in sends them."""
    sent: list[dict[str, Any]] = []
    send = harness.slack.send_interaction

    def recording(payload: dict[str, Any], **signing: Any) -> BotReply:
        sent.append(copy.deepcopy(payload))
        return send(payload, **signing)

    harness.slack.send_interaction = recording  # type: ignore[method-assign]
    try:
        call = CallDriver(harness, case_id, harness.agent_id)
        call.click("step:preparation", ids.START_CALL)
        call.click("step:contact", ids.ATTEMPT, "callback")
        call.submit({ids.INPUT_CALLBACK_AT: int(datetime(2026, 11, 2, 14, 30, tzinfo=UTC).timestamp())})  # past
        call.h.slack.close_view(call.user, call.modal().id)
    finally:
        harness.slack.send_interaction = send  # type: ignore[method-assign]
    card = call.card()
    for message in (card, call.message("step:contact")):
        for block in message.blocks:
            for element in block.get("elements", []) if block["type"] == "actions" else []:
                if element["type"] == "button" and "url" not in element:
                    sent.append(harness.slack.block_actions(harness.agent_id, message, element["action_id"]))
    return sent


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def mutate(payload: dict[str, Any], data: st.DataObject, case_ids: list[int]) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(paths(payload))[1:]))
        *parents, last = path
        holder = payload
        for key in parents:
            holder = holder[key]
        kind = data.draw(st.sampled_from(["replace", "delete", "forge"]))
        if kind == "delete" and isinstance(holder, dict):
            del holder[last]
        elif kind == "forge":
            case = data.draw(st.sampled_from([*case_ids, 0, -1, 10**12, "1", None]))
            args = data.draw(st.dictionaries(st.sampled_from(ARG_KEYS), json_values, max_size=3))
            forged = json.dumps({"c": case, **args})
            actions = payload.get("actions")
            target = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else None
            if target is not None and payload.get("type") == "block_actions":
                target["value"] = forged
            elif isinstance(payload.get("view"), dict):
                payload["view"]["private_metadata"] = forged
        else:
            holder[last] = data.draw(json_values)
    return payload


def test_random_payloads_never_get_a_500_nor_change_a_case_the_user_may_not_touch(harness: Harness, factory) -> None:
    own = open_case(harness, factory, "C001", AGENT[1])
    other = open_case(harness, factory, "C002", COLLEAGUE[1])  # the fuzzing agent may not act on it
    harness.drain()
    payloads = captured_payloads(harness, own)
    before = case_snapshot(harness.engine, other)
    statuses: list[int] = []

    @FUZZ
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        payload = mutate(data.draw(st.sampled_from(payloads)), data, [own, other])
        reply = harness.slack.send_interaction(payload)
        statuses.append(reply.status)
        assert reply.status < 500, (reply.status, reply.body)

    fuzz()
    harness.drain(10)
    assert case_snapshot(harness.engine, other) == before
    with Session(harness.engine) as session:
        assert_guard_rails(load_case(session, own, lock=False))
    assert set(statuses) <= {200, 400, 404}  # 400: Bolt cannot read the body; 404: no listener for it
