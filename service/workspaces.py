"""An agency's life on the service, as use cases: which Slack team it is, its install, its stop when it
uninstalls the app, its data handed back and erased.

A single-agency install's workspace takes the team of its bot token the first time it meets Slack; in hosted
mode a team gets its workspace when it installs the app (`InstallingStore`), and a re-install resumes it. A stopped
workspace (`app_uninstalled`, `tokens_revoked`) gets no request served, no reminder fired and no message
sent; its data is kept a documented period (`stopped_workspace_keep_days`), then erased, as a processor
must. An erase deletes every row of the agency and logs it (`workspace_erasure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from logging import Logger
from typing import Any

import sqlalchemy as sa
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from flows.steps.common import Fact
from service.unit_of_work import UnitOfWork
from storage import access_trail, outbox, workspace_data, workspaces
from storage.installations import installation_store
from storage.tables import M3Case, Outbox, Workspace

STOPPED = "workspace_stopped"
RESUMED = "workspace_resumed"
EXPORTED = "workspace_exported"


def workspace_of_team(engine: Engine, team_id: str, *, adopt: bool, stopped_too: bool = False) -> int | None:
    """The workspace of Slack team `team_id`, None when this service does not serve it: unknown, or stopped
    unless `stopped_too` (with `adopt`, a single-agency install's only workspace becomes this team's if it has
    none yet)."""
    try:
        with workspaces.all_workspaces(engine) as session, session.begin():
            found = workspaces.for_team(session, team_id, adopt=adopt)
            served = stopped_too or found.stopped_at is None
            return found.id if served else None
    except workspaces.WorkspaceUnknown:
        return None


def only_workspace(engine: Engine) -> int:
    """A single-agency install's workspace (created on its first run)."""
    return workspaces.resolve(engine, None)


def active_workspaces(engine: Engine) -> list[int]:
    """The agencies the service works for now (not stopped), oldest first."""
    with workspaces.all_workspaces(engine) as session:
        return workspaces.every(session, stopped_too=False)


def is_stopped(engine: Engine, workspace_id: int) -> bool:
    with workspaces.all_workspaces(engine) as session:
        return session.exec(select(Workspace.stopped_at).where(Workspace.id == workspace_id)).first() is not None


def own_workspace(engine: Engine, team_id: str, *, actor: str) -> int | None:
    """A single-agency install's workspace, met through its bot token's team at start-up: named after the team
    the first time, resumed if the app had been uninstalled (its token answers again). None when the
    database belongs to another team."""
    found = workspace_of_team(engine, team_id, adopt=True, stopped_too=True)
    if found is not None:
        resume_workspace(UnitOfWork(engine, actor=actor, workspace=found))
    return found


@dataclass(frozen=True)
class WorkspaceSummary:
    workspace_id: int
    team_id: str | None
    name: str | None
    stopped_at: datetime | None
    cases: int


def list_workspaces(engine: Engine) -> list[WorkspaceSummary]:
    """The agencies the service holds, with their number of cases."""
    cases = (sa.select(sa.func.count(col(M3Case.id))).where(col(M3Case.workspace_id) == col(Workspace.id))
             .scalar_subquery())
    with workspaces.all_workspaces(engine) as session:
        found = session.execute(sa.select(col(Workspace.id), col(Workspace.team_id), col(Workspace.name),
                                          col(Workspace.stopped_at), cases).order_by(col(Workspace.id))).all()
    return [WorkspaceSummary(*row) for row in found]


@dataclass(frozen=True)
class StopWorkspace:
    reason: str  # the Slack event that stopped it: app_uninstalled, tokens_revoked


def stop_workspace(command: StopWorkspace, uow: UnitOfWork) -> bool:
    """Stop the unit of work's workspace: its messages still queued are set aside, and the stop is in its
    trail. False when it was stopped already (Slack's retry, the second of the two events)."""
    with uow:
        row = uow.session.get(Workspace, uow.workspace)
        if row is None or row.stopped_at is not None:
            return False
        row.stopped_at = uow.now
        uow.session.execute(sa.update(Outbox).where(col(Outbox.status) == outbox.PENDING).values(
            status=outbox.FAILED, last_error=STOPPED, locked_until=None))
        uow.record([Fact(STOPPED, {"reason": command.reason})])
    return True


