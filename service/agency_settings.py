"""An agency's settings, set by its admin in Slack: read, and changed with the change in its audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select

from config.agency import AgencySettings
from flows.steps.common import Fact
from service.unit_of_work import UnitOfWork
from storage.tables import Workspace
from storage.workspaces import all_workspaces

# Not the environment's `settings_changed` (`storage.access_trail`): each keeps its own last state.
AGENCY_SETTINGS_CHANGED = "agency_settings_changed"


def chosen_settings(engine: Engine, workspace_id: int) -> dict[str, Any]:
    """What the agency's admin set (empty until he does)."""
    with all_workspaces(engine) as session:
        found = session.exec(select(Workspace.settings).where(Workspace.id == workspace_id)).first()
    return dict(found or {})


@dataclass(frozen=True)
class ConfigureAgency:
    values: AgencySettings
    by: str  # the admin's Slack user ID


def configure_agency(command: ConfigureAgency, uow: UnitOfWork) -> dict[str, dict[str, Any]]:
    """Store the admin's settings for the unit of work's workspace; {name: {from, to}} of what changed, also
    in its trail (nothing when nothing changed)."""
    with uow:
        row = uow.session.get(Workspace, uow.workspace, with_for_update=True)
        assert row is not None, "the workspace of a request"
        wanted = command.values.model_dump(mode="json")
        changed = {name: {"from": row.settings.get(name), "to": value} for name, value in wanted.items()
                   if row.settings.get(name) != value}
        if changed:
            row.settings = wanted
            uow.record([Fact(AGENCY_SETTINGS_CHANGED, {"changed": changed, "by": command.by})])
        return changed
