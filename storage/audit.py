"""The append-only audit trail: who did what, when, on which case or client."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from sqlmodel import Session, select

from storage.tables import AuditEntry, utcnow


class FactLike(Protocol):
    """`flows.engine.Fact`: a name and JSON-able data."""

    name: str
    data: dict[str, Any]


def jsonable(value: Any) -> Any:
    """Dates, enums and nested containers turned into JSON values (facts may carry domain values)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value


def append(
    session: Session,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    actor: str,
    case_id: int | None = None,
    client_id: int | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=at or utcnow(), actor=actor, case_id=case_id, client_id=client_id, event=event, data=jsonable(data or {})
    )
    session.add(entry)
    return entry


def append_facts(
    session: Session,
    facts: Iterable[FactLike],
    *,
    actor: str,
    case_id: int | None,
    client_id: int | None,
    at: datetime | None = None,
) -> None:
    at = at or utcnow()
    for fact in facts:
        append(session, fact.name, fact.data, actor=actor, case_id=case_id, client_id=client_id, at=at)


def last_entry(session: Session, case_id: int, event: str) -> AuditEntry | None:
    """The case's most recent entry of this kind of event."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.case_id == case_id, AuditEntry.event == event)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return session.exec(query).first()
