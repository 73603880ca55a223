"""Everything an agency has in the database, to hand it back (`export`) and to delete it (`erase`).

The tables are listed once, children before their parents: the export reads them in that order, the erase
deletes in it, so no foreign key is ever left dangling. A case's children are found through their case, a
client's through his client; the rows of each table that belong to an agency carry its workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from storage.slack_messages import SlackMessage
from storage.tables import (
    Action,
    Agent,
    Agreement,
    AuditChain,
    AuditEntry,
    CallAttempt,
    Client,
    ClientSecret,
    Contract,
    ContractCheck,
    ImportRun,
    M3Case,
    Need,
    Outbox,
    ProfileCheck,
    ProtectionCheck,
    Reminder,
    Workspace,
    WorkspaceErasure,
)

Where = Callable[[int], Any]


def _own(model: Any) -> Where:
    return lambda workspace_id: model.workspace_id == workspace_id


def _of_cases(model: Any) -> Where:
    return lambda workspace_id: model.case_id.in_(sa.select(M3Case.id).where(M3Case.workspace_id == workspace_id))


def _of_clients(model: Any) -> Where:
    return lambda workspace_id: model.client_id.in_(sa.select(Client.id).where(Client.workspace_id == workspace_id))


# Children first. Secrets (the keys of the trail's seals) are deleted, never exported: the export carries
# each entry's data as it is kept.
TABLES: tuple[tuple[type[SQLModel], Where, bool], ...] = (
    (ContractCheck, _of_cases(ContractCheck), True),
    (ProfileCheck, _of_cases(ProfileCheck), True),
    (Agreement, _of_cases(Agreement), True),
    (ProtectionCheck, _of_cases(ProtectionCheck), True),
    (Need, _of_cases(Need), True),
    (Action, _of_cases(Action), True),
    (SlackMessage, _of_cases(SlackMessage), True),
    (CallAttempt, _of_clients(CallAttempt), True),
    (ClientSecret, _of_clients(ClientSecret), False),
    (Reminder, _own(Reminder), True),
    (Outbox, _own(Outbox), False),
    (AuditEntry, _own(AuditEntry), True),
    (AuditChain, _own(AuditChain), True),
    (Contract, _own(Contract), True),
    (M3Case, _own(M3Case), True),
    (Client, _own(Client), True),
    (Agent, _own(Agent), True),
    (ImportRun, _own(ImportRun), True),
)


def _name(model: type[SQLModel]) -> str:
    return str(model.__tablename__)


def export(session: Session, workspace_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every exported table's rows of the workspace, parents first, as JSON values."""
    exported = {}
    for model, where, shown in reversed(TABLES):
        if shown:
            rows = session.execute(sa.select(model).where(where(workspace_id)).order_by(*_key(model))).scalars()
            exported[_name(model)] = [row.model_dump(mode="json") for row in rows]
    return exported


def _key(model: type[SQLModel]) -> list[Any]:
    return list(model.__table__.primary_key.columns)  # type: ignore[attr-defined]


def erase(session: Session, workspace: Workspace, *, actor: str, reason: str, at: datetime) -> dict[str, int]:
    """Delete every row of `workspace`, then the workspace itself, logging it first (the trail's guard lets the
    entries of a logged workspace go). Returns the rows deleted per table. In the caller's transaction."""
    assert workspace.id is not None
    log = WorkspaceErasure(workspace_id=workspace.id, team_id=workspace.team_id, erased_at=at, actor=actor,
                           reason=reason)
    session.add(log)
    session.flush()
    counts = {}
    for model, where, _shown in TABLES:
        deleted = session.execute(sa.delete(model).where(where(workspace.id)).execution_options(
            synchronize_session=False))
        counts[_name(model)] = deleted.rowcount  # type: ignore[attr-defined]
    session.execute(sa.delete(Workspace).where(Workspace.id == workspace.id))
    log.rows = counts
    return counts
