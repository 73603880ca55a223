"""Which agency a Slack request comes from: its team, mapped to the workspace whose rows it may see, and the
settings its admin chose.

Kept per process for `KNOWN_SECONDS`: a click costs no statement to learn its agency, and a workspace
stopped by another process (the app uninstalled) is noticed within that time; the process that stops it
forgets it at once. A single-agency install (one bot token) takes the first team it meets as its own, and
refuses any other; a team the service does not serve, or no longer serves, is refused.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy.engine import Engine

from service.agency_settings import chosen_settings
from service.workspaces import only_workspace, workspace_of_team

KNOWN_SECONDS = 60


class WorkspaceDirectory:
    def __init__(self, engine: Engine, *, single: bool) -> None:
        self.engine = engine
        self.single = single  # one bot token: the install's only workspace is the first team's
        self._known: dict[str, tuple[float, int | None]] = {}  # team -> (when read, workspace or None)
        self._chosen: dict[int, tuple[float, dict[str, Any]]] = {}  # workspace -> (when read, its settings)
        self._lock = threading.Lock()

    def workspace(self, team_id: object) -> int | None:
        """The workspace of Slack team `team_id`; None when this service does not serve it, or when the team is
        not an id at all (a forged body). A request that names no team (Slack's own always do) is a
        single-agency install's: its signature is that app's."""
        if (team_id is not None and not isinstance(team_id, str)) or (not team_id and not self.single):
            return None
        key, now = (team_id if isinstance(team_id, str) else ""), time.monotonic()
        with self._lock:
            known = self._known.get(key)
        if known is not None and now - known[0] < KNOWN_SECONDS:
            return known[1]
        found = (workspace_of_team(self.engine, team_id, adopt=self.single) if isinstance(team_id, str) and team_id
                 else only_workspace(self.engine))
        with self._lock:
            self._known[key] = (now, found)
        return found

    def chosen(self, workspace: int) -> dict[str, Any]:
        """The settings the agency's admin chose (`service.agency_settings`), read again after `KNOWN_SECONDS`."""
        now = time.monotonic()
        with self._lock:
            known = self._chosen.get(workspace)
        if known is not None and now - known[0] < KNOWN_SECONDS:
            return known[1]
        chosen = chosen_settings(self.engine, workspace)
        with self._lock:
            self._chosen[workspace] = (now, chosen)
        return chosen

    def forget(self, team_id: str | None) -> None:
        """Read the team's workspace again at its next request (it was just stopped, or installed again)."""
        with self._lock:
            self._known.pop(team_id or "", None)

    def forget_settings(self, workspace: int) -> None:
        """Read the agency's settings again at its next request (its admin just changed them)."""
        with self._lock:
            self._chosen.pop(workspace, None)
