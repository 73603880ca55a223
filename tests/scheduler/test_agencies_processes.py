"""Three scheduler processes serving two agencies on one PostgreSQL: each agency's reminders fire once, its
morning opens its due cases once with one digest, and what each firing writes belongs to that agency."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlmodel import Session, select

from flows.case import State
from service.reminders import FIRED, Reminder, sync_reminders
from storage.repository import create_case, load_case
from storage.tables import M3Case, Outbox, Workspace, utcnow
from storage.workspaces import all_workspaces, session_for
from tests.conftest import client_file, contract
from tests.scheduler.clock import paris
from tests.scheduler.conftest import AGENT, make_settings
from tests.scheduler.test_processes import CHILD_TIMEOUT, SPAWN, _url
from tests.scheduler.workers import tick_until_done

NOW = paris(9, 10)  # Tuesday 9 May 2028, 10:00 in Paris: the agency is open
CALLBACKS, DUE = 60, 5


def agency(engine, team: str) -> int:
    with all_workspaces(engine) as session, session.begin():
        row = Workspace(team_id=team, created_at=utcnow())
        session.add(row)
        session.flush()
        assert row.id is not None
        workspace = row.id
    booked = NOW - timedelta(hours=1)
    settings = make_settings()
    for n in range(CALLBACKS + DUE):
        with session_for(engine, workspace) as session, session.begin():
            case_id = create_case(session, client_file(number=f"C{n:04d}"), [contract(number=f"CT-{n:04d}", seller=AGENT)],
                                  m3_date=date(2028, 5, 9) if n >= CALLBACKS else date(2028, 4, 3), agent=AGENT,
                                  now=booked - timedelta(days=40))
            if n < CALLBACKS:
                row = session.get(M3Case, case_id)
                row.state, row.callback_at, row.opened_at = State.scheduled_callback.value, booked, booked
                row.callback_client_requested, row.caller = True, AGENT
                session.flush()
                sync_reminders(session, load_case(session, case_id, lock=True, now=booked), booked, settings)
    return workspace


def test_three_processes_serve_two_agencies_each_reminder_and_opening_once(pg_engine):
    agencies = [agency(pg_engine, "T0AAA"), agency(pg_engine, "T0BBB")]

    start = SPAWN.Barrier(3)
    workers = [SPAWN.Process(target=tick_until_done, args=(_url(pg_engine), NOW, f"w{n}", start, True))
               for n in (1, 2, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(CHILD_TIMEOUT)
    assert [w.exitcode for w in workers] == [0, 0, 0]

    with Session(pg_engine) as session:
        reminders = session.exec(select(Reminder.workspace_id, Reminder.status, Reminder.fired_by)
                                 .where(Reminder.kind != "morning")).all()
        opened = Counter(session.exec(select(M3Case.workspace_id).where(
            M3Case.m3_date == date(2028, 5, 9), M3Case.opened_at.is_not(None))))
        rows = session.exec(select(Outbox.workspace_id, Outbox.method, Outbox.payload)).all()
        cases = dict(session.exec(select(M3Case.id, M3Case.workspace_id)).all())
    assert {status for _, status, _ in reminders} == {FIRED}
    assert Counter(workspace for workspace, _, _ in reminders) == dict.fromkeys(agencies, 2 * CALLBACKS)
    assert opened == dict.fromkeys(agencies, DUE)  # each agency's due cases opened once
    assert Counter(w for w, method, _ in rows if method == "test.digest") == dict.fromkeys(agencies, 1)
    notices = Counter(p["reminder_id"] for _, method, p in rows if method == "test.callback_due")
    assert set(notices.values()) == {1} and len(notices) == 2 * CALLBACKS
    # What a firing wrote belongs to the agency of its case.
    assert all(w == cases[p["case_id"]] for w, _, p in rows if p.get("case_id"))
    assert len({by for _, _, by in reminders}) > 1  # the processes shared the work
