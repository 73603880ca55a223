"""The reminder rows follow the case: created once, moved, cancelled; missing ones are swept in; a reminder
that fails is retried later and set aside; a case held by an agent is not waited for."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from flows.case import ActionKind, Aim, AttemptOutcome, State
from flows.commands import AddAction, RecordAttempt
from flows.engine import handle
from service.agency_hours import AgencyHours
from service.digest import AgentLoad, build_digest
from service.reminders import (
    ACTION,
    CALLBACK,
    CALLBACK_RETURN,
    CANCELLED,
    FAILED,
    FIRED,
    PENDING,
    Reminder,
    ReminderConfig,
    sync_reminders,
)
from service.ticker import Ticker
from service.unit_of_work import unit_of_work
from storage.repository import load_case
from storage.tables import Action as ActionRow
from storage.tables import CallAttempt, Client, M3Case
from tests.scheduler.clock import paris, rows
from tests.scheduler.conftest import AGENT, OWNER
from tests.scheduler.recording import RecordingNotifier

TUE = paris(9, 10)  # Tuesday 9 May 2028, 10:00 in Paris


def _keys(engine, status: str) -> list[tuple[str, object]]:
    return [(r.kind, r.due_at) for r in rows(engine, status)]


def test_sync_twice_creates_each_reminder_once(engine, settings, cases):
    case_id = cases.callback(paris(9, 15), now=TUE)
    cases.sync(case_id, TUE)
    assert _keys(engine, PENDING) == [(CALLBACK, paris(9, 14, 55)), (CALLBACK_RETURN, paris(9, 15))]


def test_callback_booked_again_moves_its_reminders(engine, settings, cases):
    case_id = cases.callback(paris(9, 15), now=TUE)
    with unit_of_work(engine, case_id=case_id, actor=AGENT, now=TUE) as uow:
        uow.case.callback_at = paris(10, 11)
        sync_reminders(uow.session, uow.case, TUE, settings)
    assert _keys(engine, PENDING) == [(CALLBACK, paris(10, 10, 55)), (CALLBACK_RETURN, paris(10, 11))]
    assert _keys(engine, CANCELLED) == [(CALLBACK, paris(9, 14, 55)), (CALLBACK_RETURN, paris(9, 15))]


def test_callback_taken_early_by_the_agent_cancels_its_reminders(engine, settings, cases, notifier):
    case_id = cases.callback(paris(9, 15), now=TUE)
    with unit_of_work(engine, case_id=case_id, actor=AGENT, now=TUE) as uow:
        uow.case.state = State.contact_attempt
        sync_reminders(uow.session, uow.case, TUE, settings)
    Ticker(engine, notifier, settings).tick(paris(9, 16))
    assert _keys(engine, FIRED) == [("morning", paris(9, 9))]
    assert [c.event for c in notifier.calls] == ["digest"]


def test_new_action_without_id_is_saved_then_reminded(engine, settings, cases):
    case_id, _ = cases.with_actions([], now=TUE)
    with unit_of_work(engine, case_id=case_id, actor=AGENT, now=TUE) as uow:
        # Administrative (documents to bring): the case has no recorded consent, which a commercial one needs.
        handle(uow.case, AddAction(ActionKind.rdv, date(2028, 5, 13), AGENT, aim=Aim.administrative), actor=AGENT,
               now=TUE,
               rules=settings.rules())
        sync_reminders(uow.session, uow.case, TUE, settings)
    # Saturday 13 May: the reminder waits for Monday's opening.
    assert _keys(engine, PENDING) == [(ACTION, paris(15, 9))]
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(ActionRow)).scalar() == 1  # saved once


def test_sweep_creates_the_reminders_a_case_is_missing(engine, settings, cases, notifier):
    cases.callback(paris(9, 15), now=TUE)
    with Session(engine) as session, session.begin():
        session.execute(sa.delete(Reminder))
    report = Ticker(engine, notifier, settings).tick(TUE)
    assert report.swept == 1
    assert [(k, d) for k, d in _keys(engine, PENDING) if k != "morning"] == [
        (CALLBACK, paris(9, 14, 55)), (CALLBACK_RETURN, paris(9, 15))
    ]
    assert Ticker(engine, notifier, settings).tick(TUE).swept == 0


def test_callback_reminder_offers_closing_after_enough_unanswered_attempts(engine, settings, cases, notifier):
    unreachable = cases.callback(paris(9, 15), now=TUE)
    reachable = cases.callback(paris(9, 15), now=TUE)
    with Session(engine) as session, session.begin():
        client_id = session.get(M3Case, unreachable).client_id
        session.add_all([
            CallAttempt(client_id=client_id, case_id=unreachable, at=TUE - timedelta(days=n), by=AGENT,
                        outcome=AttemptOutcome.no_answer.value)
            for n in (1, 2, 3)
        ])
    Ticker(engine, notifier, settings).tick(paris(9, 14, 55))
    offers = {c.case_id: c.detail[1:] for c in notifier.calls if c.event == "callback_due"}
    assert offers == {unreachable: (3, True), reachable: (0, False)}


def test_callback_return_puts_the_case_back_in_contact_attempt_through_the_engine(engine, settings, cases, notifier):
    case_id = cases.callback(paris(9, 15), now=TUE)
    Ticker(engine, notifier, settings).tick(paris(9, 15))
    with Session(engine) as session:
        case = load_case(session, case_id, lock=False)
        events = session.execute(sa.text("SELECT event, actor FROM audit_entry WHERE case_id = :c"), {"c": case_id}).all()
    assert case.state is State.contact_attempt
    assert ("state_changed", "scheduler") in events and ("callback_due", "scheduler") in events
    # The agent can now record the attempt's outcome.
    handle(case, RecordAttempt(AttemptOutcome.no_answer), actor=AGENT, now=paris(9, 15, 5), rules=settings.rules())


class _Failing(RecordingNotifier):
    def action_due(self, *args, **kwargs):
        raise RuntimeError("Mme Claire Martin 06 12 34 56 78")  # what a careless message could carry


def test_failing_reminder_is_retried_later_then_set_aside_without_personal_data_in_logs(
    engine, settings, cases, caplog
):
    cases.with_actions([(ActionKind.relance, date(2028, 5, 9))], now=TUE)
    ticker = Ticker(engine, _Failing(), settings)
    caplog.set_level(logging.INFO)
    at = TUE
    for _ in range(ReminderConfig.from_settings(settings).max_attempts):
        assert ticker.tick(at).failed == 1
        at += timedelta(hours=1)
    [action] = [r for r in rows(engine) if r.kind == ACTION]
    assert (action.status, action.attempts, action.last_error) == (FAILED, 5, "RuntimeError")
    assert ticker.tick(at).failed == 0
    assert "Martin" not in caplog.text and "06 12" not in caplog.text


def test_case_held_by_an_agent_is_not_waited_for(pg_engine, settings, pg_cases, notifier):
    case_id = pg_cases.callback(paris(9, 15), now=TUE)
    ticker = Ticker(pg_engine, notifier, settings)
    with Session(pg_engine) as agent, agent.begin():
        agent.exec(sa.select(M3Case).where(M3Case.id == case_id).with_for_update())
        report = ticker.tick(paris(9, 15))
    assert (report.busy, report.fired) == (2, 1)  # both callback reminders wait; the morning fired
    assert ticker.tick(paris(9, 15, 1)).fired == 2


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (paris(5, 17, 59), paris(5, 17, 59)),  # Friday, open
        (paris(5, 18), paris(9, 9)),  # Friday closing, Monday 8 May is a holiday
        (paris(6, 10), paris(9, 9)),  # Saturday
        (paris(9, 8, 59), paris(9, 9)),  # Tuesday before opening
        (paris(25, 10), paris(26, 9)),  # Ascension Thursday 25 May 2028
    ],
)
def test_next_open_slot_skips_closing_hours_weekends_and_holidays(at, expected):
    assert AgencyHours.parse("Europe/Paris", "09:00", "18:00").next_open(at) == expected


def test_digest_counts_open_cases_per_step_and_what_is_overdue_per_agent(engine, settings, cases):
    cases.callback(paris(8, 11), now=paris(5, 9), client_requested=True)  # overdue on Tuesday
    cases.callback(paris(9, 15), now=paris(5, 9))  # later today: not overdue
    cases.with_actions([(ActionKind.relance, date(2028, 5, 5)), (ActionKind.devis, date(2028, 5, 9))], now=paris(5, 9))
    cases.unopened(date(2028, 5, 9))
    with Session(engine) as session:
        digest = build_digest(session, day=date(2028, 5, 9), now=TUE, opened=[])
    assert digest.per_state == {State.scheduled_callback.value: 2, State.action_plan.value: 1}
    assert (digest.overdue_callbacks, digest.overdue_actions) == (1, 1)
    assert digest.per_agent == [AgentLoad(AGENT, 3, 1, 0), AgentLoad(OWNER, 0, 0, 1)]


def test_an_opposition_stops_the_commercial_reminders_not_the_administrative_ones(engine, settings, cases, notifier):
    case_id, (devis, relance) = cases.with_actions(
        [(ActionKind.devis, date(2028, 5, 9)), (ActionKind.relance, date(2028, 5, 9))], now=paris(8, 10))
    with Session(engine) as session, session.begin():
        session.get(ActionRow, relance).aim = Aim.administrative.value
        client = session.get(Client, session.get(M3Case, case_id).client_id)
        client.opposition_at = paris(8, 11)  # set from another case of the client, after the plan was made
    ticker = Ticker(engine, notifier, settings)
    ticker.tick(TUE)
    reminded = [c for c in notifier.calls if c.event == "action_due"]
    assert len(reminded) == 1
    statuses = {r.action_id: r.status for r in rows(engine) if r.kind == ACTION}
    assert statuses == {devis: CANCELLED, relance: FIRED}
    # The devis stays to do, barred: the safety sweep does not bring its reminder back.
    assert ticker.tick(TUE + timedelta(hours=1)).swept == 0
    assert [c for c in notifier.calls if c.event == "action_due"] == reminded
