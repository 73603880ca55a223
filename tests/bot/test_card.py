"""The status card as a line of the lead's board: the booked callback (with the client's own clock when he
lives overseas), the attempts against the legal cap, the consent once asked, the plan's next action and an
overdue mark; never the client's phone, e-mail or address; at most ten fields a section.

The layout is checked on the pure view; what a click changes, through the real Bolt pipeline and the Slack
stand-in; the overdue mark, brought by the scheduler's reminder under a travelled clock, on both databases.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

import wording
from bot.notifier import SlackNotifier
from bot.views import ids
from bot.views.blocks import Message
from bot.views.card import status_card
from flows.case import Action, ActionKind, ActionStatus, Agreement, Attempt, AttemptOutcome, ClientType, State
from flows.rules import Rules
from service.ticker import Ticker
from tests.bot.driver import CallDriver
from tests.bot.test_call_scenarios import open_case
from tests.bot.test_views import NAMES
from tests.flows.factories import AGENT, NOW, case_at

OVERDUE = wording.t("slack.card.overdue", value="").strip()
# Slack's limit: a section holds at most ten fields.
SECTION_FIELDS = 10


def card_fields(message: Message) -> dict[str, str]:
    """Every field of the card's sections: its bold title -> its value."""
    found = {}
    for block in message.blocks:
        for item in block.get("fields") or []:
            title, _, value = item["text"].partition("\n")
            found[title.strip("*")] = value
    return found


def title(name: str) -> str:
    return wording.t(f"slack.card.{name}")


def action(due_on: date, status: ActionStatus = ActionStatus.todo, kind: ActionKind = ActionKind.rdv) -> Action:
    return Action(kind=kind, due_on=due_on, owner=AGENT, created_at=NOW, created_by=AGENT, status=status)


# --- The booked callback ------------------------------------------------------------------------------------


def test_a_booked_callback_shows_its_day_and_time_in_the_agencys_clock() -> None:
    case = case_at(state=State.scheduled_callback)  # booked for 2 December, 09:30 UTC: 10:30 in Paris
    shown = card_fields(status_card(case, NAMES, now=NOW))[title("callback")]
    assert shown == "mercredi 2 décembre à 10:30"


@pytest.mark.parametrize(("postcode", "client_clock"), [
    ("97400", "13:30 heure du client (La Réunion)"),
    ("97110", "05:30 heure du client (Guadeloupe)"),
])
def test_an_overseas_clients_callback_also_shows_his_own_clock(postcode: str, client_clock: str) -> None:
    case = case_at(state=State.scheduled_callback)
    case.client.postcode = postcode
    shown = card_fields(status_card(case, NAMES, now=NOW))[title("callback")]
    assert shown == f"mercredi 2 décembre à 10:30 — {client_clock}"


def test_no_callback_field_once_the_client_answered() -> None:
    case = case_at(state=State.scheduled_callback)
    case.state = State.admin_profile_update  # the callback came and the client picked up
    assert title("callback") not in card_fields(status_card(case, NAMES, now=NOW))


# --- Attempts against the legal cap ------------------------------------------------------------------------


def test_attempts_count_against_the_legal_cap_within_its_window() -> None:
    case = case_at(state=State.contact_attempt)  # one unanswered attempt at NOW
    case.client_attempts.append(Attempt(at=NOW + timedelta(hours=2), by=AGENT, outcome=AttemptOutcome.no_answer))
    case.client_attempts.append(Attempt(at=NOW - timedelta(days=31), by=AGENT, outcome=AttemptOutcome.no_answer))
    shown = card_fields(status_card(case, NAMES, now=NOW + timedelta(hours=3)))[title("attempts")]
    assert shown == "2/4 sur 30 jours"  # the attempt of 31 days ago no longer counts
    assert card_fields(status_card(case, NAMES, now=NOW + timedelta(hours=3), rules=Rules(max_attempts=3))
                       )[title("attempts")] == "2/3 sur 30 jours"


def test_attempts_show_zero_before_the_first_call() -> None:
    assert card_fields(status_card(case_at(), NAMES, now=NOW))[title("attempts")] == "0/4 sur 30 jours"


