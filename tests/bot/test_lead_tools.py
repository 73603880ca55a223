"""A lead's tools through the real Bolt app over signed HTTP and the Slack stand-in, on both databases: he
hands over every open case of an absent agent from his App Home (spread over two colleagues, each case
audited with who and why, the reminders following, the new agent told in the thread) and reopens a case
closed by mistake from its card; anyone else is refused with the reason and nothing changes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlmodel import Session, select

from bot.payloads import encode
from bot.rendering import queue_case_messages
from bot.views import ids
from flows import commands as cmd
from flows.case import Action, ActionKind, Aim, CloseReason, State
from flows.engine import handle
from service.reminders import sync_reminders
from service.unit_of_work import unit_of_work
from storage.audit_verify import verify
from storage.tables import AuditEntry, M3Case, Reminder
from tests.bot.driver import CallDriver
from tests.bot.harness import AGENT, COLLEAGUE, LEAD
from tests.conftest import client_file, contract
from tests.support.opening import open_and_post

OTHER = ("U0AUTRE", "autre@agence.fr", "Alex Autre")
CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # Tuesday 10:30 in Paris
REASON = "Arrêt maladie de trois semaines"


@pytest.fixture(autouse=True)
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def open_case(harness, factory, number: str, agent: str = AGENT[1]) -> int:
    case_id = factory.case(client_file(number=number, last_name=f"Client{number}"),
                           [contract(number=f"AUTO-{number}", seller=AGENT[1])], opened=False, agent=agent)
    open_and_post(harness.engine, harness.settings, case_id)
    return case_id


def with_action(harness, case_id: int, owner: str) -> None:
    """A relance still to do on the case, owned by `owner`, with its pending reminder."""
    with unit_of_work(harness.engine, case_id=case_id, actor="test") as uow:
        uow.case.actions.append(Action(ActionKind.relance, date(2026, 12, 10), owner, created_at=uow.now,
                                       created_by=owner, aim=Aim.administrative))
        sync_reminders(uow.session, uow.case, uow.now, harness.settings)


def closed_case(harness, factory, number: str) -> int:
    case_id = open_case(harness, factory, number)
    with unit_of_work(harness.engine, case_id=case_id, actor=AGENT[1]) as uow:
        uow.record(handle(uow.case, cmd.CloseEarly(CloseReason.duplicate), actor=AGENT[1], now=uow.now,
                          rules=harness.settings.rules()))
        queue_case_messages(uow.session, uow.case, harness.settings, previous=State.preparation)
    harness.drain()
    return case_id


def chain_ok(engine, case_id: int) -> bool:
    with Session(engine) as session:
        return verify(session, case_id).ok


def entries(engine, case_id: int, event: str) -> list[AuditEntry]:
    with Session(engine) as session:
        query = select(AuditEntry).where(AuditEntry.case_id == case_id, AuditEntry.event == event)
        return list(session.exec(query.order_by(AuditEntry.seq)))


def agents_of(engine, case_ids) -> list[str]:
    with Session(engine) as session:
        return [session.get(M3Case, case_id).agent for case_id in case_ids]


def lead_home(harness, user: str):
    harness.open_home(user)
    return harness.slack.wait_for(lambda: (home := harness.slack.home(user)) and
                                  "Transférer les dossiers" in json.dumps(home.content, ensure_ascii=False) and home)


def open_handover(harness, user: str):
    before = len(harness.slack.calls_to("views.open"))
    harness.click(user, lead_home(harness, harness.lead_id), ids.HANDOVER)
    harness.slack.wait_for(lambda: len(harness.slack.calls_to("views.open")) > before)
    modal = harness.slack.open_modal(user)
    assert modal.content["callback_id"] == ids.MODAL_HANDOVER
    return modal


def handover_values(absent: str, colleagues: list[str], reason: str) -> dict:
    return {ids.INPUT_ABSENT: {ids.INPUT_ABSENT: absent}, ids.INPUT_COLLEAGUES: {ids.INPUT_COLLEAGUES: colleagues},
            ids.INPUT_REASON: {ids.INPUT_REASON: reason}}


def test_a_lead_hands_over_three_open_cases_of_an_absent_agent_to_two_colleagues(harness, factory):
    harness.add_agents([OTHER])
    cases = [open_case(harness, factory, f"H{n}") for n in range(3)]
    closed = closed_case(harness, factory, "H9")
    open_case(harness, factory, "C1", agent=COLLEAGUE[1])  # the colleague has one open case already
    with_action(harness, cases[0], AGENT[1])
    harness.drain()

    modal = open_handover(harness, harness.lead_id)
    reply = harness.submit(harness.lead_id, modal.id, handover_values(harness.agent_id,
                                                                      [COLLEAGUE[0], OTHER[0]], REASON))
    assert reply.status == 200 and not reply.body, reply.body

    # Fewest open cases first: Alex (0) takes the first, then each in turn as their counts tie or lead.
    assert agents_of(harness.engine, cases) == [OTHER[1], COLLEAGUE[1], OTHER[1]]
    assert agents_of(harness.engine, [closed]) == [AGENT[1]]  # a closed case stays as it was
    for case_id, agent in zip(cases, [OTHER[1], COLLEAGUE[1], OTHER[1]], strict=True):
        (fact,) = entries(harness.engine, case_id, "case_reassigned")
        assert fact.actor == LEAD[1] and fact.data["reason"] == REASON
        assert (fact.data["from"], fact.data["to"]) == (AGENT[1], agent)
        assert fact.sealed["reason"].startswith("hmac:")  # the lead's words stay out of what the chain covers
        assert chain_ok(harness.engine, case_id)
        # The new agent is told in the case's thread, his card's edit mentions him; the reason is not shown there.
        call = CallDriver(harness, case_id, harness.lead_id)
        agent_id = OTHER[0] if agent == OTHER[1] else COLLEAGUE[0]
        thread = " ".join(m.text for m in call.thread())
        assert f"<@{agent_id}>" in thread and REASON not in thread
        assert f"<@{agent_id}>" in str(call.card().blocks)

    # The relance still to do went to the new agent, and its reminder is still pending for him.
    case = CallDriver(harness, cases[0], harness.lead_id).case()
    assert [a.owner for a in case.actions] == [OTHER[1]]
    with Session(harness.engine) as session:
        reminders = list(session.exec(select(Reminder).where(Reminder.case_id == cases[0])))
    assert [r.status for r in reminders] == ["pending"] and reminders[0].action_id == case.actions[0].id

    summary = harness.slack.wait_for(lambda: [c for c in harness.slack.calls_to("chat.postMessage")
                                              if c.args.get("channel") == harness.lead_id])
    assert "3 dossier(s)" in summary[0].args["text"]


def test_a_non_lead_is_refused_with_the_reason_and_no_case_changes(harness, factory):
    cases = [open_case(harness, factory, f"H{n}") for n in range(2)]
    harness.drain()
    modal = open_handover(harness, harness.colleague_id)  # a forged click on the lead's Home

    reply = harness.submit(harness.colleague_id, modal.id, handover_values(harness.agent_id, [COLLEAGUE[0]], REASON))

    assert "Seul un responsable" in reply.json()["errors"][ids.INPUT_ABSENT]
    assert agents_of(harness.engine, cases) == [AGENT[1], AGENT[1]]
    assert all(entries(harness.engine, c, "case_reassigned") == [] for c in cases)


@pytest.mark.parametrize(
    ("absent", "colleagues", "reason", "field", "words"),
    [
        (AGENT[0], [AGENT[0], COLLEAGUE[0]], REASON, ids.INPUT_COLLEAGUES, "l'agent absent lui-même"),
        (COLLEAGUE[0], [LEAD[0]], REASON, ids.INPUT_ABSENT, "aucun dossier ouvert"),
        (AGENT[0], [COLLEAGUE[0]], "   ", ids.INPUT_REASON, ""),
        (AGENT[0], ["U0INCONNU"], REASON, ids.INPUT_COLLEAGUES, ""),
    ],
)
def test_a_refused_hand_over_is_explained_under_its_field_and_changes_nothing(harness, factory, absent,
                                                                              colleagues, reason, field, words):
    case_id = open_case(harness, factory, "H1")
    harness.drain()
    modal = open_handover(harness, harness.lead_id)

    errors = harness.submit(harness.lead_id, modal.id, handover_values(absent, colleagues, reason)).json()["errors"]

    assert words in errors[field] and errors[field]
    assert agents_of(harness.engine, [case_id]) == [AGENT[1]]


def test_a_lead_reopens_a_closed_case_from_its_card_and_the_trail_shows_both(harness, factory):
    case_id = closed_case(harness, factory, "R1")
    lead = CallDriver(harness, case_id, harness.lead_id)
    assert "Rouvrir" in str(lead.card().blocks)

    lead.click("card", ids.REOPEN)
    empty = lead.submit({ids.INPUT_REASON: "  "})
    assert ids.INPUT_REASON in empty.json()["errors"]
    assert lead.submit({ids.INPUT_REASON: "Pas un doublon : l'autre dossier est celui du conjoint"}).status == 200

    case = lead.case()
    assert case.state is State.preparation and case.close_reason is None and case.closed_at is None
    (closing,) = entries(harness.engine, case_id, "case_closed")
    (reopening,) = entries(harness.engine, case_id, "case_reopened")
    assert reopening.actor == LEAD[1] and reopening.seq > closing.seq
    assert reopening.data["closed_reason"] == "duplicate" and reopening.data["to"] == "preparation"
    assert chain_ok(harness.engine, case_id)
    card = str(lead.card().blocks)
    assert "Clôturé" not in card and "clôturé le" not in card and "Réattribuer" in card
    # The agent takes the call again from the thread's step message.
    agent = CallDriver(harness, case_id, harness.agent_id)
    agent.click("step:preparation", ids.START_CALL)
    assert agent.case().state is State.contact_attempt


def test_an_agent_cannot_reopen_and_a_forged_value_naming_another_case_is_refused(harness, factory):
    closed = closed_case(harness, factory, "R1")
    still_open = open_case(harness, factory, "R2")
    agent = CallDriver(harness, closed, harness.agent_id)
    agent.click("card", ids.REOPEN)
    assert any("Seul un responsable" in text for text in agent.ephemerals())
    assert harness.slack.open_modal(harness.agent_id) is None

    lead = CallDriver(harness, closed, harness.lead_id)
    lead.click("card", ids.REOPEN, value=encode(still_open))  # the closed card's button, naming an open case
    refused = lead.submit({ids.INPUT_REASON: "erreur"}).json()["errors"][ids.INPUT_REASON]
    assert "n'est pas clôturé" in refused
    told = len(harness.slack.ephemerals_for(harness.lead_id))
    assert harness.click(harness.lead_id, lead.card(), ids.REOPEN, '{"c": "x"}').status == 200
    harness.slack.wait_for(lambda: len(harness.slack.ephemerals_for(harness.lead_id)) > told)
    assert CallDriver(harness, still_open, harness.lead_id).case().state is State.preparation
    assert lead.case().state is State.closed
    assert entries(harness.engine, closed, "case_reopened") == [] == entries(harness.engine, still_open,
                                                                              "case_reopened")
