"""The backlog figures the metrics endpoint reports, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from storage import outbox
from storage.operations import backlog
from storage.tables import utcnow


def test_backlog_measures_the_age_of_the_oldest_pending_message(engine):
    with Session(engine) as session, session.begin():
        outbox.enqueue(session, "chat.postMessage", {"channel": "C1", "text": "x"})
    figures = backlog(engine, utcnow() + timedelta(seconds=90), late_after=timedelta(minutes=1))
    assert figures.outbox_pending == 1
    assert 89 <= figures.outbox_oldest_age_seconds <= 120
    assert (figures.reminders_due, figures.reminders_late) == (0, 0)
