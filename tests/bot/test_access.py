"""Who may see the list of clients: agents (a Slack user whose e-mail is an imported seller or account
manager) and leads. An agent sees only the cases he may act on; a workspace member who is neither gets a
French refusal and nothing listed, on every command, modal and Home section. Through the real Bolt app over
signed HTTP and the Slack stand-in."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

import wording
from bot.views import ids
from bot.views.home import PERIOD_SELECT
from flows.engine import Refused, authorize, listing_scope
from storage import access_trail
from storage.repository import load_case
from storage.tables import AuditEntry, M3Case, utcnow
from storage.worklists import waiting_cases
from tests.bot.harness import AGENT, COLLEAGUE, LEAD, Harness, wait_until
from tests.bot.test_requests import card_with_button, record_contexts
from tests.conftest import Factory, client_file, contract
from wording import t

STRANGER = ("U0STRANGER", "curieux@ailleurs.fr", "Curieux")
REFUSAL = t("reasons.lists_for_agents")


@pytest.fixture
def stranger(harness: Harness) -> str:
    """A member of the workspace, known to Slack, who is neither an agent nor a lead."""
    harness.slack.add_user(STRANGER[0], STRANGER[1], STRANGER[2].lower(), STRANGER[2])
    return STRANGER[0]


def waiting(factory: Factory) -> dict[str, int]:
    """Two cases due today and not opened yet: one sold by the agent, one by his colleague."""
    today = utcnow().date()
    return {
        "Dupontel": factory.case(client_file(number="W1", last_name="Dupontel"), m3_date=today, opened=False),
        "Lemercier": factory.case(client_file(number="W2", last_name="Lemercier"),
                                  [contract(number="HAB-2", seller=COLLEAGUE[1])], agent=COLLEAGUE[1],
                                  m3_date=today, opened=False),
    }


def shown_to(harness: Harness, user: str) -> str:
    """Everything Slack shows this user: his ephemerals, his modals, his Home, his DMs."""
    slack = harness.slack
    with slack._lock:
        parts = [e.text + json.dumps(e.blocks, ensure_ascii=False) for e in slack.ephemerals_for(user)]
        parts += [json.dumps(v.content, ensure_ascii=False) for v in slack.views.values() if v.user == user]
        parts += [m.text + json.dumps(m.blocks, ensure_ascii=False)
                  for c in slack.channels.values() if c.user == user for m in slack.messages[c.id]]
    return "\n".join(parts)


def refused(harness: Harness, user: str, refusal: str = REFUSAL) -> str:
    return wait_until(lambda: refusal in (text := shown_to(harness, user)) and text)


@pytest.mark.parametrize("words", ["ouvrir", "mes-dossiers", "stats", "stats month"])
def test_a_member_who_is_neither_agent_nor_lead_is_refused_every_list_command(harness, factory, stranger, words):
    names = waiting(factory)
    factory.case(client_file(number="O1", last_name="Ouvertaudit"))  # an open case too

    assert harness.slash(stranger, words).status == 200

    expected = {"ouvrir": REFUSAL, "mes-dossiers": t("listeners.not_an_agent"),
                "stats": t("dashboards.stats.leads_only")}[words.split()[0]]
    text = refused(harness, stranger, expected)
    assert not any(name in text for name in [*names, "Ouvertaudit"])
    assert harness.slack.open_modal(stranger) is None
    assert not harness.slack.channel_messages(harness.channel)  # /m3 stats posted nothing in the channel


def test_a_member_who_is_neither_sees_no_case_on_his_home(harness, factory, stranger):
    names = waiting(factory)
    factory.case(client_file(number="O1", last_name="Ouvertaudit"))

    assert harness.open_home(stranger).status == 200

    text = wait_until(lambda: harness.slack.home(stranger) and json.dumps(harness.slack.home(stranger).content,
                                                                          ensure_ascii=False))
    assert t("listeners.not_an_agent") in text
    assert not any(name in text for name in [*names, "Ouvertaudit", "Dossiers ouverts"])


def test_a_member_who_is_neither_cannot_pick_a_period_of_the_lead_home(harness, stranger):
    harness.open_home(harness.lead_id)
    lead_home = wait_until(lambda: harness.slack.home(harness.lead_id))

    assert harness.click(stranger, lead_home, PERIOD_SELECT, "three_months").status == 200

    harness.open_home(harness.agent_id)  # a later request: the forged one has been handled by then
    wait_until(lambda: harness.slack.home(harness.agent_id))
    assert harness.slack.home(stranger) is None  # no lead figures were published for him


def test_a_member_who_is_neither_cannot_open_a_case_through_a_forged_submission(harness, factory, stranger):
    names = waiting(factory)
    harness.slash(harness.lead_id, "ouvrir")
    modal = wait_until(lambda: harness.slack.open_modal(harness.lead_id))

    reply = harness.submit(stranger, modal.id, {ids.INPUT_CASE: {ids.INPUT_CASE: str(names["Dupontel"])}})

    assert reply.json() == {"response_action": "errors", "errors": {ids.INPUT_CASE: REFUSAL}}
    with Session(harness.engine) as session:
        assert session.get(M3Case, names["Dupontel"]).opened_at is None


def test_the_refusal_a_member_reads_is_worded_by_the_agencys_texts(harness, factory, stranger, tmp_path):
    names = waiting(factory)
    reworded = "Réservé aux agents M+3 de l'agence."
    (tmp_path / "agence.yml").write_text(f'reasons:\n  lists_for_agents: "{reworded}"\n', encoding="utf-8")
    wording.configure(tmp_path)
    try:
        harness.slash(stranger, "ouvrir")
        refused(harness, stranger, reworded)  # the command's ephemeral answer
        harness.slash(harness.lead_id, "ouvrir")
        modal = wait_until(lambda: harness.slack.open_modal(harness.lead_id))
        reply = harness.submit(stranger, modal.id, {ids.INPUT_CASE: {ids.INPUT_CASE: str(names["Dupontel"])}})
    finally:
        wording.configure(None)
    assert reply.json() == {"response_action": "errors", "errors": {ids.INPUT_CASE: reworded}}  # the modal's


def test_an_agent_is_offered_only_the_waiting_cases_he_may_act_on_and_a_lead_all(harness, factory):
    waiting(factory)

    harness.slash(harness.agent_id, "ouvrir")
    harness.slash(harness.lead_id, "ouvrir")

    agent_modal = json.dumps(wait_until(lambda: harness.slack.open_modal(harness.agent_id)).content, ensure_ascii=False)
    lead_modal = json.dumps(wait_until(lambda: harness.slack.open_modal(harness.lead_id)).content, ensure_ascii=False)
    assert "Dupontel" in agent_modal and "Lemercier" not in agent_modal
    assert "Dupontel" in lead_modal and "Lemercier" in lead_modal


def test_an_agent_cannot_open_a_colleagues_waiting_case_by_forging_the_choice(harness, factory):
    names = waiting(factory)
    harness.slash(harness.lead_id, "ouvrir")  # the lead's modal offers the colleague's case: the agent forges it
    modal = wait_until(lambda: harness.slack.open_modal(harness.lead_id))

    reply = harness.submit(harness.agent_id, modal.id, {ids.INPUT_CASE: {ids.INPUT_CASE: str(names["Lemercier"])}})

    assert reply.json()["response_action"] == "errors"
    with Session(harness.engine) as session:
        assert session.get(M3Case, names["Lemercier"]).opened_at is None


PEOPLE = [AGENT[1], COLLEAGUE[1], "gestion@agence.fr", None]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases=st.lists(st.tuples(st.sampled_from(PEOPLE[:3]), st.sampled_from(PEOPLE)), min_size=1, max_size=6),
       viewer=st.sampled_from(PEOPLE), is_lead=st.booleans())
def test_a_list_shows_exactly_the_cases_the_viewer_may_act_on(engine, cases, viewer, is_lead):
    """Whatever the sellers and agents, a listed case is one `authorize` lets the viewer act on, and every case
    he may act on is listed; a viewer who is neither agent nor lead is refused the list."""
    from tests.conftest import empty_tables

    empty_tables(engine)
    factory = Factory(engine)
    ids_ = [factory.case(client_file(number=f"P{n}"), [contract(number=f"X{n}", seller=seller)], agent=agent,
                         m3_date=date(2026, 6, 2), opened=False)
            for n, (seller, agent) in enumerate(cases)]
    try:
        scope = listing_scope(viewer, is_lead=is_lead)
    except Refused:
        assert viewer is None and not is_lead
        return
    with Session(engine) as session:
        listed = {w.case_id for w in waiting_cases(session, today=date(2026, 6, 2), catch_up_days=30, leads=is_lead,
                                                   visible_to=scope)}
        for case_id in ids_:
            try:
                authorize(load_case(session, case_id, lock=False), viewer, is_lead=is_lead, command=None)
                allowed = True
            except Refused:
                allowed = False
            assert (case_id in listed) == allowed


# ---- a lead opening another agent's case is recorded -------------------------------------------------


def lead_openings(harness: Harness) -> list[AuditEntry]:
    with Session(harness.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.event == access_trail.LEAD_OPENED)))


@pytest.mark.parametrize(("who", "assigned", "recorded"), [
    ("lead", AGENT[1], True),  # another agent's case
    ("lead", LEAD[1], False),  # his own
    ("lead", None, False),  # nobody's yet
    ("agent", AGENT[1], False),  # not a lead
])
def test_a_lead_clicking_in_another_agents_case_is_recorded_with_who_and_when(harness, factory, who, assigned,
                                                                               recorded):
    case_id = factory.case(agent=assigned)
    seen = record_contexts(harness)
    card = card_with_button(harness, case_id)
    user = {"lead": harness.lead_id, "agent": harness.agent_id}[who]

    harness.click(user, card, "test.record")

    wait_until(lambda: seen)
    entries = lead_openings(harness)
    assert bool(entries) is recorded
    if recorded:
        (entry,) = entries
        assert (entry.actor, entry.case_id, entry.data) == (LEAD[1], case_id, {"how": "block_actions",
                                                                                "assigned_to": AGENT[1]})
        assert datetime.now(UTC) - entry.at < timedelta(minutes=1)


def test_a_lead_opening_another_agents_waiting_case_from_the_command_is_recorded(harness, factory):
    names = waiting(factory)
    harness.slash(harness.lead_id, "ouvrir")
    modal = wait_until(lambda: harness.slack.open_modal(harness.lead_id))

    reply = harness.submit(harness.lead_id, modal.id, {ids.INPUT_CASE: {ids.INPUT_CASE: str(names["Lemercier"])}})

    assert reply.status == 200
    (entry,) = lead_openings(harness)
    assert (entry.actor, entry.case_id, entry.data["how"]) == (LEAD[1], names["Lemercier"], "open_case")
