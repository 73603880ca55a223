"""The App Home of a lead (what needs a decision today, the funnel's picture, the team's figures, a period
picker, the definitions' modal) and of an agent ("Aujourd'hui", his cases, most urgent first, his week), and
`/m3 stats`: through the real Bolt app over signed HTTP and the Slack stand-in."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from bot.views.home import DEFINITIONS, MAX_HOME_BLOCKS, PERIOD_SELECT, agent_home, lead_home
from bot.views.lists import CaseRow
from bot.views.out_of_time import OutOfTimeSection
from bot.views.text import label
from flows import commands as cmd
from flows.case import ActionKind, AttemptOutcome, Origin, State
from storage.dashboards import AgentToday, Dashboard, Figures, Period
from storage.worklists import AgentAgenda, LeadAttention, TodayRow, WaitingCase
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


def image_files(harness, user: str) -> list[str]:
    """The Slack files the user's Home shows in image blocks."""
    home = harness.slack.home(user)
    return [b["slack_file"]["id"] for b in (home.content["blocks"] if home else []) if b["type"] == "image"]


def lead_dm(harness) -> str:
    (channel,) = [c.id for c in harness.slack.channels.values() if c.is_im and c.user == harness.lead_id]
    return channel


def test_lead_home_shows_the_team_figures_compact_with_their_definitions_a_click_away(harness):
    programme_data_set(harness.engine)
    assert harness.open_home(harness.lead_id).status == 200
    text = home_text(harness, harness.lead_id, "Taux de joignabilité")
    # Default period: the last 30 days, without the case opened on 10 May; one field a figure.
    assert "*Dossiers ouverts*\\n5" in text and "*Taux de joignabilité*\\n50 %" in text
    assert "clients joints ÷ dossiers où au moins une tentative" not in text  # definitions are in the modal
    assert "Vincent Vendeur" in text and "Recommandation" in text
    assert "Prévoyance (MAIF : 1)" in text and "Relance : 1 faites, 0 à venir, 1 en retard" in text
    home_text(harness, harness.lead_id, "slack_file")  # let the picture's upload end before clicking
    assert harness.click(harness.lead_id, harness.slack.home(harness.lead_id), DEFINITIONS).status == 200
    modal = harness.slack.wait_for(lambda: harness.slack.open_modal(harness.lead_id))
    definitions = json.dumps(modal.content, ensure_ascii=False)
    assert "Définitions" in definitions and "clients joints ÷ dossiers où au moins une tentative" in definitions
    assert "*Clôtures par motif*" in definitions


def test_lead_home_puts_late_callbacks_and_actions_first_each_linking_to_its_thread(harness):
    data = programme_data_set(harness.engine)
    late = Factory(harness.engine).case(client_file(number="C8", last_name="ClientC8"),
                                        [contract(number="AUTO-C8", seller=COLLEAGUE[1])], agent=COLLEAGUE[1])
    apply(harness.engine, late, COLLEAGUE[1], at(17), cmd.StartCall(COLLEAGUE[1]),
          cmd.RecordAttempt(AttemptOutcome.callback, callback_at=at(18, 15)))
    devis_card = harness.post_card(data.tns)  # its devis was due on 17 June
    callback_card = harness.post_card(late)
    harness.open_home(harness.lead_id)
    text = home_text(harness, harness.lead_id, "slack_file")
    order = ["À décider aujourd'hui", "Rappels en retard (1)", "ClientC8", "Actions en retard (1)", "ClientC2",
             "Agents les plus chargés", "Entonnoir en image", "slack_file", "Les chiffres", "Par agent"]
    assert [text.index(part) for part in order] == sorted(text.index(part) for part in order)
    assert f"/archives/{harness.channel}/p{callback_card.ts.replace('.', '')}|Claire ClientC8>" in text
    assert f"/archives/{harness.channel}/p{devis_card.ts.replace('.', '')}|Claire ClientC2>" in text
    assert "Camille Collègue : 2" in text  # C4 and C8 are open


