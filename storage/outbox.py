"""The outbox: Slack Web API calls written in the event's transaction and delivered after it commits.

`enqueue` runs inside a unit of work; `claim_due` / `mark_*` are for the delivery worker
(`bot/outbox_delivery.py`), each in its own short transaction. A claimed row is leased: if the worker dies,
it becomes claimable again when the lease ends. Messages of one case go out in order: a row waits while an
older row of its case is still pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.tables import Outbox, utcnow

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    case_id: int | None
    method: str
    payload: dict[str, Any]
    attempts: int  # including the current one
    dedupe_key: str | None


def enqueue(
    session: Session,
    method: str,
    payload: dict[str, Any],
    *,
    case_id: int | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
) -> Outbox | None:
    """Queue one call; a `dedupe_key` already queued makes it a no-op (returns None)."""
    if dedupe_key is not None and session.exec(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)).first():
        return None
    now = now or utcnow()
    row = Outbox(created_at=now, next_attempt_at=now, case_id=case_id, method=method, payload=payload,
                 dedupe_key=dedupe_key)
    session.add(row)
    return row


def claim_due(
    engine: Engine, now: datetime, limit: int = 20, *, lease: timedelta = timedelta(minutes=2)
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages; concurrent claimers (PostgreSQL) never get the same row."""
    older = sa.orm.aliased(Outbox)
    older_pending = (
        sa.select(older.id)
        .where(older.case_id == Outbox.case_id, older.id < Outbox.id, older.status == PENDING)
        .exists()
    )
    query = (
        select(Outbox)
        .where(
            Outbox.status == PENDING,
            Outbox.next_attempt_at <= now,
            sa.or_(Outbox.locked_until.is_(None), Outbox.locked_until <= now),
            sa.or_(Outbox.case_id.is_(None), ~older_pending),
        )
        .order_by(Outbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    with Session(engine) as session, session.begin():
        claimed = list(session.exec(query))
        for row in claimed:
            row.locked_until = now + lease
            row.attempts += 1
        return [OutboxMessage(r.id, r.case_id, r.method, r.payload, r.attempts, r.dedupe_key) for r in claimed]


def _update(engine: Engine, message_id: int, **values: Any) -> None:
    with Session(engine) as session, session.begin():
        session.execute(sa.update(Outbox).where(Outbox.id == message_id).values(locked_until=None, **values))


def mark_delivered(
    engine: Engine, message_id: int, result: dict[str, Any] | None = None, *, now: datetime | None = None
) -> None:
    _update(engine, message_id, status=DELIVERED, delivered_at=now or utcnow(), result=result, last_error=None)


def mark_retry(engine: Engine, message_id: int, error: str, retry_at: datetime) -> None:
    _update(engine, message_id, last_error=error, next_attempt_at=retry_at)


def mark_failed(engine: Engine, message_id: int, error: str) -> None:
    _update(engine, message_id, status=FAILED, last_error=error)


def delivered_result(session: Session, dedupe_key: str) -> dict[str, Any] | None:
    """What Slack answered to the message queued under `dedupe_key` (e.g. the card's `ts`), once delivered."""
    return session.exec(
        select(Outbox.result).where(Outbox.dedupe_key == dedupe_key, Outbox.status == DELIVERED)
    ).first()