def resume_workspace(uow: UnitOfWork) -> bool:
    """The app works again for the unit of work's workspace (its token answered at start-up, a new install):
    True when it had been stopped."""
    with uow:
        row = uow.session.get(Workspace, uow.workspace)
        if row is None or row.stopped_at is None:
            return False
        row.stopped_at = None
        uow.record([Fact(RESUMED, {})])
    return True


def export_workspace(uow: UnitOfWork) -> dict[str, Any]:
    """Every row of the unit of work's workspace, to hand the agency its data back; the export is recorded in
    its trail (before the rows are read: the export holds its own record)."""
    with uow:
        assert uow.workspace is not None
        access_trail.record(uow.session, EXPORTED, {}, actor=uow.actor)
        uow.flush()
        row = uow.session.get(Workspace, uow.workspace)
        assert row is not None
        return {"workspace": row.model_dump(mode="json"),
                "tables": workspace_data.export(uow.session, uow.workspace)}


@dataclass(frozen=True)
class EraseWorkspace:
    reason: str = "request"


def erase_workspace(command: EraseWorkspace, uow: UnitOfWork) -> dict[str, int] | None:
    """Delete every row of the unit of work's workspace and the workspace itself, logged; the rows deleted per
    table, None when another process erased it first."""
    with uow:
        row = uow.session.get(Workspace, uow.workspace, with_for_update=True)
        if row is None:
            return None
        return workspace_data.erase(uow.session, row, actor=uow.actor, reason=command.reason, at=uow.now)


def erase_stopped(engine: Engine, *, keep_days: int, now: datetime, actor: str) -> list[int]:
    """Erase the workspaces stopped more than `keep_days` ago (the period their data is kept after the app is
    uninstalled); their ids."""
    with workspaces.all_workspaces(engine) as session:
        due = list(session.exec(select(Workspace.id).where(
            Workspace.stopped_at.is_not(None), Workspace.stopped_at < now - timedelta(days=keep_days))))  # type: ignore[union-attr, operator]
    for workspace_id in due:
        assert workspace_id is not None
        erase_workspace(EraseWorkspace("stopped"), UnitOfWork(engine, actor=actor, now=now, workspace=workspace_id))
    return [w for w in due if w is not None]


def installed(engine: Engine, team_id: str, name: str | None) -> int:
    """The workspace of a team that installs the app from its link (hosted mode): created on its first
    install, found again (and resumed, if it had been uninstalled) on a re-install, its name kept up to date."""
    with workspaces.all_workspaces(engine) as session, session.begin():
        found = workspaces.installed(session, team_id, name).id
    assert found is not None
    resume_workspace(UnitOfWork(engine, actor="slack install", workspace=found))  # installed again
    return found


def team_of(engine: Engine, workspace_id: int) -> str | None:
    """The Slack team of a workspace (None: not known yet)."""
    with workspaces.all_workspaces(engine) as session:
        return workspaces.team_of(session, workspace_id)


def every_workspace(engine: Engine) -> list[int]:
    """Every workspace the service knows, in creation order."""
    with workspaces.all_workspaces(engine) as session:
        return workspaces.every(session)


class EnterpriseInstallRefused(ValueError):
    """An install for a whole Enterprise Grid organisation: the product serves one agency per workspace."""


class InstallingStore(InstallationStore):
    """slack_sdk's SQLAlchemy installation store (`storage.installations`), whose `save` first gives the team
    its workspace (`installed`): whatever saves an installation (Bolt's OAuth flow, a re-install), the team's
    workspace exists before its token does, so a token never answers for a team the service keeps no rows
    for. Reads and deletions are the store's own."""

    def __init__(self, engine: Engine, client_id: str) -> None:
        self.engine = engine
        self.store = installation_store(engine, client_id)

    @property
    def logger(self) -> Logger:
        return self.store.logger

    def save(self, installation: Installation) -> None:
        if installation.is_enterprise_install or not installation.team_id:
            raise EnterpriseInstallRefused(installation.enterprise_id)
        installed(self.engine, installation.team_id, installation.team_name)
        self.store.save(installation)

    def save_bot(self, bot: Bot) -> None:
        self.store.save_bot(bot)  # a rotated token: the workspace is there already

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        return self.store.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                   is_enterprise_install=is_enterprise_install)

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        return self.store.find_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                            is_enterprise_install=is_enterprise_install)

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.store.delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                            user_id: str | None = None) -> None:
        self.store.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
