"""Workspaces kept apart: each agency's rows seen and written only by sessions of that agency.

A session opened for a workspace (`session_for`) sees that workspace's rows only: every ORM SELECT,
UPDATE and DELETE it runs gets `workspace_id = …` on each table that belongs to an agency, joins and
subqueries included (SQLAlchemy's `with_loader_criteria`, added in `do_orm_execute`), and every row it adds
is stamped with the workspace. A case id, a client number or an action id named by another agency's
request is therefore simply not found. The few processes that serve every agency (delivery, the
scheduler's claims) open a session for all of them on purpose (`all_workspaces`), then work on each row in
a session of the row's workspace. Statements written in SQLAlchemy Core name the workspace themselves.

A single-agency install has one workspace: `only` finds it (creating it on a first run), and the Slack team
of the bot's token is written on it when the bot first meets Slack (`for_team`).
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlmodel import Session, SQLModel, select

from storage.tables import (
    Agent,
    AuditChain,
    AuditEntry,
    Client,
    Contract,
    ImportRun,
    M3Case,
    Outbox,
    Reminder,
    Workspace,
    utcnow,
)

# Every table whose rows belong to one agency; a case's other children are reached through their case.
OWNED: tuple[type[SQLModel], ...] = (Agent, Client, M3Case, Contract, AuditEntry, AuditChain, Outbox, ImportRun,
                                     Reminder)
_KEY = "workspace_id"
_CREATION_LOCK = 0x4D33_0001  # pg_advisory_xact_lock key of a workspace's creation
_EVERY = "every workspace"


class WorkspaceUnknown(LookupError):
    """No workspace by that Slack team (or none at all where one was expected)."""


class WorkspaceRequired(LookupError):
    """Several workspaces, and the caller named none."""


def session_for(engine: Engine, workspace_id: int, **options: Any) -> Session:
    """A session that sees and writes the rows of `workspace_id` only."""
    session = Session(engine, **options)
    scope(session, workspace_id)
    return session


def all_workspaces(engine: Engine, **options: Any) -> Session:
    """A session that sees every agency's rows: for the work done for all of them (delivery, claims of due
    reminders, migrations' checks). Rows it adds must name their workspace."""
    session = Session(engine, **options)
    session.info[_KEY] = _EVERY
    return session


def scope(session: Session, workspace_id: int) -> None:
    session.info[_KEY] = workspace_id


def workspace_of(session: Session) -> int | None:
    """The workspace the session is scoped to; None for a session of every workspace."""
    value = session.info.get(_KEY)
    return value if isinstance(value, int) else None


def writing_for(session: Session) -> int:
    """The workspace the rows a session adds belong to: its own; for a plain session (the product opens
    none: a test's, a console's) the only one, as for a unit of work that names none. A session of every
    workspace must name each row's."""
    workspace_id = workspace_of(session)
    if workspace_id is not None:
        return workspace_id
    if _KEY in session.info:
        raise WorkspaceRequired()
    return only(session)


@event.listens_for(Session, "do_orm_execute")
def _only_its_workspace(state: ORMExecuteState) -> None:
    workspace_id = workspace_of(state.session)
    if workspace_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    # Loading a relationship or a column deferred on a row already scoped needs no criteria.
    if state.is_column_load or state.is_relationship_load:
        return
    state.statement = state.statement.options(*_criteria(workspace_id))


@functools.lru_cache(maxsize=4096)
def _criteria(workspace_id: int) -> tuple[Any, ...]:
    """Built once per workspace: every ORM statement of its sessions carries them."""
    return tuple(with_loader_criteria(model, model.workspace_id == workspace_id, include_aliases=True)  # type: ignore[attr-defined]
                 for model in OWNED)


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    """Rows added by a session are stamped with `writing_for`'s workspace, unless they name theirs."""
    new = [row for row in session.new if isinstance(row, OWNED)]
    unnamed = [row for row in new if getattr(row, _KEY) is None]
    workspace_id = writing_for(session) if unnamed else workspace_of(session)
    for row in unnamed:
        setattr(row, _KEY, workspace_id)
    for row in new:
        current = getattr(row, _KEY)
        if workspace_id is not None and current != workspace_id:
            raise ValueError(f"a row of workspace {current} added by a session of workspace {workspace_id}")


