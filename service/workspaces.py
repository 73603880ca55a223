"""Which agency a Slack team is, as a use case: a single-agency install's workspace takes the team of its bot
token the first time it meets Slack; a team the service does not serve has none."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from storage import workspaces


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
