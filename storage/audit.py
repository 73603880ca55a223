"""The append-only audit trail: who did what, when, on which case or client.

Each case's entries form a hash chain (`storage.chain`), numbered from 1; the entries of no case (imports,
RGPD commands, settings) form one more, "global". An append locks its chain's head first — the case row,
or the `audit_chain` row of the global chain — `SELECT … FOR UPDATE` on PostgreSQL (SQLite's writers are
serialised by `BEGIN IMMEDIATE`), so two processes cannot both extend the same head; the unique
(case, number) constraint is the last guard. The head row keeps the last hash and the count, so losing
the last entries shows (`storage.audit_verify`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from storage.chain import entry_hash, has_personal, seal
from storage.db import insert_for
from storage.tables import AuditChain, AuditEntry, ClientSecret, M3Case, utcnow
from storage.workspaces import writing_for

GLOBAL = "global"


class FactLike(Protocol):
    """`flows.engine.Fact`: a name and JSON-able data (read-only, so that a frozen dataclass matches)."""

    @property
    def name(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


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


def _insert_ignore(session: Session, model: type[SQLModel], values: dict[str, Any]) -> None:
    """INSERT unless the key exists (a concurrent twin waits for the first to commit, then does nothing)."""
    session.execute(insert_for(session)(model.__table__).values(**values).on_conflict_do_nothing())


def _lock_head(session: Session, case_id: int | None, case_row: M3Case | None) -> tuple[str | None, int, int | None]:
    """(head hash, count, the case's client) of the chain, locked until the transaction ends: read from
    `case_row` when the caller holds it locked already."""
    if case_row is not None:
        return case_row.audit_head, case_row.audit_count, case_row.client_id
    if case_id is not None:
        query = sa.select(M3Case.audit_head, M3Case.audit_count, M3Case.client_id).where(M3Case.id == case_id)
        return tuple(session.execute(query.with_for_update()).one())
    workspace_id = writing_for(session)
    query = (sa.select(AuditChain.head, AuditChain.count)
             .where(AuditChain.workspace_id == workspace_id, AuditChain.name == GLOBAL).with_for_update())
    row = session.execute(query).one_or_none()
    if row is None:
        _insert_ignore(session, AuditChain, {"workspace_id": workspace_id, "name": GLOBAL, "head": None, "count": 0})
        row = session.execute(query).one()
    return row.head, row.count, None


def _store_head(session: Session, case_id: int | None, case_row: M3Case | None, head: str, count: int) -> None:
    if case_row is not None:  # written with the case's own changes, in one UPDATE
        case_row.audit_head, case_row.audit_count = head, count
    elif case_id is not None:
        session.execute(sa.update(M3Case).where(M3Case.id == case_id).values(audit_head=head, audit_count=count))
    else:
        session.execute(sa.update(AuditChain).where(AuditChain.workspace_id == writing_for(session),
                                                    AuditChain.name == GLOBAL).values(head=head, count=count))


def global_chain(session: Session) -> AuditChain | None:
    """The head row of the chain of no case of the session's workspace (None before its first entry)."""
    return session.exec(select(AuditChain).where(AuditChain.name == GLOBAL)).first()


def client_secret(session: Session, client_id: int, *, create: bool = False) -> str | None:
    """The client's HMAC key (created on first need); None once erased."""
    query = select(ClientSecret.secret).where(ClientSecret.client_id == client_id)
    secret = session.exec(query).first()
    if secret is None and create:
        _insert_ignore(session, ClientSecret,
                       {"client_id": client_id, "secret": secrets.token_hex(32), "created_at": utcnow()})
        secret = session.exec(query).one()
    return secret


def _append(
    session: Session,
    items: list[tuple[str, dict[str, Any] | None]],
    *,
    actor: str,
    case_id: int | None,
    client_id: int | None,
    at: datetime,
    case_row: M3Case | None = None,
) -> None:
    if not items:
        return
    workspace_id = writing_for(session)
    head, count, case_client = _lock_head(session, case_id, case_row)
    owner = client_id if client_id is not None else case_client
    entries = []
    for event, raw in items:
        data = jsonable(raw or {})
        secret = client_secret(session, owner, create=True) if owner is not None and has_personal(data, event) else None
        sealed = seal(data, secret, event)
        count += 1
        head = entry_hash(head, seq=count, case_id=case_id, client_id=client_id, at=at, actor=actor, event=event,
                          sealed=sealed)
        entries.append({"workspace_id": workspace_id, "at": at, "actor": actor, "case_id": case_id,
                        "client_id": client_id, "event": event,
                        "data": data, "seq": count, "sealed": sealed, "hash": head})
    # One statement for all the entries (no ids to read back).
    session.execute(sa.insert(AuditEntry), entries)
    _store_head(session, case_id, case_row, head, count)


def append(
    session: Session,
    event: str,
    data: dict[str, Any] | None = None,
    *,
    actor: str,
    case_id: int | None = None,
    client_id: int | None = None,
    at: datetime | None = None,
) -> None:
    _append(session, [(event, data)], actor=actor, case_id=case_id, client_id=client_id, at=at or utcnow())


def append_facts(
    session: Session,
    facts: Iterable[FactLike],
    *,
    actor: str,
    case_id: int | None,
    client_id: int | None,
    at: datetime | None = None,
    case_row: M3Case | None = None,
) -> None:
    """The facts of one event, chained; `case_row`: the case's row, which the caller holds locked."""
    _append(session, [(fact.name, fact.data) for fact in facts], actor=actor, case_id=case_id,
            client_id=client_id, at=at or utcnow(), case_row=case_row)


def last_entry(session: Session, case_id: int, event: str) -> AuditEntry | None:
    """The case's most recent entry of this kind of event."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.case_id == case_id, AuditEntry.event == event)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return session.exec(query).first()
