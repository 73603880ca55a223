"""What every listener finds in Bolt's `context`: the shared dependencies and the request's identity.

The middleware (`bot/middleware.py`) fills these keys before any listener runs:
- `context["deps"]`: `BotDeps` bound to the agency the request comes from (its Slack team's workspace,
  also `context["workspace_id"]`): every unit of work and session made from it sees that agency's rows only;
- `context["case_id"]`: the case a button or modal refers to (None when it names no case);
- `context["case_args"]`: the other arguments `bot.payloads.encode` carried with it;
- `context["actor"]`: the agent e-mail of the Slack user, None when the user is not a known agent;
- `context["is_lead"]`: whether the user is one of `M3_LEADS`;
- `context["request_key"]`: a key naming this interaction, stable across Slack retries and double clicks,
  which the service layer claims so that Slack's retries and double clicks are handled once.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.admins import AdminDirectory
from bot.agents import AgentDirectory
from bot.notifier import SlackNotifier
from bot.outbox_delivery import OutboxDeliverer
from bot.workspaces import WorkspaceDirectory
from config.agency import effective
from config.settings import Settings
from flows.rules import Rules
from service.unit_of_work import Backend, UnitOfWork
from storage.workspaces import session_for


@dataclass(frozen=True)
class BotDeps:
    settings: Settings
    engine: Engine
    rules: Rules
    deliverer: OutboxDeliverer
    leads: frozenset[str]  # Slack user IDs of the team leads
    work: Executor  # applies button clicks once acknowledged (see `bot.app.WORK_THREADS`)
    backend: Backend  # the database, the Slack notifier and the settings, for the service layer
    agents: AgentDirectory  # Slack user -> agent e-mail
    workspaces: WorkspaceDirectory  # Slack team -> workspace
    admins: AdminDirectory  # who may change an agency's settings
    # The agency of the request these dependencies serve (`of`); None in the app's own, which serve none.
    workspace: int | None = None

    def of(self, workspace: int, chosen: dict[str, Any] | None = None) -> BotDeps:
        """These dependencies for a request of `workspace`, whose admin `chosen` settings override the
        environment's: what they read and write is that agency's only, its channel, leads and rules."""
        if not chosen:
            return dataclasses.replace(self, workspace=workspace)
        settings = effective(self.settings, chosen)
        backend = dataclasses.replace(self.backend, settings=settings, notifier=SlackNotifier(settings))
        return dataclasses.replace(self, workspace=workspace, settings=settings, rules=settings.rules(),
                                   leads=frozenset(settings.m3_leads), backend=backend)

    def uow(self, actor: str) -> UnitOfWork:
        """A unit of work for one request, to hand to a service handler."""
        return UnitOfWork(self.backend, actor=actor, workspace=self.workspace)

    def read(self) -> Session:
        """A session to read the request's agency's rows (lists, dashboards, a modal's case)."""
        assert self.workspace is not None, "the dependencies of a request (`of`)"
        return session_for(self.engine, self.workspace)
