"""The settings the bot starts with, recorded in the audit trail when they differ from the last ones
(`storage.access_trail.record_settings`): the leads' list, the call rules, the channel... Secrets (tokens,
the signing secret, the database password) are never recorded."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from config.settings import Settings
from storage import access_trail, workspaces

SECRET_WORDS = ("token", "secret", "password")


def recordable(settings: Settings) -> dict[str, Any]:
    """Every setting but the secrets, as JSON values; the database URL without its password."""
    values: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr) or any(word in name for word in SECRET_WORDS):
            continue
        if name == "database_url":
            try:
                value = make_url(str(value)).render_as_string(hide_password=True)
            except ArgumentError:
                continue
        values[name] = str(value) if isinstance(value, Path) else value
    return values


def operator() -> str:
    """Who runs the command: the operating-system user (the CLI's and the bot's actor)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a name
        return "unknown"


def record_at_start(engine: Engine, settings: Settings, *, process: str,
                    workspace: int | None = None) -> dict[str, Any] | None:
    """Record what changed in the settings since the last start of any process (`process`: run, scheduler), in
    the trail of `workspace` (the environment's settings are a single-agency install's: the only one)."""
    workspace = workspaces.resolve(engine, None) if workspace is None else workspace
    return access_trail.record_settings(engine, recordable(settings), actor=f"{operator()} (m3bot {process})",
                                        workspace=workspace)
