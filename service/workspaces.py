"""Which agency a Slack team is, as a use case: a single-agency install's workspace takes the team of its bot
token the first time it meets Slack; in hosted mode a team gets its workspace when it installs the app; a
team the service does not serve has none."""

from __future__ import annotations

from logging import Logger

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from sqlalchemy.engine import Engine

from storage import workspaces
from storage.installations import installation_store


def workspace_of_team(engine: Engine, team_id: str, *, adopt: bool) -> int | None:
    """The workspace of Slack team `team_id`, None when this service does not serve it (with `adopt`, a
    single-agency install's only workspace becomes this team's if it has none yet)."""
    try:
        with workspaces.all_workspaces(engine) as session, session.begin():
            found = workspaces.for_team(session, team_id, adopt=adopt).id
    except workspaces.WorkspaceUnknown:
        return None
    return found


def only_workspace(engine: Engine) -> int:
    """A single-agency install's workspace (created on its first run)."""
    return workspaces.resolve(engine, None)


def installed(engine: Engine, team_id: str, name: str | None) -> int:
    """The workspace of a team that installs the app from its link (hosted mode): created on its first
    install, found again on a re-install, its name kept up to date."""
    with workspaces.all_workspaces(engine) as session, session.begin():
        found = workspaces.installed(session, team_id, name).id
    assert found is not None
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
