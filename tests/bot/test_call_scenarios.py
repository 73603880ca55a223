"""Whole M+3 calls through Slack: signed requests to the real Bolt app, the stand-in's messages read back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlmodel import Session, select

from bot.notifier import SlackNotifier
from bot.payloads import encode
from bot.views import ids
from flows.case import ClientType, State
from service.ticker import Ticker
from storage.tables import AuditEntry
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, COLLEAGUE
from tests.conftest import client_file, contract
from tests.support.opening import open_and_post

# Tuesday 1 December 2026, 10:30 in Paris: a legal calling slot.
CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def open_case(harness, factory, *, agent: str = AGENT[1], contract_number: str = "AUTO-1", **client) -> int:
    """A case opened as the morning opens it (its card and first step queued), held by `agent`."""
    case_id = factory.case(client_file(**client), [contract(number=contract_number, seller=AGENT[1])],
                           opened=False, agent=agent)
    open_and_post(harness.engine, harness.settings, case_id)
    return case_id


def test_particulier_called_by_the_seller_goes_from_preparation_to_closed(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    assert "Préparation" in call.card().text or call.card().blocks

    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    call.profile()
    assert call.case().state is State.admin_contract_validation
    call.contracts()
    call.rebound()
    call.plan_and_close(date(2026, 12, 8))

    case = call.case()
    assert case.state is State.closed and case.actions[0].purpose == "bilan_global"
    assert call.ephemerals() == []
    assert call.clicks <= 27
    card_text = str(call.card().blocks)
    assert "08/12/2026" in card_text or "8 déc" in card_text
    roles = ["step:preparation", "step:contact", "step:profile", "step:contracts", "step:rebound", "step:action_plan"]
    assert len(call.thread()) >= len(roles)


def test_colleague_books_a_callback_then_takes_the_call(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.colleague_id)
    # The colleague is neither the seller nor the assigned agent: a lead hands him the case first.
    call.click("step:preparation", ids.START_CALL)
    assert any("pas le vôtre" in text for text in call.ephemerals())
    lead = CallDriver(harness, case_id, harness.lead_id)
    lead.click("card", ids.REASSIGN)
    lead.submit({ids.INPUT_AGENT: harness.colleague_id})
    assert call.case().agent == COLLEAGUE[1]

    call.click("step:preparation", ids.START_CALL)
    script = str(call.message("step:contact").blocks)
    assert "Vincent" in script  # the colleague names the seller
    call.click("step:contact", ids.ATTEMPT, "callback")
    callback_at = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)  # Wednesday 15:30 in Paris
    call.submit({ids.INPUT_CALLBACK_AT: int(callback_at.timestamp())})
    assert call.case().state is State.scheduled_callback

    # The scheduler reminds the colleague a few minutes before, in the thread, with a button to call now.
    ticker = Ticker(harness.engine, SlackNotifier(harness.settings), harness.settings)
    # Outbox rows are due at the travelled time: they are delivered while the clock is still there.
    with time_machine.travel(callback_at - timedelta(minutes=4), tick=True):
        ticker.tick()
        harness.drain()
        reminder = next(m for m in call.thread() if ids.CALLBACK_RESUME in str(m.blocks))
        assert f"<@{harness.colleague_id}>" in reminder.text + str(reminder.blocks)
        call.send(harness.slack.block_actions(harness.colleague_id, reminder, ids.CALLBACK_RESUME))
    assert call.case().state is State.contact_attempt
    with time_machine.travel(callback_at + timedelta(minutes=1), tick=True):
        ticker.tick()  # the callback time comes: the case is already back in contact, nothing changes twice
        call.click("step:contact", ids.ATTEMPT, "available")
        call.profile()
        call.contracts()
        call.rebound()
        call.plan_and_close(date(2026, 12, 9))
    assert call.case().state is State.closed


def test_tns_detected_during_the_call_asks_for_pro_data(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    fields = call.case().client.profile_fields()
    call.click("step:profile", ids.PROFILE_ANSWER, fields.index("professional_status"), "modified")
    call.submit({ids.INPUT_VALUE: "artisan"})
    case = call.case()
    assert case.client.client_type is ClientType.tns
    assert "siren" in case.client.profile_fields()
    siren_row = case.client.profile_fields().index("siren")
    call.click("step:profile", ids.PROFILE_ANSWER, siren_row, "modified")
    reply = call.submit({ids.INPUT_VALUE: "123456789"})
    assert reply.json()["response_action"] == "errors"
    assert call.case().client.siren is None
    call.submit({ids.INPUT_VALUE: "732 829 320"})
    naf_row = case.client.profile_fields().index("naf")
    call.click("step:profile", ids.PROFILE_ANSWER, naf_row, "modified")
    call.submit({ids.INPUT_VALUE: "4332A"})
    call.profile()  # the remaining fields confirmed, then validated
    call.contracts()
    call.rebound()
    call.plan_and_close(date(2026, 12, 9))
    case = call.case()
    assert (case.state, case.client.siren, case.client.naf) == (State.closed, "732829320", "43.32A")
    assert case.agent == AGENT[1]  # the agent on the call keeps the case


def test_professionnel_goes_through_pro_fields_and_pro_protections(harness, factory):
    case_id = open_case(harness, factory, client_type=ClientType.professionnel, siren="732829320", naf="62.01Z",
                        activity="Conseil informatique")
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    assert {"siren", "naf", "activity"} <= set(call.case().client.profile_fields())
    call.profile()
    call.contracts()
    assert "rc_pro" in str(call.message("step:rebound").blocks) or call.case().state is State.commercial_rebound
    call.rebound()
    call.plan_and_close(date(2026, 12, 10))
    case = call.case()
    assert case.state is State.closed
    assert {"rc_pro", "multirisque_pro"} <= set(case.protections)


def test_commercial_step_clicked_before_contract_validation_is_refused(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    # A protection answer sent while the profile step is open (a stale or forged message).
    payload = harness.slack.block_actions(harness.agent_id, call.message("step:profile"),
                                          ids.suffixed(ids.PROFILE_ANSWER, 0, "confirmed"))
    payload["actions"][0]["action_id"] = ids.suffixed(ids.PROTECTION_ANSWER, 0, "not_covered")
    payload["actions"][0]["value"] = encode(case_id, p="pj", a="not_covered")
    call.send(payload)
    assert any("après l'administratif" in text for text in call.ephemerals())
    assert call.case().protections == {}
    assert call.case().state is State.admin_profile_update


def test_forged_case_reference_is_refused_and_changes_nothing(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    reply = harness.click(harness.agent_id, call.message("step:preparation"), ids.START_CALL, value='{"c": 99999}')
    assert reply.status == 200
    harness.slack.wait_for(lambda: any("introuvable" in e.text for e in harness.slack.ephemerals_for(harness.agent_id)))
    assert call.case().state is State.preparation


def test_double_click_on_a_step_button_is_one_transition_and_no_refusal(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    preparation = call.message("step:preparation")
    first = harness.slack.block_actions(harness.agent_id, preparation, ids.START_CALL)
    second = harness.slack.block_actions(harness.agent_id, preparation, ids.START_CALL)
    call.send(first)
    call.send(second)
    assert call.case().state is State.contact_attempt
    assert call.ephemerals() == []
    with Session(harness.engine) as session:
        started = session.exec(select(AuditEntry).where(AuditEntry.event == "call_started")).all()
    assert len(started) == 1


def test_slack_retry_of_a_click_is_applied_once(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    payload = harness.slack.block_actions(harness.agent_id, call.message("step:contact"),
                                          ids.suffixed(ids.ATTEMPT, "no_answer"))
    call.send(payload)
    updates_before = len(harness.slack.calls_to("chat.update"))
    call.send(payload)  # the same action_ts again: Slack's retry
    assert len(call.case().client_attempts) == 1
    assert len(harness.slack.calls_to("chat.update")) == updates_before


def test_app_home_and_my_cases_list_the_agents_open_cases(harness, factory):
    case_id = open_case(harness, factory)
    assert harness.open_home(harness.agent_id).status == 200
    home = harness.slack.wait_for(lambda: harness.slack.home(harness.agent_id))
    assert "Claire Martin" in str(home.content["blocks"])
    card = CallDriver(harness, case_id, harness.agent_id).card()
    assert harness.slash(harness.agent_id, "mes-dossiers").status == 200
    listed = harness.slack.wait_for(lambda: [e for e in harness.slack.ephemerals_for(harness.agent_id)
                                             if "Claire Martin" in str(e.blocks)])
    assert f"p{card.ts.replace('.', '')}" in str(listed[0].blocks)  # a link to the card's thread