def only(session: Session) -> int:
    """The workspace of a single-agency install, created on its first run; refused when there are several
    (the caller must name one)."""
    ids = session.exec(select(Workspace.id).limit(2)).all()
    if not ids:
        _serialise_creation(session)
        ids = session.exec(select(Workspace.id).limit(2)).all()
    if len(ids) > 1:
        raise WorkspaceRequired()
    if ids:
        return ids[0]
    # A statement rather than `add`: this may run while the session flushes (see `_stamp_new_rows`).
    table = Workspace.__table__  # type: ignore[attr-defined]
    return session.execute(sa.insert(table).values(created_at=utcnow(), settings={}).returning(table.c.id)).scalar_one()


def _serialise_creation(session: Session) -> None:
    """Two processes creating a workspace at once (a first run, a first request) must not create two: on
    PostgreSQL the second waits for the first to commit, then finds its row (SQLite's writers are serialised
    already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_CREATION_LOCK)))


def by_team(session: Session, team_id: str) -> Workspace:
    """The workspace of Slack team `team_id`; WorkspaceUnknown when none."""
    row = session.exec(select(Workspace).where(Workspace.team_id == team_id)).first()
    if row is None:
        raise WorkspaceUnknown(team_id)
    return row


def for_team(session: Session, team_id: str, *, adopt: bool) -> Workspace:
    """The workspace of Slack team `team_id`. With `adopt` (a single-agency install), the one workspace whose
    team is not known yet becomes this team's, or a first one is created; a workspace of another team is
    never taken over."""
    try:
        return by_team(session, team_id)
    except WorkspaceUnknown:
        if not adopt:
            raise
    _serialise_creation(session)
    try:
        return by_team(session, team_id)
    except WorkspaceUnknown:
        pass
    unnamed = session.exec(select(Workspace).where(Workspace.team_id.is_(None))).all()  # type: ignore[union-attr]
    named = session.exec(select(sa.func.count()).select_from(Workspace).where(
        Workspace.team_id.is_not(None))).one()  # type: ignore[union-attr]
    if named or len(unnamed) > 1:
        raise WorkspaceUnknown(team_id)
    row = unnamed[0] if unnamed else Workspace(created_at=utcnow())
    row.team_id = team_id
    session.add(row)
    session.flush()
    return row


def installed(session: Session, team_id: str, name: str | None) -> Workspace:
    """The workspace of Slack team `team_id`, which installs the app (hosted mode): created the first time
    (two installs at once create one), its name brought up to date on a re-install."""
    try:
        row = by_team(session, team_id)
    except WorkspaceUnknown:
        _serialise_creation(session)
        try:
            row = by_team(session, team_id)
        except WorkspaceUnknown:
            row = Workspace(team_id=team_id, created_at=utcnow())
    if name:
        row.name = name
    session.add(row)
    session.flush()
    return row


def team_of(session: Session, workspace_id: int) -> str | None:
    row = session.get(Workspace, workspace_id)
    return row.team_id if row is not None else None


def every(session: Session, *, stopped_too: bool = True) -> list[int]:
    """The workspaces, oldest first; without `stopped_too`, those the service works for now."""
    query = select(Workspace.id).order_by(Workspace.id)
    if not stopped_too:
        query = query.where(Workspace.stopped_at.is_(None))  # type: ignore[union-attr]
    return [row_id for row_id in session.exec(query).all() if row_id is not None]


def resolve(engine: Engine, team_id: str | None) -> int:
    """The workspace a command line names by its Slack team, or the only one when it names none."""
    with all_workspaces(engine) as session, session.begin():
        if team_id is None:
            return only(session)
        workspace = by_team(session, team_id).id
        assert workspace is not None
        return workspace
