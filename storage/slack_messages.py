"""Which Slack message shows which part of a case: the status card and one message per step in its thread.

The outbox's `message.upsert` posts a role's message once, then edits it in place (`chat.update`); this
table remembers the `(channel, ts)` Slack gave it. The table lives on the same SQLModel metadata as
`storage.tables`, so Alembic sees it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel, select

from storage.db import insert_for
from storage.tables import UtcDateTime, utcnow
from storage.workspaces import all_workspaces

CARD = "card"
UPSERT = "message.upsert"  # an outbox row that posts a case's message once (its role), then edits it in place

__all__ = ["CARD", "UPSERT", "SlackMessage", "find", "record"]


class SlackMessage(SQLModel, table=True):
    __tablename__ = "slack_message"
    __table_args__ = (sa.UniqueConstraint("case_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="m3_case.id", index=True)
    role: str  # "card", or "step:<state>" for a step's message in the card's thread
    channel: str
    ts: str
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, nullable=False)


def find(engine: Engine, case_id: int, role: str) -> SlackMessage | None:
    with all_workspaces(engine) as session:
        return session.exec(
            select(SlackMessage).where(SlackMessage.case_id == case_id, SlackMessage.role == role)
        ).first()


def record(engine: Engine, case_id: int, role: str, channel: str, ts: str) -> None:
    """Remember where a role's message was posted (or moved); idempotent for the same values. One statement."""
    insert = insert_for(engine)
    statement = insert(SlackMessage).values(case_id=case_id, role=role, channel=channel, ts=ts, updated_at=utcnow())
    statement = statement.on_conflict_do_update(
        index_elements=["case_id", "role"],
        set_={"channel": statement.excluded.channel, "ts": statement.excluded.ts,
              "updated_at": statement.excluded.updated_at},
    )
    with engine.begin() as connection:
        connection.execute(statement)
