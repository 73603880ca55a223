"""Slack's word that the app no longer works for a workspace (`app_uninstalled`, or `tokens_revoked` naming
the bot's token): the agency's work stops (`service.workspaces.stop_workspace`), its data stays."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.context import BotDeps
from service.workspaces import StopWorkspace, stop_workspace

log = logging.getLogger(__name__)

SLACK_ACTOR = "slack"


def _stop(context: dict[str, Any], reason: str) -> None:
    deps: BotDeps = context["deps"]
    if stop_workspace(StopWorkspace(reason), deps.uow(SLACK_ACTOR)):
        log.warning("workspace %s stopped: %s", deps.workspace, reason)
    deps.workspaces.forget(context.get("team_id"))


def app_uninstalled(ack: Ack, context: dict[str, Any]) -> None:
    ack()
    _stop(context, "app_uninstalled")


def tokens_revoked(ack: Ack, event: dict[str, Any], context: dict[str, Any]) -> None:
    ack()
    if (event.get("tokens") or {}).get("bot"):  # users' tokens alone: the bot still works
        _stop(context, "tokens_revoked")


def register(app: App) -> None:
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