def test_the_funnel_picture_is_uploaded_once_a_day_into_the_leads_dm_and_shown_by_its_file(harness):
    programme_data_set(harness.engine)
    harness.open_home(harness.lead_id)
    (file_id,) = harness.slack.wait_for(lambda: image_files(harness, harness.lead_id))
    assert harness.slack.files[file_id]["content"].startswith(b"\x89PNG")
    (shared,) = [m for m in harness.slack.channel_messages(lead_dm(harness)) if m.files]
    assert shared.files[0]["id"] == file_id
    # Published before the upload (the event's work is not held up by it), then again with the picture.
    before, after = (json.dumps(c.args["view"], ensure_ascii=False) for c in harness.slack.calls_to("views.publish"))
    assert "arrive dans un instant" in before and "slack_file" not in before and file_id in after
    publishes = len(harness.slack.calls_to("views.publish"))

    harness.open_home(harness.lead_id)  # the same day: the first publish already shows it, nothing uploaded
    harness.slack.wait_for(lambda: len(harness.slack.calls_to("views.publish")) > publishes)
    assert image_files(harness, harness.lead_id) == [file_id]
    assert len(harness.slack.calls_to("files.getUploadURLExternal")) == 1

    with time_machine.travel(NOW + timedelta(days=1), tick=True):  # the next day: yesterday's, then today's
        harness.open_home(harness.lead_id)
        first = harness.slack.wait_for(lambda: harness.slack.calls_to("views.publish")[publishes + 1:])
        assert f'"id": "{file_id}"' in json.dumps(first[0].args["view"])
        (today,) = harness.slack.wait_for(lambda: [f for f in image_files(harness, harness.lead_id) if f != file_id])
    assert len(harness.slack.calls_to("files.getUploadURLExternal")) == 2 and today in harness.slack.files


def test_lead_picks_another_period_and_the_figures_follow(harness):
    programme_data_set(harness.engine)
    harness.open_home(harness.lead_id)
    home_text(harness, harness.lead_id, "slack_file")
    home = harness.slack.home(harness.lead_id)
    assert harness.click(harness.lead_id, home, PERIOD_SELECT, "three_months").status == 200
    text = home_text(harness, harness.lead_id, "*Dossiers ouverts*\\n6")  # the case opened in May too
    assert "1 avril 2026 au 19 juin 2026" in text
    harness.slack.wait_for(lambda: len(harness.slack.calls_to("files.getUploadURLExternal")) == 2)  # its picture


def test_agent_home_lists_callbacks_due_before_passed_m3_dates_with_a_link_to_the_thread(harness):
    data = programme_data_set(harness.engine)
    callback = Factory(harness.engine).case(client_file(number="C7", last_name="ClientC7"),
                                            [contract(number="AUTO-C7", seller=COLLEAGUE[1])], agent=COLLEAGUE[1])
    apply(harness.engine, callback, COLLEAGUE[1], at(17), cmd.StartCall(COLLEAGUE[1]),
          cmd.RecordAttempt(AttemptOutcome.callback, callback_at=at(18, 15)))
    card = harness.post_card(data.waiting)

    harness.open_home(harness.colleague_id)
    text = home_text(harness, harness.colleague_id, "Mes dossiers M+3")
    queue = text[text.index("À traiter, les plus urgents"):]
    assert queue.index("ClientC7") < queue.index("ClientC4")  # the callback due comes first
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


