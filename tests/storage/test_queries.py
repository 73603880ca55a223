"""Case lists, traces, and opening due cases exactly once."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from storage.queries import case_trace, list_cases, open_due
from storage.tables import AuditEntry, M3Case
from tests.conftest import NOW, client_file, contract


def test_open_due_opens_each_due_case_once(engine, factory):
    due = factory.case(m3_date=date(2026, 6, 1), opened=False)
    later = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 7, 1), opened=False)
    hooked: list[int] = []

    def on_open(_session, case_id: int) -> None:
        hooked.append(case_id)

    first = open_due(engine, date(2026, 6, 15), catch_up_days=30, now=NOW, on_open=on_open)
    second = open_due(engine, date(2026, 6, 15), catch_up_days=30, now=NOW)

    assert (first.due, second.due, hooked) == ([due], [], [due])
    with Session(engine) as session:
        assert session.get(M3Case, due).opened_at == NOW and session.get(M3Case, due).state == "preparation"
        assert session.get(M3Case, later).opened_at is None
        assert session.exec(select(AuditEntry.event).where(AuditEntry.case_id == due)).all() == ["case_opened"]


def test_first_run_lists_old_cases_as_out_of_time_and_never_opens_them(engine, factory):
    old = factory.case(m3_date=date(2026, 4, 1), opened=False)
    recent = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 6, 1), opened=False)

    first = open_due(engine, date(2026, 6, 15), catch_up_days=30, now=NOW)
    again = open_due(engine, date(2026, 6, 16), catch_up_days=30, now=NOW + timedelta(days=1))

    assert (first.due, first.out_of_time) == ([recent], [old])
    assert (again.due, again.out_of_time) == ([], [])


def test_after_the_first_run_a_late_case_still_opens(engine, factory):
    factory.case(m3_date=date(2026, 6, 1), opened=True)  # an earlier run already happened
    late = factory.case(client_file(number="C2"), [contract(number="HAB-2")], m3_date=date(2026, 3, 1), opened=False)

    assert open_due(engine, date(2026, 6, 15), catch_up_days=30, now=NOW).due == [late]


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
    open_due(engine, date(2026, 6, 15), catch_up_days=30, now=NOW)

    with Session(engine) as session:
        trace = case_trace(session, case_id)

    assert trace["case"]["contracts"][0]["number"] == "AUTO-1"
    assert trace["case"]["opened_at"].startswith("2026-06-15T09:30")
    assert [e["event"] for e in trace["timeline"]] == ["case_opened"]
