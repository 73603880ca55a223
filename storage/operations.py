"""Figures IT watches: how much each agency's outbox and reminders are behind (no personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from storage.tables import Outbox, Reminder, Workspace


@dataclass(frozen=True)
class Backlog:
    outbox_pending: int
    outbox_oldest_age_seconds: float  # 0 when the outbox is empty
    reminders_due: int  # pending and due now
    reminders_late: int  # pending and due for longer than the grace the caller allows


UNNAMED = "unnamed"  # a single-agency install's workspace before the bot first met Slack


def backlog(engine: Engine, now: datetime, *, late_after: timedelta) -> dict[str, Backlog]:
    """Per agency, by its Slack team: two grouped aggregate queries, cheap enough for a scrape every few
    seconds (both use the status indexes). Every agency is listed, idle ones with zeros."""
    team = sa.func.coalesce(Workspace.team_id, UNNAMED)
    outbox = (sa.select(team, sa.func.count(), sa.func.min(Outbox.created_at))
              .join(Workspace, Workspace.id == Outbox.workspace_id)
              .where(Outbox.status == "pending").group_by(team))
    due = sa.func.sum(sa.case((Reminder.due_at <= now, 1), else_=0))
    late = sa.func.sum(sa.case((Reminder.due_at <= now - late_after, 1), else_=0))
    reminders = (sa.select(team, due, late).join(Workspace, Workspace.id == Reminder.workspace_id)
                 .where(Reminder.status == "pending").group_by(team))
    with engine.connect() as connection:
        teams = connection.execute(sa.select(team)).scalars().all()
        queued = {row[0]: row[1:] for row in connection.execute(outbox)}
        waiting = {row[0]: row[1:] for row in connection.execute(reminders)}
    figures = {}
    for name in teams:
        pending, oldest = queued.get(name, (0, None))
        reminders_due, reminders_late = waiting.get(name, (0, 0))
        figures[name] = Backlog(
            outbox_pending=pending,
            outbox_oldest_age_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
            reminders_due=reminders_due or 0,
            reminders_late=reminders_late or 0,
        )
    return figures
