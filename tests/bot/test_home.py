"""The App Home of a lead (the team's figures, a period picker) and of an agent (his cases, most urgent
first, his week), and `/m3 stats`: through the real Bolt app over signed HTTP and the Slack stand-in."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

import pytest
import time_machine

from bot.views.home import MAX_HOME_BLOCKS, PERIOD_SELECT, agent_home, lead_home
from bot.views.lists import CaseRow
from flows import commands as cmd
from flows.case import AttemptOutcome, State
from storage.dashboards import AgentToday, Dashboard, Figures, Period
from tests.bot.harness import COLLEAGUE
from tests.conftest import Factory, client_file, contract
from tests.storage.test_dashboards import apply, at, programme_data_set

# Friday 19 June 2026, 14:00 in Paris: the data set's calls are behind, the declined case's relance is overdue.
NOW = datetime(2026, 6, 19, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def friday_19_june():
    with time_machine.travel(NOW, tick=True):
        yield


def home_text(harness, user: str, contains: str) -> str:
    """The user's published Home as text, once it contains `contains`."""
    def published():
        home = harness.slack.home(user)
        text = json.dumps(home.content["blocks"], ensure_ascii=False) if home else ""
        return text if contains in text else None
    return harness.slack.wait_for(published)


def test_lead_home_shows_the_team_figures_with_their_definitions(harness):
    programme_data_set(harness.engine)
    assert harness.open_home(harness.lead_id).status == 200
    text = home_text(harness, harness.lead_id, "Taux de joignabilité")
    # Default period: the last 30 days, without the case opened on 10 May.
    assert "*Dossiers ouverts* : 5" in text and "*Taux de joignabilité* : 50 %" in text
    assert "clients joints ÷ dossiers où au moins une tentative" in text  # the definition next to it
    assert "Vincent Vendeur" in text and "Recommandation" in text
    assert "Prévoyance (MAIF : 1)" in text and "Relance : 1 faites, 0 à venir, 1 en retard" in text


def test_lead_picks_another_period_and_the_figures_follow(harness):
    programme_data_set(harness.engine)
    harness.open_home(harness.lead_id)
    home_text(harness, harness.lead_id, "*Dossiers ouverts* : 5")
    home = harness.slack.home(harness.lead_id)
    assert harness.click(harness.lead_id, home, PERIOD_SELECT, "three_months").status == 200
    text = home_text(harness, harness.lead_id, "*Dossiers ouverts* : 6")  # the case opened in May too
    assert "1 avril 2026 au 19 juin 2026" in text


def test_agent_home_lists_callbacks_due_before_passed_m3_dates_with_a_link_to_the_thread(harness):
    data = programme_data_set(harness.engine)
    callback = Factory(harness.engine).case(client_file(number="C7", last_name="ClientC7"),
                                            [contract(number="AUTO-C7", seller=COLLEAGUE[1])], agent=COLLEAGUE[1])
    apply(harness.engine, callback, COLLEAGUE[1], at(17), cmd.StartCall(COLLEAGUE[1]),
          cmd.RecordAttempt(AttemptOutcome.callback, callback_at=at(18, 15)))
    card = harness.post_card(data.waiting)

    harness.open_home(harness.colleague_id)
    text = home_text(harness, harness.colleague_id, "Mes dossiers M+3")
    assert text.index("ClientC7") < text.index("ClientC4")  # the callback due comes first
    assert "rappel prévu, l'heure est arrivée" in text and "date M+3 passée" in text
    assert f"p{card.ts.replace('.', '')}" in text  # ClientC4's button opens its thread
    assert "ClientC3" not in text  # closed
    assert '*5*\\nappels passés' in text  # this week: 3 unanswered, 1 refusal, 1 callback booked


def test_stats_posts_the_figures_and_the_funnel_chart_in_the_channel(harness):
    programme_data_set(harness.engine)
    assert harness.slash(harness.lead_id, "stats month").status == 200
    posted = harness.slack.wait_for(lambda: [m for m in harness.slack.channel_messages(harness.channel) if m.files])
    assert posted[0].files[0]["name"] == "entonnoir-m3.png"
    (stored,) = harness.slack.files.values()
    assert stored["content"].startswith(b"\x89PNG")
    (figures,) = [m for m in harness.slack.channel_messages(harness.channel) if m.blocks]
    assert "*Dossiers ouverts* : 5" in json.dumps(figures.blocks, ensure_ascii=False)


def test_stats_is_for_leads_only(harness):
    assert harness.slash(harness.agent_id, "stats").status == 200
    refusal = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id))
    assert "réservé aux responsables" in refusal[0].text
    assert not harness.slack.files


def test_stats_names_the_periods_it_knows(harness):
    harness.slash(harness.lead_id, "stats hier")
    refusal = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.lead_id))
    assert "Période inconnue : hier" in refusal[0].text and "`month`" in refusal[0].text


def test_homes_stay_within_slacks_100_blocks():
    figures = Figures(Counter({("opened",): 3, ("attempted",): 2, ("reached",): 1}))
    many_agents = {f"agent{i}@agence.fr": figures for i in range(80)}
    dashboard = Dashboard(Period(date(2026, 6, 1), date(2026, 6, 30), "month"), date(2026, 6, 19), figures,
                          many_agents, {"chalandise": figures})
    assert len(lead_home(dashboard, {})["blocks"]) <= MAX_HOME_BLOCKS
    rows = [CaseRow(i, f"Client {i}", State.preparation, date(2026, 6, 2)) for i in range(1, 300)]
    today = AgentToday(frozenset(), frozenset(), {}, {"calls": 0})
    blocks = agent_home(rows, today)["blocks"]
    assert len(blocks) <= MAX_HOME_BLOCKS and "de plus" in json.dumps(blocks, ensure_ascii=False)
