"""The outbox: Slack Web API calls written in the event's transaction and delivered after it commits.

`enqueue` runs inside a unit of work; `claim_due` / `mark_*` are for the delivery worker
(`bot/outbox_delivery.py`), each in its own short transaction. A claimed row is leased: if the worker dies,
it becomes claimable again when the lease ends. Claims are serialised (an advisory lock on PostgreSQL,
`BEGIN IMMEDIATE` on SQLite) and never hand out a row of a case another worker holds, so one worker at a
time speaks for a case. The rows of one message (a `message.upsert` role, its lane) are coalesced: only
the newest pending one is claimed and its delivery settles the older ones. Rows go out by `priority` (an
agent waiting first, bulk work last) aged by the order they were queued (`PRIORITY_STEP`).
Once delivered, a row keeps what delivery and its audit need (ids, method, status, channel, ts, digest),
never the message's content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.slack_messages import CARD, UPSERT, SlackMessage
from storage.tables import Outbox, Workspace, utcnow
from storage.workspaces import all_workspaces

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
URGENT, NORMAL, BULK = 0, 1, 2  # an agent waits for it; the card; openings, digests, reminders
# Dropped once delivered ("cases": the clients an agent's morning list names, rendered at delivery).
CONTENT = frozenset({"text", "blocks", "attachments", "respond", "cases"})
# A row of priority p ranks with the rows queued p × this many rows after it: urgent work goes first, and
# bulk work still goes when agents keep the deliverer busy (it never starves).
PRIORITY_STEP = 100
_CLAIM_LOCK = 0x4D33_0B0C  # pg_advisory_xact_lock key of the claim
LEASE = timedelta(minutes=2)  # a claimed row is the claimer's this long (read at each claim)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    case_id: int | None
    method: str
    payload: dict[str, Any]
    attempts: int  # including the current one
    dedupe_key: str | None
    priority: int = NORMAL
    posted: tuple[str, str] | None = None  # (channel, ts) of the role's message, when posted
    card_ts: str | None = None  # the ts of the case's card, when posted (a thread reply's parent)
    older: bool = False  # older rows of its message are pending: its delivery settles them
    workspace_id: int | None = None  # the agency it speaks for (None only in rows built by hand in tests)


def content_digest(payload: dict[str, Any]) -> str:
    """What a message shows, as a short digest: two payloads with the same one look the same in Slack."""
    shown = {key: payload.get(key) for key in ("text", "blocks")}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:32]


def enqueue(
    session: Session,
    method: str,
    payload: dict[str, Any],
    *,
    case_id: int | None = None,
    dedupe_key: str | None = None,
    now: datetime | None = None,
    priority: int = NORMAL,
) -> Outbox | None:
    """Queue one call; a `dedupe_key` already queued makes it a no-op (returns None)."""
    if dedupe_key is not None and session.exec(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)).first():
        return None
    now = now or utcnow()
    upsert = method == UPSERT
    row = Outbox(created_at=now, next_attempt_at=now, case_id=case_id, method=method, payload=payload,
                 dedupe_key=dedupe_key, priority=priority, role=payload.get("role") if upsert else None,
                 digest=content_digest(payload) if upsert else None)
    session.add(row)
    return row


def last_digests(session: Session, case_id: int) -> dict[str, str | None]:
    """The digest of the last content queued for each message of a case (pending or delivered, not failed)."""
    newest = (
        sa.select(sa.func.max(Outbox.id))
        .where(Outbox.case_id == case_id, Outbox.role.is_not(None), Outbox.status != FAILED)
        .group_by(Outbox.role)
    )
    return dict(session.execute(sa.select(Outbox.role, Outbox.digest).where(Outbox.id.in_(newest))).all())


def claim_due(
    engine: Engine, now: datetime, limit: int = 20, *, lease: timedelta | None = None,
    priorities: tuple[int, int] = (URGENT, BULK), skip_channels: Collection[str] = (),
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages of `priorities` (lowest, highest), none for `skip_channels`, with
    where their message and their case's card are in Slack."""
    other = sa.orm.aliased(Outbox)
    newer_in_lane = (
        sa.select(other.id)
        .where(other.case_id == Outbox.case_id, other.role == Outbox.role, other.id > Outbox.id,
               other.status == PENDING)
        .exists()
    )
    older_in_lane = (
        sa.select(other.id)
        .where(other.case_id == Outbox.case_id, other.role == Outbox.role, other.id < Outbox.id,
               other.status == PENDING)
        .exists()
    )
    case_held = (
        sa.select(other.id)
        .where(other.case_id == Outbox.case_id, other.status == PENDING, other.locked_until > now)
        .exists()
    )
    message, card = sa.orm.aliased(SlackMessage), sa.orm.aliased(SlackMessage)
    query = (
        sa.select(Outbox, message.channel, message.ts, card.ts, older_in_lane)
        .outerjoin(message, sa.and_(message.case_id == Outbox.case_id, message.role == Outbox.role))
        .outerjoin(card, sa.and_(card.case_id == Outbox.case_id, card.role == CARD))
        .where(
            Outbox.status == PENDING,
            Outbox.priority.between(*priorities),
            Outbox.next_attempt_at <= now,
            sa.or_(Outbox.locked_until.is_(None), Outbox.locked_until <= now),
            sa.or_(Outbox.case_id.is_(None), ~case_held),
            sa.or_(Outbox.role.is_(None), ~newer_in_lane),
            ~sa.exists().where(Workspace.id == Outbox.workspace_id, Workspace.stopped_at.is_not(None)),
        )
        .order_by(Outbox.id + Outbox.priority * PRIORITY_STEP, Outbox.id)
        .limit(limit)
    )
    if skip_channels:
        addressed = Outbox.payload["channel"].as_string()
        query = query.where(sa.or_(addressed.is_(None), addressed.not_in(list(skip_channels))))
    with all_workspaces(engine) as session, session.begin():
        if engine.dialect.name == "postgresql":
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLAIM_LOCK)))
        claimed = session.execute(query).all()
        if not claimed:
            return []
        session.execute(
            sa.update(Outbox)
            .where(Outbox.id.in_([row.id for row, *_ in claimed]))
            .values(locked_until=now + (lease or LEASE), attempts=Outbox.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        return [
            OutboxMessage(r.id, r.case_id, r.method, r.payload, r.attempts + 1, r.dedupe_key, r.priority,
                          (channel, ts) if ts else None, card_ts, bool(older), r.workspace_id)
            for r, channel, ts, card_ts, older in claimed
        ]


def pending_of(engine: Engine, case_id: int, role: str) -> list[OutboxMessage]:
    """The pending rows of one message of a case, oldest first (a thread reply posts its card ahead)."""
    with all_workspaces(engine) as session:
        rows = session.exec(
            select(Outbox).where(Outbox.case_id == case_id, Outbox.role == role, Outbox.status == PENDING)
            .order_by(Outbox.id)
        )
        return [OutboxMessage(r.id, r.case_id, r.method, r.payload, r.attempts, r.dedupe_key, r.priority,
                              older=index > 0, workspace_id=r.workspace_id) for index, r in enumerate(rows)]


def posts_ahead(engine: Engine, message_id: int) -> int:
    """How many case messages (`message.upsert` rows) queued before row `message_id` are still pending."""
    with all_workspaces(engine) as session:
        return session.execute(sa.select(sa.func.count(Outbox.id)).where(
            Outbox.status == PENDING, Outbox.method == UPSERT, Outbox.id < message_id)).scalar_one()


def kept(payload: dict[str, Any]) -> dict[str, Any]:
    """What a delivered row keeps of its payload: where it went, not what it said."""
    return {key: value for key, value in payload.items() if key not in CONTENT}


def _update(engine: Engine, message_id: int, **values: Any) -> None:
    with all_workspaces(engine) as session, session.begin():
        session.execute(sa.update(Outbox).where(Outbox.id == message_id).values(locked_until=None, **values))


def mark_delivered(
    engine: Engine, message: OutboxMessage, result: dict[str, Any] | None = None, *, now: datetime | None = None
) -> None:
    """Delivered and confirmed: the row keeps its address, not its content; the older pending rows of its
    message (its lane) are settled with it, coalesced into it."""
    values = {"status": DELIVERED, "delivered_at": now or utcnow(), "last_error": None, "locked_until": None,
              "payload": kept(message.payload)}
    with all_workspaces(engine) as session, session.begin():
        if message.older:
            session.execute(sa.update(Outbox).where(
                Outbox.case_id == message.case_id, Outbox.role == message.payload["role"], Outbox.id < message.id,
                Outbox.status == PENDING,
            ).values(**values, result={"coalesced_into": message.id}))
        session.execute(sa.update(Outbox).where(Outbox.id == message.id).values(**values, result=result))


def mark_retry(engine: Engine, message_id: int, error: str, retry_at: datetime) -> None:
    _update(engine, message_id, last_error=error, next_attempt_at=retry_at)


def mark_deferred(engine: Engine, message_id: int, retry_at: datetime) -> None:
    """Paced: not sent yet, so this round does not count as an attempt."""
    _update(engine, message_id, next_attempt_at=retry_at, attempts=Outbox.attempts - 1)


def mark_failed(engine: Engine, message_id: int, error: str) -> None:
    _update(engine, message_id, status=FAILED, last_error=error)
