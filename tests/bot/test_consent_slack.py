"""Consent through Slack: buttons the engine would refuse are not offered, a forged click is refused in French
and changes nothing, the opposition shows on the card and only a lead lifts it, "call now" checks the cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlmodel import Session, select

from bot.compliance_pdf import compliance_record
from bot.payloads import encode
from bot.views import ids
from flows.case import CloseReason, State
from storage.tables import AuditEntry, CallAttempt, M3Case
from tests.bot.driver import CallDriver
from tests.bot.test_call_scenarios import CALL_TIME, open_case
from tests.bot.test_privacy import pdf_text


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def action_ids(message) -> set[str]:
    found = set()
    for block in message.blocks:
        for element in [*block.get("elements", []), block.get("accessory") or {}]:
            if "action_id" in element:
                found.add(element["action_id"].split(":")[0])
    return found


def forge(call: CallDriver, role: str, action_id: str, value: str):
    """A click on a control the message does not offer (a stale message or a hand-made payload)."""
    message = call.message(role)
    some_button = next(e["action_id"] for b in message.blocks for e in b.get("elements", []) if "action_id" in e)
    payload = call.h.slack.block_actions(call.user, message, some_button)
    payload["actions"][0]["action_id"] = action_id
    payload["actions"][0]["value"] = value
    return call.send(payload)


def events(harness, case_id: int) -> list[tuple[str, str]]:
    with Session(harness.engine) as session:
        rows = session.exec(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.id))
        return [(row.event, row.actor) for row in rows]


def to_rebound(harness, factory) -> tuple[int, CallDriver]:
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    call.profile()
    call.contracts()
    return case_id, call


def test_a_declined_rebound_offers_nothing_commercial_and_a_forged_click_changes_nothing(harness, factory):
    case_id, call = to_rebound(harness, factory)
    call.click("step:rebound", ids.AGREEMENT, 0, "no")
    offered = action_ids(call.message("step:rebound"))
    assert not offered & {ids.PROTECTION_ANSWER, ids.NEED_ADD, ids.AGREEMENT, ids.AGREEMENT_WITHDRAW,
                          ids.PROTECTION_ELSEWHERE_OTHER}
    assert {ids.REBOUND_FINISH, ids.OPPOSITION} <= offered

    forge(call, "step:rebound", ids.suffixed(ids.PROTECTION_ANSWER, 0, "not_covered"),
          encode(case_id, p="pj", a="not_covered"))
    assert any("pas donné son accord" in text for text in call.ephemerals())
    forge(call, "step:rebound", ids.NEED_ADD, encode(case_id))  # opens the modal; the engine refuses its submit
    reply = call.submit({ids.INPUT_NEED: "Un devis habitation"})
    assert "pas donné son accord" in json.loads(reply.body)["errors"][ids.INPUT_NEED]
    assert call.case().protections == {} and call.case().needs == []

    call.click("step:rebound", ids.REBOUND_FINISH)
    plan = call.message("step:action_plan")
    assert ids.suffixed(ids.ACTION_ADD, "devis") not in str(plan.blocks)
    assert ids.suffixed(ids.ACTION_ADD, "relance") in str(plan.blocks)
    call.click("step:action_plan", ids.CLOSE)
    case = call.case()
    assert (case.state, case.close_reason) == (State.closed, CloseReason.rebound_refused)
    assert "Rebond refusé par le client" in str(call.card().blocks)
    assert "consent_declined" in [name for name, _ in events(harness, case_id)]


def test_opposition_is_set_from_the_call_shown_on_the_card_and_lifted_by_a_lead_only(harness, factory):
    case_id, call = to_rebound(harness, factory)
    call.click("step:rebound", ids.OPPOSITION, value=encode(case_id, on=True))
    assert call.case().client.opposition_at is not None
    assert "Opposition au démarchage commercial" in str(call.card().blocks)
    assert ids.AGREEMENT not in action_ids(call.message("step:rebound"))

    call.click("card", ids.OPPOSITION, value=encode(case_id, on=False))  # the agent may not lift it
    assert any("Seul un responsable" in text for text in call.ephemerals())
    assert call.case().client.opposition_at is not None

    lead = CallDriver(harness, case_id, harness.lead_id)
    lead.click("card", ids.OPPOSITION, value=encode(case_id, on=False))
    assert call.case().client.opposition_at is None
    names = [name for name, _ in events(harness, case_id)]
    assert names.index("opposition_set") < names.index("opposition_lifted")


def test_call_now_is_refused_with_the_day_calling_is_allowed_again(harness, factory):
    case_id = open_case(harness, factory)
    call = CallDriver(harness, case_id, harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "callback")
    call.submit({ids.INPUT_CALLBACK_AT: int(datetime(2026, 12, 2, 14, 30, tzinfo=UTC).timestamp())})
    assert call.case().state is State.scheduled_callback
    with Session(harness.engine) as session, session.begin():  # three earlier attempts by other cases
        client_id = session.get(M3Case, case_id).client_id
        session.add_all([CallAttempt(client_id=client_id, at=CALL_TIME - timedelta(days=d), by="x@agence.fr",
                                     outcome="no_answer") for d in (3, 10, 17)])
    forge(call, "step:contact", ids.CALLBACK_RESUME, encode(case_id))
    # With this call's own attempt, 4 in 30 days: the oldest (17 November) leaves the window on 14 December.
    assert any("Prochain appel possible le 14/12/2026" in text for text in call.ephemerals())
    assert call.case().state is State.scheduled_callback


def test_withdrawal_and_opposition_are_in_the_compliance_record(harness, factory):
    case_id, call = to_rebound(harness, factory)
    call.click("step:rebound", ids.AGREEMENT, 0, "yes")
    assert ids.AGREEMENT_WITHDRAW in action_ids(call.message("step:rebound"))
    call.click("step:rebound", ids.AGREEMENT_WITHDRAW)
    offered = action_ids(call.message("step:rebound"))
    assert ids.AGREEMENT_WITHDRAW not in offered and ids.NEED_ADD not in offered
    call.click("step:rebound", ids.OPPOSITION, value=encode(case_id, on=True))
    with Session(harness.engine) as session:
        text = " ".join(pdf_text(compliance_record(session, case_id, actor="chef@agence.fr", now=CALL_TIME,
                                                   timezone="Europe/Paris")).split())
    assert "Le client a retiré son accord le 01/12/2026" in text
    assert "s'oppose à tout démarchage commercial depuis le 01/12/2026" in text
    names = [name for name, _ in events(harness, case_id)]
    assert names.index("consent_given") < names.index("consent_withdrawn") < names.index("opposition_set")