# --- Consent ---------------------------------------------------------------------------------------------


def test_consent_shows_only_once_asked() -> None:
    case = case_at(state=State.commercial_rebound)
    case.agreement = None
    assert title("consent") not in card_fields(status_card(case, NAMES, now=NOW))

    case.agreement = Agreement(at=NOW, by=AGENT, wording="…")
    assert card_fields(status_card(case, NAMES, now=NOW))[title("consent")] == "Accord donné le 1 décembre 2026"
    case.agreement = Agreement(at=NOW, by=AGENT, wording="…", agreed=False)
    assert card_fields(status_card(case, NAMES, now=NOW))[title("consent")] == "Accord refusé le 1 décembre 2026"
    case.agreement = Agreement(at=NOW, by=AGENT, wording="…", withdrawn_at=NOW + timedelta(days=1))
    assert card_fields(status_card(case, NAMES, now=NOW))[title("consent")] == "Accord retiré le 2 décembre 2026"


# --- Next action and overdue mark --------------------------------------------------------------------------


def test_the_next_action_is_the_earliest_still_to_do_with_its_date() -> None:
    case = case_at(state=State.action_plan)
    case.actions = [action(date(2026, 12, 2), ActionStatus.done), action(date(2026, 12, 3), ActionStatus.cancelled),
                    action(date(2026, 12, 10), kind=ActionKind.devis), action(date(2026, 12, 8))]
    assert card_fields(status_card(case, NAMES, now=NOW))[title("next_action")] == "Rendez-vous pour le 8 décembre 2026"
    case.actions = [action(date(2026, 12, 2), ActionStatus.done)]
    assert title("next_action") not in card_fields(status_card(case, NAMES, now=NOW))


def test_an_action_is_marked_overdue_once_its_day_has_passed_in_paris() -> None:
    case = case_at(state=State.closed)
    case.actions = [action(date(2026, 12, 4))]
    on_the_day = datetime(2026, 12, 4, 22, 59, tzinfo=UTC)  # 23:59 in Paris
    assert OVERDUE not in card_fields(status_card(case, NAMES, now=on_the_day))[title("next_action")]
    next_day = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)  # midnight in Paris
    assert card_fields(status_card(case, NAMES, now=next_day))[title("next_action")].endswith(OVERDUE)


def test_a_callback_is_marked_overdue_once_its_time_has_passed() -> None:
    case = case_at(state=State.scheduled_callback)
    at = case.callback_at
    assert OVERDUE not in card_fields(status_card(case, NAMES, now=at))[title("callback")]
    assert card_fields(status_card(case, NAMES, now=at + timedelta(minutes=1)))[title("callback")].endswith(OVERDUE)


# --- What the card never shows, and its shape ---------------------------------------------------------------


def _full_case(state: State, client_type: ClientType, postcode: str):
    """A case showing every field the card can show at `state`."""
    case = case_at(client_type, 5, state)
    case.client.postcode = postcode
    case.callback_at = NOW + timedelta(days=1)
    case.agreement = case.agreement or Agreement(at=NOW, by=AGENT, wording="…")
    case.actions.append(action(date(2026, 11, 30)))
    return case


@pytest.mark.parametrize("client_type", list(ClientType))
@pytest.mark.parametrize("state", list(State))
def test_the_card_never_shows_a_phone_email_or_address_and_keeps_each_section_within_ten_fields(
    state: State, client_type: ClientType
) -> None:
    case = _full_case(state, client_type, "97400")
    client = case.client
    personal = {client.phone, client.email, client.address, client.siren}
    personal |= {value for check in case.profile.values() for value in (check.old_value, check.new_value)
                 if check.field in ("phone", "email", "address", "siren")}
    personal.discard(None)
    shown = status_card(case, NAMES, now=NOW + timedelta(days=3))
    rendered = json.dumps({"text": shown.text, "blocks": shown.blocks}, ensure_ascii=False)
    assert personal and not [value for value in personal if value in rendered]
    assert client.phone[-8:] not in rendered  # nor the number's digits in another format
    sections = [block["fields"] for block in shown.blocks if block.get("fields")]
    assert len(sections) == 2 and all(len(fields) <= SECTION_FIELDS for fields in sections)


