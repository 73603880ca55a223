"""The backlog figures the metrics endpoint reports, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage import outbox
from storage.operations import backlog
from storage.tables import Workspace, utcnow
from storage.workspaces import all_workspaces, session_for


def test_backlog_measures_the_age_of_the_oldest_pending_message(engine):
    with Session(engine) as session, session.begin():
        outbox.enqueue(session, "chat.postMessage", {"channel": "C1", "text": "x"})
    (figures,) = backlog(engine, utcnow() + timedelta(seconds=90), late_after=timedelta(minutes=1)).values()
    assert figures.outbox_pending == 1
    assert 89 <= figures.outbox_oldest_age_seconds <= 120
    assert (figures.reminders_due, figures.reminders_late) == (0, 0)


def test_backlog_is_given_per_agency_and_lists_the_idle_ones(engine):
    with all_workspaces(engine) as session, session.begin():
        busy, idle = Workspace(team_id="T0BUSY", created_at=utcnow()), Workspace(team_id="T0IDLE", created_at=utcnow())
        session.add_all([busy, idle])
        session.flush()
        busy_id = busy.id
    with session_for(engine, busy_id) as session, session.begin():
        for _ in range(2):
            outbox.enqueue(session, "chat.postMessage", {"channel": "C1", "text": "x"})

    figures = backlog(engine, utcnow(), late_after=timedelta(minutes=1))

    assert {team: f.outbox_pending for team, f in figures.items()} == {"T0BUSY": 2, "T0IDLE": 0}
