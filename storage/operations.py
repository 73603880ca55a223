"""Figures the agency's IT watches: how much the outbox and the reminders are behind (no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.tables import Outbox, Reminder


@dataclass(frozen=True)
class Backlog:
    outbox_pending: int
    outbox_oldest_age_seconds: float  # 0 when the outbox is empty
    reminders_due: int  # pending and due now
    reminders_late: int  # pending and due for longer than the grace the caller allows


def backlog(engine: Engine, now: datetime, *, late_after: timedelta) -> Backlog:
    """Two aggregate queries, cheap enough for a scrape every few seconds (both use the status indexes)."""
    outbox = sa.select(sa.func.count(), sa.func.min(Outbox.created_at)).where(Outbox.status == "pending")
    due = sa.func.sum(sa.case((Reminder.due_at <= now, 1), else_=0))
    late = sa.func.sum(sa.case((Reminder.due_at <= now - late_after, 1), else_=0))
    reminders = sa.select(due, late).where(Reminder.status == "pending")
    with engine.connect() as connection:
        pending, oldest = connection.execute(outbox).one()
        reminders_due, reminders_late = connection.execute(reminders).one()
    return Backlog(
        outbox_pending=pending,
        outbox_oldest_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        reminders_due=reminders_due or 0,
        reminders_late=reminders_late or 0,
    )
