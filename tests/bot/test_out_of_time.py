"""Cases set aside as out of time, through the real Bolt app over signed HTTP and the Slack stand-in: the
lead's App Home lists them and opens or closes one (audited with who), and `/m3 ouvrir` offers due cases
to everyone, out-of-time ones to leads only, never a case whose M+3 date is to come."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
import time_machine
from sqlmodel import Session, select

from bot.views import ids
from bot.views.home import MAX_HOME_BLOCKS, lead_home
from bot.views.ids import suffixed
from bot.views.out_of_time import OutOfTimeSection
from storage import slack_messages
from storage.dashboards import Dashboard, Figures, Period
from storage.queries import mark_out_of_time
from storage.tables import AuditEntry, M3Case
from storage.worklists import WaitingCase
from tests.bot.harness import AGENT, LEAD, wait_until
from tests.conftest import NOW, client_file, contract


@pytest.fixture(autouse=True)
def monday_15_june():
    with time_machine.travel(NOW, tick=True):
        yield


def new_case(factory, number: str, m3: date, *, set_aside: bool = False) -> int:
    case_id = factory.case(client_file(number=number, last_name=f"Client{number}"),
                           [contract(number=f"AUTO-{number}", seller=AGENT[1])], m3_date=m3, opened=False,
                           agent=AGENT[1])
    if set_aside:
        with Session(factory.engine) as session, session.begin():
            mark_out_of_time(session, [case_id], now=NOW, actor="import")
    return case_id


def home_blocks(harness, user: str, contains: str, absent: str | None = None) -> str:
    def published():
        home = harness.slack.home(user)
        text = json.dumps(home.content["blocks"], ensure_ascii=False) if home else ""
        return text if contains in text and (absent is None or absent not in text) else None
    return harness.slack.wait_for(published)


def case_row(engine, case_id: int) -> M3Case:
    with Session(engine) as session:
        return session.get(M3Case, case_id)


def entries(engine, case_id: int, event: str) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.case_id == case_id, AuditEntry.event == event)))


def test_lead_home_lists_the_out_of_time_cases_and_an_agent_home_does_not(harness, factory):
    new_case(factory, "C1", date(2026, 1, 2), set_aside=True)
    new_case(factory, "C2", date(2026, 6, 10))  # due, not out of time

    harness.open_home(harness.lead_id)
    text = home_blocks(harness, harness.lead_id, "Dossiers hors délai")
    assert "ClientC1" in text and "2 janvier 2026" in text and "ClientC2" not in text
    assert "Ouvrir maintenant" in text and "Clore sans appel" in text

    harness.open_home(harness.agent_id)
    assert "hors délai" not in home_blocks(harness, harness.agent_id, "Mes dossiers M+3")


def test_lead_opens_an_out_of_time_case_from_his_home_and_it_becomes_due_now(harness, factory):
    case_id = new_case(factory, "C1", date(2026, 1, 2), set_aside=True)
    harness.open_home(harness.lead_id)
    home_blocks(harness, harness.lead_id, "ClientC1")

    reply = harness.click(harness.lead_id, harness.slack.home(harness.lead_id), suffixed(ids.OUT_OF_TIME_OPEN, case_id))

    assert reply.status == 200
    home_blocks(harness, harness.lead_id, "Programme M+3", absent="ClientC1")  # published again without it
    assert case_row(harness.engine, case_id).opened_at is not None
    (opened,) = entries(harness.engine, case_id, "case_opened")
    assert (opened.actor, opened.data) == (LEAD[1], {"out_of_time": True})
    harness.drain()
    assert slack_messages.find(harness.engine, case_id, slack_messages.CARD) is not None  # its card is posted


def test_lead_closes_an_out_of_time_case_with_his_reason_and_no_card_is_posted(harness, factory):
    case_id = new_case(factory, "C1", date(2026, 1, 2), set_aside=True)
    harness.open_home(harness.lead_id)
    home_blocks(harness, harness.lead_id, "ClientC1")

    harness.click(harness.lead_id, harness.slack.home(harness.lead_id), suffixed(ids.OUT_OF_TIME_CLOSE, case_id))
    modal = harness.slack.wait_for(lambda: harness.slack.open_modal(harness.lead_id))
    assert modal.content["callback_id"] == ids.MODAL_CLOSE_OUT_OF_TIME
    empty = harness.submit(harness.lead_id, modal.id, {ids.INPUT_NOTE: {ids.INPUT_NOTE: "  "}})
    assert ids.INPUT_NOTE in empty.json()["errors"]
    assert case_row(harness.engine, case_id).state == "preparation"

    reason = "Client parti à l'étranger, contrats résiliés"
    assert harness.submit(harness.lead_id, modal.id, {ids.INPUT_NOTE: {ids.INPUT_NOTE: reason}}).status == 200

    row = case_row(harness.engine, case_id)
    assert (row.state, row.close_reason, row.close_note, row.opened_at) == ("closed", "out_of_time", reason, None)
    (closed,) = entries(harness.engine, case_id, "case_closed")
    assert closed.actor == LEAD[1] and closed.data == {"reason": "out_of_time", "note": reason}
    home_blocks(harness, harness.lead_id, "Programme M+3", absent="ClientC1")
    harness.drain()
    assert harness.slack.channel_messages(harness.channel) == []


def test_an_agent_cannot_open_or_close_an_out_of_time_case_even_with_a_forged_click(harness, factory):
    case_id = new_case(factory, "C1", date(2026, 1, 2), set_aside=True)
    harness.open_home(harness.lead_id)
    home_blocks(harness, harness.lead_id, "ClientC1")
    lead_home = harness.slack.home(harness.lead_id)

    harness.click(harness.agent_id, lead_home, suffixed(ids.OUT_OF_TIME_OPEN, case_id))
    harness.click(harness.agent_id, lead_home, suffixed(ids.OUT_OF_TIME_CLOSE, case_id))

    refusals = harness.slack.wait_for(lambda: len(harness.slack.ephemerals_for(harness.agent_id)) >= 2
                                      and harness.slack.ephemerals_for(harness.agent_id))
    assert all("Seul un responsable" in r.text for r in refusals)
    assert harness.slack.open_modal(harness.agent_id) is None
    row = case_row(harness.engine, case_id)
    assert (row.opened_at, row.state) == (None, "preparation")


def offered(harness, user: str) -> list[str]:
    before = len(harness.slack.calls_to("views.open"))
    assert harness.slash(user, "ouvrir").status == 200
    wait_until(lambda: len(harness.slack.calls_to("views.open")) > before)
    modal = harness.slack.open_modal(user)
    text = json.dumps(modal.content["blocks"], ensure_ascii=False)
    return [name for name in ("ClientDUE", "ClientSOON", "ClientOLD", "ClientLATE") if name in text]


def test_open_offers_due_cases_to_agents_and_out_of_time_ones_to_leads_never_one_to_come(harness, factory):
    new_case(factory, "DUE", date(2026, 6, 10))
    new_case(factory, "SOON", date(2026, 6, 20))
    new_case(factory, "OLD", date(2026, 1, 2), set_aside=True)
    new_case(factory, "LATE", date(2026, 2, 1))  # imported today, months late: the catch-up rule sets it aside
    factory.case(client_file(number="C0"), [contract(number="OPEN-0")], m3_date=date(2026, 6, 1))  # opened

    assert offered(harness, harness.agent_id) == ["ClientDUE"]
    assert offered(harness, harness.lead_id) == ["ClientDUE", "ClientOLD", "ClientLATE"]
    assert "(hors délai)" in json.dumps(harness.slack.open_modal(harness.lead_id).content, ensure_ascii=False)


def test_open_opens_the_chosen_due_case_once(harness, factory):
    due = new_case(factory, "DUE", date(2026, 6, 10))
    offered(harness, harness.agent_id)
    first = harness.slack.open_modal(harness.agent_id)
    offered(harness, harness.lead_id)
    second = harness.slack.open_modal(harness.lead_id)

    assert harness.submit(harness.agent_id, first.id, {ids.INPUT_CASE: {ids.INPUT_CASE: str(due)}}).status == 200
    late = harness.submit(harness.lead_id, second.id, {ids.INPUT_CASE: {ids.INPUT_CASE: str(due)}})

    assert ids.INPUT_CASE in late.json()["errors"]  # opened meanwhile: no longer offered
    (opened,) = entries(harness.engine, due, "case_opened")
    assert (opened.actor, opened.data) == (AGENT[1], {})
    harness.drain()
    assert slack_messages.find(harness.engine, due, slack_messages.CARD) is not None


def test_lead_home_with_a_large_backlog_stays_within_slacks_100_blocks():
    figures = Figures(Counter({("opened",): 3}))
    dashboard = Dashboard(Period(date(2026, 6, 1), date(2026, 6, 30), "month"), date(2026, 6, 19), figures,
                          {f"agent{i}@agence.fr": figures for i in range(30)}, {"chalandise": figures})
    backlog = [WaitingCase(i, f"Client {i}", date(2026, 1, 2), date(2026, 6, 1), True) for i in range(1, 11)]

    blocks = lead_home(dashboard, {}, OutOfTimeSection(backlog, 300, 30))["blocks"]

    text = json.dumps(blocks, ensure_ascii=False)
    assert len(blocks) <= MAX_HOME_BLOCKS and "Dossiers hors délai" in text and "*Dossiers ouverts*" in text
    assert "de plus : m3bot cases --state out_of_time" in text