# --- Through Slack: clicks and the scheduler ---------------------------------------------------------------

# Tuesday 1 December 2026, 10:30 in Paris: a legal calling slot.
CALL_TIME = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def legal_calling_time():
    with time_machine.travel(CALL_TIME, tick=True):
        yield


def _shown(call: CallDriver) -> dict[str, str]:
    return card_fields(Message(text=call.card().text, blocks=call.card().blocks))


def test_a_callback_booked_through_slack_reaches_the_card_with_the_overseas_clients_clock(harness, factory):
    # 12:30 in Paris is 15:30 in La Réunion, a legal slot there; the callback is his 12:00 (Paris' 09:00).
    with time_machine.travel(datetime(2026, 12, 1, 11, 30, tzinfo=UTC), tick=True):
        case_id = open_case(harness, factory, postcode="97400")
        call = CallDriver(harness, case_id, harness.agent_id)
        call.click("step:preparation", ids.START_CALL)
        call.click("step:contact", ids.ATTEMPT, "callback")
        call.submit({ids.INPUT_CALLBACK_AT: int(datetime(2026, 12, 2, 8, 0, tzinfo=UTC).timestamp())})
        shown = _shown(call)

    assert shown[title("callback")] == "mercredi 2 décembre à 09:00 — 12:00 heure du client (La Réunion)"
    assert shown[title("attempts")] == "1/4 sur 30 jours"
    assert title("consent") not in shown and title("next_action") not in shown


def _up_to_the_rebound(harness, factory) -> CallDriver:
    """A client reached at the first attempt, his file and contracts done: the consent question comes next."""
    call = CallDriver(harness, open_case(harness, factory), harness.agent_id)
    call.click("step:preparation", ids.START_CALL)
    call.click("step:contact", ids.ATTEMPT, "available")
    call.profile()
    call.contracts()
    return call


@pytest.mark.usefixtures("legal_calling_time")
def test_the_consent_and_the_next_action_reach_the_card_as_they_are_recorded(harness, factory):
    call = _up_to_the_rebound(harness, factory)
    assert title("consent") not in _shown(call)
    call.click("step:rebound", ids.AGREEMENT, 0, "yes")
    assert _shown(call)[title("consent")] == "Accord donné le 1 décembre 2026"
    call.rebound()
    call.click("step:action_plan", ids.ACTION_ADD, "rdv")
    call.submit({ids.INPUT_DUE: "2026-12-08", ids.INPUT_PURPOSE: ["bilan_global"]})

    shown = _shown(call)
    assert shown[title("next_action")] == "Rendez-vous pour le 8 décembre 2026"
    assert shown[title("attempts")] == "1/4 sur 30 jours"
    assert OVERDUE not in str(call.card().blocks)


def test_the_scheduler_brings_the_overdue_mark_with_one_card_edit(harness, factory):
    with time_machine.travel(CALL_TIME, tick=True):
        call = _up_to_the_rebound(harness, factory)
        call.rebound()
        call.plan_and_close(date(2026, 12, 8))
        card_ts = call.card().ts
    ticker = Ticker(harness.engine, SlackNotifier(harness.settings), harness.settings)

    def card_edits() -> int:
        return sum(1 for c in harness.slack.calls_to("chat.update") if c.args.get("ts") == card_ts)

    def tick_at(moment: datetime) -> None:
        with time_machine.travel(moment, tick=True):
            ticker.tick()
            harness.drain()

    before = card_edits()
    tick_at(datetime(2026, 12, 8, 9, 5, tzinfo=UTC))  # the action's day: due, not late
    assert card_edits() == before and OVERDUE not in str(call.card().blocks)

    tick_at(datetime(2026, 12, 9, 9, 5, tzinfo=UTC))  # the next business morning: the reminder says overdue
    assert card_edits() == before + 1
    assert _shown(call)[title("next_action")] == f"Rendez-vous pour le 8 décembre 2026\n{OVERDUE}"

    tick_at(datetime(2026, 12, 10, 9, 5, tzinfo=UTC))  # still overdue: the card already says so
    assert card_edits() == before + 1
