"""Case lists, traces, and opening due cases exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, select

from storage.queries import case_trace, list_cases, mark_out_of_time, open_by_hand
from storage.tables import AuditEntry, M3Case
from storage.worklists import out_of_time_cases, waiting_cases
from tests.conftest import NOW, client_file, contract
from tests.scheduler.recording import RecordingNotifier
from tests.support.opening import open_due_on


def test_open_due_opens_each_due_case_once(engine, factory):
    due = factory.case(m3_date=date(2026, 6, 1), opened=False)
    later = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 7, 1), opened=False)
    notifier = RecordingNotifier()

    first = open_due_on(engine, date(2026, 6, 15), now=NOW, notifier=notifier)
    second = open_due_on(engine, date(2026, 6, 15), now=NOW, notifier=notifier)

    assert (first.due, second.due) == ([due], [])
    assert [(call.event, call.case_id) for call in notifier.calls] == [("case_opened", due)]
    with Session(engine) as session:
        assert session.get(M3Case, due).opened_at == NOW and session.get(M3Case, due).state == "preparation"
        assert session.get(M3Case, later).opened_at is None
        assert session.exec(select(AuditEntry.event).where(AuditEntry.case_id == due)).all() == ["case_opened"]


def test_first_run_lists_old_cases_as_out_of_time_and_never_opens_them(engine, factory):
    old = factory.case(m3_date=date(2026, 4, 1), opened=False)
    recent = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 6, 1), opened=False)

    first = open_due_on(engine, date(2026, 6, 15), now=NOW)
    again = open_due_on(engine, date(2026, 6, 16), now=NOW + timedelta(days=1))

    assert (first.due, first.out_of_time) == ([recent], [old])
    assert (again.due, again.out_of_time) == ([], [])


def imported_on(engine, case_id: int, day: date) -> None:
    with Session(engine) as session, session.begin():
        session.get(M3Case, case_id).created_at = datetime.combine(day, time(8), tzinfo=UTC)


def test_after_the_first_run_a_case_missed_while_the_bot_was_down_still_opens(engine, factory):
    factory.case(m3_date=date(2026, 6, 1), opened=True)  # an earlier run already happened
    late = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 3, 1), opened=False)
    imported_on(engine, late, date(2026, 1, 5))  # imported in time, its M+3 date missed for months

    assert open_due_on(engine, date(2026, 6, 15), now=NOW).due == [late]


def test_after_the_first_run_a_backlog_imported_late_is_set_aside_not_opened(engine, factory):
    factory.case(m3_date=date(2026, 6, 1), opened=True)
    backlog = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 3, 1),
                           opened=False)  # created on 15 June, three months after its M+3 date

    result = open_due_on(engine, date(2026, 6, 15), now=NOW)

    assert (result.due, result.out_of_time) == ([], [backlog])


def waiting(engine, *, leads: bool, today=date(2026, 6, 15)) -> list[int]:
    with Session(engine) as session:
        return [w.case_id for w in waiting_cases(session, today=today, catch_up_days=30, leads=leads, visible_to=None)]


def test_open_case_offers_due_cases_and_out_of_time_ones_to_leads_only_never_one_to_come(engine, factory):
    factory.case(client_file(number="C0"), [contract(number="OPEN-0")], m3_date=date(2026, 6, 1))  # opened
    due = factory.case(client_file(number="C1"), [contract(number="DUE-1")], m3_date=date(2026, 6, 10),
                       opened=False)
    factory.case(client_file(number="C2"), [contract(number="SOON-2")], m3_date=date(2026, 6, 20), opened=False)
    backlog = factory.case(client_file(number="C3"), [contract(number="OLD-3")], m3_date=date(2026, 2, 1),
                           opened=False)  # not marked yet, but the catch-up rule sets it aside
    marked = factory.case(client_file(number="C4"), [contract(number="OLD-4")], m3_date=date(2026, 1, 1),
                          opened=False)
    with Session(engine) as session, session.begin():
        mark_out_of_time(session, [marked], now=NOW, actor="import")

    assert waiting(engine, leads=False) == [due]
    assert waiting(engine, leads=True) == [marked, backlog, due]


def test_a_lead_opens_an_out_of_time_case_now_and_the_trail_names_him(engine, factory):
    case_id = factory.case(m3_date=date(2026, 1, 1), opened=False)
    with Session(engine) as session, session.begin():
        mark_out_of_time(session, [case_id], now=NOW, actor="import")

    with Session(engine) as session, session.begin():
        refused = open_by(session, case_id, is_lead=False)
    with Session(engine) as session, session.begin():
        opened = open_by(session, case_id, is_lead=True, actor="chef@agence.fr")
    with Session(engine) as session, session.begin():
        again = open_by(session, case_id, is_lead=True)

    assert (refused, opened, again) == ("out_of_time_lead_only", None, "case_already_open")
    with Session(engine) as session:
        assert session.get(M3Case, case_id).opened_at == NOW + timedelta(hours=1)
        entry = session.exec(select(AuditEntry).where(AuditEntry.event == "case_opened")).one()
        assert (entry.actor, entry.data) == ("chef@agence.fr", {"out_of_time": True})
        assert [c.id for c in list_cases(session, state="out_of_time")] == []


def test_nobody_opens_a_case_whose_m3_date_is_to_come(engine, factory):
    case_id = factory.case(m3_date=date(2026, 7, 1), opened=False)
    with Session(engine) as session, session.begin():
        assert open_by(session, case_id, is_lead=True) == "case_not_due"
        assert session.get(M3Case, case_id).opened_at is None


def open_by(session, case_id: int, *, is_lead: bool, actor: str = "agent@agence.fr"):
    return open_by_hand(session, case_id, today=date(2026, 6, 15), catch_up_days=30, is_lead=is_lead,
                        now=NOW + timedelta(hours=1), actor=actor)


def test_waiting_cases_are_listed_as_out_of_time_or_not_due(engine, factory):
    set_aside = factory.case(m3_date=date(2026, 1, 1), opened=False)
    to_come = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 7, 1),
                           opened=False)
    factory.case(client_file(number="C3"), [contract(number="PJ-3")], m3_date=date(2026, 6, 1), opened=False)
    with Session(engine) as session, session.begin():
        mark_out_of_time(session, [set_aside], now=NOW, actor="import")

    with Session(engine) as session:
        assert [c.id for c in list_cases(session, state="out_of_time")] == [set_aside]
        assert [c.id for c in list_cases(session, state="not_due", today=date(2026, 6, 15))] == [to_come]
        assert out_of_time_cases(session, limit=10)[1] == 1


def test_cases_are_listed_and_filtered_by_state_and_agent(engine, factory):
    mine = factory.case(agent="a@agence.fr")
    factory.case(client_file(number="C2"), [contract(number="HAB-2")], agent="b@agence.fr")

    assert [c.id for c in list_cases_of(engine, agent="a@agence.fr")] == [mine]
    assert len(list_cases_of(engine, state="preparation")) == 2
    assert list_cases_of(engine, state="closed") == []


def list_cases_of(engine, **filters):
    with Session(engine) as session:
        return list_cases(session, **filters)


def test_trace_lists_the_case_and_its_audit_trail_in_time_order(engine, factory):
    case_id = factory.case(opened=False)
    open_due_on(engine, date(2026, 6, 15), now=NOW)

    with Session(engine) as session:
        trace = case_trace(session, case_id)

    assert trace["case"]["contracts"][0]["number"] == "AUTO-1"
    assert trace["case"]["opened_at"].startswith("2026-06-15T09:30")
    assert [e["event"] for e in trace["timeline"]] == ["case_opened"]
