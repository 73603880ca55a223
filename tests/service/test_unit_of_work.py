"""One event, one transaction: all of it commits together, or nothing does."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, func, select

from flows.case import State
from flows.commands import StartCall
from flows.engine import Refused, handle
from flows.rules import Rules
from service.unit_of_work import unit_of_work
from storage import tables
from storage.queries import mark_opened
from tests.conftest import NOW

AGENT = "vendeur@agence.fr"


def start_call(engine, case_id: int, *, request_key: str | None = None, caller: str = AGENT) -> bool:
    """Apply StartCall the way a Slack listener does; returns whether the event was handled."""
    with unit_of_work(engine, case_id=case_id, actor=AGENT, request_key=request_key, now=NOW) as uow:
        if uow.duplicate:
            return False
        uow.record(handle(uow.case, StartCall(caller=caller), actor=AGENT, now=NOW, rules=Rules()))
        uow.enqueue("chat.update", {"channel": "C1", "text": "appel en cours"}, dedupe_key=f"card-{case_id}-1")
    return True


def counts(engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (tables.AuditEntry, tables.Outbox, tables.ProcessedRequest)
        }


def state(engine, case_id: int) -> str:
    with Session(engine) as session:
        return session.get(tables.M3Case, case_id).state


def test_clean_exit_commits_case_audit_outbox_and_request_key_together(engine, factory):
    case_id = factory.case()

    assert start_call(engine, case_id, request_key="req-1")

    assert state(engine, case_id) == State.contact_attempt
    written = counts(engine)
    assert (written["Outbox"], written["ProcessedRequest"]) == (1, 1) and written["AuditEntry"] >= 1
    with Session(engine) as session:
        entries = session.exec(select(tables.AuditEntry)).all()
        assert {e.event for e in entries} >= {"call_started"}
        assert all(e.actor == AGENT and e.case_id == case_id and e.client_id is not None for e in entries)
        assert session.exec(select(tables.Outbox)).one().case_id == case_id


def test_refused_event_writes_nothing(engine, factory):
    case_id = factory.case()
    before = counts(engine)

    with pytest.raises(Refused):
        start_call(engine, case_id, request_key="req-1", caller="")

    assert state(engine, case_id) == State.preparation
    assert counts(engine) == before


def test_failure_after_the_case_changed_rolls_everything_back(engine, factory):
    case_id = factory.case()
    before = counts(engine)

    with pytest.raises(RuntimeError), unit_of_work(engine, case_id=case_id, actor=AGENT, request_key="req-1", now=NOW) as uow:
        uow.record(handle(uow.case, StartCall(caller=AGENT), actor=AGENT, now=NOW, rules=Rules()))
        uow.enqueue("chat.postMessage", {"channel": "C1", "text": "x"})
        uow.session.flush()
        raise RuntimeError("Slack view could not be rendered")

    assert state(engine, case_id) == State.preparation
    assert counts(engine) == before


def test_same_request_key_twice_is_a_no_op(engine, factory):
    case_id = factory.case()
    assert start_call(engine, case_id, request_key="slack-retry-1")
    after_first = counts(engine)

    assert not start_call(engine, case_id, request_key="slack-retry-1")

    assert counts(engine) == after_first
    assert state(engine, case_id) == State.contact_attempt


def test_opening_a_case_inside_a_unit_of_work_survives_the_save(engine, factory):
    case_id = factory.case(opened=False)
    with unit_of_work(engine, case_id=case_id, actor=AGENT, now=NOW) as uow:
        assert mark_opened(uow.session, [case_id], now=NOW, actor=AGENT) == [case_id]

    with Session(engine) as session:
        assert session.get(tables.M3Case, case_id).opened_at == NOW


def test_concurrent_twins_of_one_request_are_handled_once(engine, factory):
    case_id = factory.case()
    handled: list[bool] = []
    start = threading.Barrier(2)

    def click() -> None:
        start.wait()
        handled.append(start_call(engine, case_id, request_key="double-click"))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(handled) == [False, True]
    assert counts(engine)["Outbox"] == 1
