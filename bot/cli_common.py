"""What every `m3bot` command shares: the settings, the migrated database, and one clear line (exit code 2)
for the errors a user can cause, never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, NoReturn

import sqlalchemy as sa
import typer
from sqlalchemy.engine import Engine

from config.agency import effective
from config.settings import Settings
from service.agency_settings import chosen_settings
from storage import workspaces
from storage.db import DatabaseUrlError, make_engine, migrate
from storage.importer import NotALagonExport
from wording import t


def fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can cause (settings, files, database) into one clear line."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DatabaseUrlError as error:
            fail(t("cli.errors.database_url", reason=error))
        except NotALagonExport as error:
            fail(error.reason)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            fail(t("cli.errors.database_unreachable"))
        except sa.exc.DBAPIError as error:  # the error's class only: its text may quote the row it failed on
            fail(t("cli.errors.database_failed", reason=type(error.orig).__name__))

    return wrapper


def settings() -> Settings:
    return Settings()


@contextmanager
def database() -> Iterator[Engine]:
    """The database, its schema brought up to date first: a fresh install needs no separate step."""
    engine = make_engine(settings().database_url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


_CHOSEN: dict[str, str | None] = {"team": None}


def choose_workspace(team_id: str | None) -> None:
    """The Slack team named by `m3bot --workspace` for this invocation (typer runs the root's option first)."""
    _CHOSEN["team"] = team_id


def workspace(engine: Engine) -> int:
    """The agency a command works for: `m3bot --workspace TEAM_ID …`, or the only one when there is one."""
    team = _CHOSEN["team"]
    try:
        return workspaces.resolve(engine, team)
    except workspaces.WorkspaceRequired:
        fail(t("cli.errors.workspace_required"))
    except workspaces.WorkspaceUnknown:
        fail(t("cli.errors.workspace_unknown", team=team))


def agency_settings(engine: Engine, agency: int) -> Settings:
    """The settings of the agency a command works for: its admin's choices over the environment's."""
    return effective(settings(), chosen_settings(engine, agency))
