"""Real scheduler processes: two of them racing over the same due reminders on PostgreSQL, and one killed
(SIGKILL) in the middle of a reminder then replaced, on both backends. Each reminder must be delivered exactly once: fired
once and one outbox row (the test notifier writes its rows without a dedupe key, so a second firing would
show as a second row)."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import Counter
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from flows.case import ActionKind
from service.reminders import ACTION, CALLBACK, CALLBACK_RETURN, FIRED, PENDING, Reminder
from storage.tables import AuditEntry, Outbox
from tests.scheduler.clock import paris
from tests.scheduler.workers import tick_then_hang, tick_until_done

SPAWN = multiprocessing.get_context("spawn")
CHILD_TIMEOUT = 120  # seconds; a hung child fails the test instead of hanging the suite
NOW = paris(9, 10)  # Tuesday 9 May 2028, 10:00 in Paris: the agency is open


def _url(engine, **query: str) -> str:
    return engine.url.update_query_dict(query).render_as_string(hide_password=False)


def _deliveries(engine) -> tuple[Counter, Counter]:
    """(fired reminders by id, outbox rows by reminder id) for the callback and action reminders."""
    with Session(engine) as session:
        fired = Counter(session.exec(select(Reminder.id).where(Reminder.status == FIRED, Reminder.kind != "morning")))
        rows = session.exec(select(Outbox.payload).where(Outbox.method.in_(["test.callback_due", "test.action_due"])))
        return fired, Counter(payload["reminder_id"] for payload in rows)


def _case_reminder_ids(engine) -> set[int]:
    with Session(engine) as session:
        return set(session.exec(select(Reminder.id).where(Reminder.kind.in_([CALLBACK, CALLBACK_RETURN, ACTION]))))


def test_two_processes_deliver_each_due_reminder_exactly_once(pg_engine, pg_cases):
    booked = NOW - timedelta(hours=1)
    callbacks = [pg_cases.callback(booked, now=booked - timedelta(days=1), client_requested=True) for _ in range(150)]
    for _ in range(100):
        pg_cases.with_actions([(ActionKind.relance, date(2028, 5, 9))], now=booked)
    expected = _case_reminder_ids(pg_engine)
    assert len(expected) == 400

    start = SPAWN.Barrier(2)
    workers = [SPAWN.Process(target=tick_until_done, args=(_url(pg_engine), NOW, f"w{n}", start)) for n in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(CHILD_TIMEOUT)
    assert [w.exitcode for w in workers] == [0, 0]

    fired, outbox = _deliveries(pg_engine)
    assert set(fired) == expected and set(fired.values()) == {1}
    callback_notices = _ids_of_kind(pg_engine, CALLBACK) | _ids_of_kind(pg_engine, ACTION)
    assert set(outbox) == callback_notices and set(outbox.values()) == {1}
    with Session(pg_engine) as session:
        returns = Counter(session.exec(select(AuditEntry.case_id).where(AuditEntry.event == "callback_due")))
        by_worker = Counter(session.exec(select(Reminder.fired_by).where(Reminder.status == FIRED)))
        morning_digests = session.exec(select(sa.func.count()).where(Outbox.method == "test.digest")).one()
    assert returns == Counter(callbacks)  # each case went back to contact_attempt once
    assert set(by_worker) == {"w1", "w2"}  # both processes took a share
    assert morning_digests == 1


def _ids_of_kind(engine, kind: str) -> set[int]:
    with Session(engine) as session:
        return set(session.exec(select(Reminder.id).where(Reminder.kind == kind)))


def test_process_killed_while_firing_then_restarted_delivers_each_once(engine, cases):
    for _ in range(60):
        cases.with_actions([(ActionKind.devis, date(2028, 5, 9))], now=NOW - timedelta(hours=2))
    expected = _case_reminder_ids(engine)
    name = "m3-doomed"
    url = _url(engine, application_name=name) if engine.dialect.name == "postgresql" else _url(engine)
    stuck, never = SPAWN.Event(), SPAWN.Event()
    doomed = SPAWN.Process(target=tick_then_hang, args=(url, NOW, 25, stuck, never))
    doomed.start()
    assert stuck.wait(CHILD_TIMEOUT), "the doomed scheduler never reached its 26th reminder"
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join(CHILD_TIMEOUT)
    assert doomed.exitcode == -signal.SIGKILL

    fired, outbox = _deliveries(engine)
    assert len(fired) == 25 and set(outbox) == set(fired)  # the 26th was rolled back with its outbox row
    if engine.dialect.name == "postgresql":
        _wait_until_backend_gone(engine, name)

    start = SPAWN.Barrier(1)
    restarted = SPAWN.Process(target=tick_until_done, args=(_url(engine), NOW, "restarted", start))
    restarted.start()
    restarted.join(CHILD_TIMEOUT)
    assert restarted.exitcode == 0

    fired, outbox = _deliveries(engine)
    assert set(fired) == expected and set(fired.values()) == {1}
    assert set(outbox) == expected and set(outbox.values()) == {1}
    with Session(engine) as session:
        left = session.exec(select(sa.func.count()).where(Reminder.status == PENDING, Reminder.due_at <= NOW)).one()
    assert left == 0


def _wait_until_backend_gone(engine, application_name: str) -> None:
    """PostgreSQL rolls back a killed client's transaction when it notices the closed socket; wait for that
    (a condition polled on the server, bounded), so the restart does not merely skip a still-locked row."""
    alive = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name")
    # Autocommit: inside one transaction the statistics views would keep showing the same snapshot.
    with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        for _ in range(200):
            if not connection.execute(alive, {"name": application_name}).scalar():
                return
            connection.execute(sa.text("SELECT pg_sleep(0.05)"))
    raise AssertionError("the killed scheduler's database session never ended")
