"""Which agency a Slack request comes from: its team, mapped to the workspace whose rows it may see.

Kept per process: a team's workspace never changes once known, so a click costs no statement to learn it.
A single-agency install (one bot token) takes the first team it meets as its own, and refuses any other;
a team the service does not know is refused.
"""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from service.workspaces import only_workspace, workspace_of_team


class WorkspaceDirectory:
    def __init__(self, engine: Engine, *, single: bool) -> None:
        self.engine = engine
        self.single = single  # one bot token: the install's only workspace is the first team's
        self._known: dict[str, int] = {}
        self._lock = threading.Lock()

    def workspace(self, team_id: str | None) -> int | None:
        """The workspace of Slack team `team_id`; None when this service does not serve it. A request that
        names no team (Slack's own always do) is a single-agency install's: its signature is that app's."""
        if not team_id and not self.single:
            return None
        key = team_id or ""
        with self._lock:
            known = self._known.get(key)
        if known is not None:
            return known
        found = workspace_of_team(self.engine, team_id, adopt=self.single) if team_id else only_workspace(self.engine)
        if found is None:
            return None
        with self._lock:
            self._known[key] = found
        return found