def test_agent_home_starts_with_today_callbacks_callable_cases_and_actions_due(harness):
    data = programme_data_set(harness.engine)
    martinique = Factory(harness.engine).case(
        client_file(number="C9", last_name="ClientC9", postcode="97200", phone="+596696112233",
                    address="1 rue Victor Hugo 97200 Fort-de-France"),
        [contract(number="AUTO-C9", seller=COLLEAGUE[1])], agent=COLLEAGUE[1])
    # Booked yesterday at 11:30 in Martinique, for today 16:30 in Paris (10:30 there).
    apply(harness.engine, martinique, COLLEAGUE[1], at(18, 17), cmd.StartCall(COLLEAGUE[1]),
          cmd.RecordAttempt(AttemptOutcome.callback, callback_at=at(19, 16)))
    capped = Factory(harness.engine).case(client_file(number="C10", last_name="ClientC10"),
                                          [contract(number="AUTO-C10", seller=COLLEAGUE[1])], agent=COLLEAGUE[1])
    apply(harness.engine, capped, COLLEAGUE[1], at(15), cmd.StartCall(COLLEAGUE[1]))
    for day_ in (15, 16, 17, 18):  # the legal cap: 4 attempts in 30 days
        apply(harness.engine, capped, COLLEAGUE[1], at(day_), cmd.RecordAttempt(AttemptOutcome.no_answer))
    card = harness.post_card(data.waiting)

    harness.open_home(harness.colleague_id)
    text = home_text(harness, harness.colleague_id, "Aujourd'hui")
    today = text[text.index("Aujourd'hui"):text.index("À traiter, les plus urgents")]
    assert "16:30 (10:30 heure du client) — Claire ClientC9" in today
    # 14:00 on a Friday: C4 may be called; C10 reached the legal cap; C9 waits for its time, 16:30.
    callable_now = today[today.index("À appeler maintenant"):]
    assert f"p{card.ts.replace('.', '')}|Claire ClientC4>" in callable_now
    assert "ClientC10" not in callable_now and "ClientC9" not in callable_now and "ClientC10" in text

    harness.open_home(harness.agent_id)
    text = home_text(harness, harness.agent_id, "Aujourd'hui")
    assert "Relance, prévue le 17 juin 2026" in text[:text.index("À traiter, les plus urgents")]


def test_agent_today_follows_the_clock_out_of_the_legal_hours(harness):
    programme_data_set(harness.engine)
    with time_machine.travel(datetime(2026, 6, 19, 11, 30, tzinfo=UTC), tick=True):  # 13:30 in Lyon: lunch
        harness.open_home(harness.colleague_id)
        text = home_text(harness, harness.colleague_id, "Aujourd'hui")
    assert "À appeler maintenant" not in text and "ClientC4" in text  # still in his queue below


def _row(i: int, **extra: object) -> TodayRow:
    return TodayRow(case_id=i, client=f"Client {i}", agent=f"agent{i}@agence.fr", channel="C1", ts=f"{i}.0",
                    **extra)


def test_homes_stay_within_slacks_100_blocks():
    figures = Figures(Counter({("opened",): 3, ("attempted",): 2, ("reached",): 1}))
    many_agents = {f"agent{i}@agence.fr": figures for i in range(80)}
    dashboard = Dashboard(Period(date(2026, 6, 1), date(2026, 6, 30), "month"), date(2026, 6, 19), figures,
                          many_agents, {origin.value: figures for origin in Origin})
    late = [_row(i, at=NOW, due_on=date(2026, 6, 1), kind=ActionKind.devis.value) for i in range(5)]
    attention = LeadAttention(late, 400, late, 300, [(f"agent{i}@agence.fr", 90 - i) for i in range(5)])
    waiting = OutOfTimeSection([WaitingCase(i, f"Client {i}", date(2026, 3, 1)) for i in range(10)], 250, 7)
    lead = lead_home(dashboard, {}, waiting, attention=attention, chart="F123")["blocks"]
    text = json.dumps(lead, ensure_ascii=False)
    assert len(lead) <= MAX_HOME_BLOCKS and "Client 9" in text and '"id": "F123"' in text
    assert "et 395 autre(s)" in text and "et 295 autre(s)" in text
    assert "autres (voir l'export CSV)" in text  # agents cut, and said so; every origin still listed
    assert all(label("origin", origin.value) in text for origin in Origin)
    rows = [CaseRow(i, f"Client {i}", State.preparation, date(2026, 6, 2)) for i in range(1, 300)]
    today = AgentToday(frozenset(), frozenset(), {}, {"calls": 0})
    agenda = AgentAgenda([_row(i, at=NOW) for i in range(10)], [_row(i) for i in range(10)],
                         [_row(i, due_on=date(2026, 6, 19), kind=ActionKind.rdv.value) for i in range(10)])
    blocks = agent_home(rows, today, agenda)["blocks"]
    assert len(blocks) <= MAX_HOME_BLOCKS and "de plus" in json.dumps(blocks, ensure_ascii=False)
    assert "Aujourd'hui" in json.dumps(blocks[:3], ensure_ascii=False)
