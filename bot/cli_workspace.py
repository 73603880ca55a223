"""`m3bot workspace …`: the agencies a service holds, one's data handed back, and erased, as a processor must
at the end of the service. Loaded by `bot.cli`, which registers `workspace_app`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot import private_files
from bot.cli_common import database, fail, guarded
from bot.settings_record import operator
from service.unit_of_work import UnitOfWork
from service.workspaces import EraseWorkspace, erase_workspace, export_workspace, list_workspaces
from storage import workspaces
from wording import t

workspace_app = typer.Typer(help=t("cli.workspace.help"), no_args_is_help=True)

TeamId = Annotated[str, typer.Argument(metavar="ID_EQUIPE")]


def _workspace(engine, team_id: str) -> int:
    try:
        return workspaces.resolve(engine, team_id)
    except workspaces.WorkspaceUnknown:
        fail(t("cli.errors.workspace_unknown", team=team_id))


@workspace_app.command("list", help=t("cli.workspace.list_help"))
@guarded
def list_command() -> None:
    with database() as engine:
        found = list_workspaces(engine)
    if not found:
        typer.echo(t("cli.workspace.none"))
    for row in found:
        state = t("cli.workspace.stopped", at=row.stopped_at.date().isoformat()) if row.stopped_at else t("cli.workspace.active")
        typer.echo(t("cli.workspace.row", team=row.team_id or "—", name=row.name or "—", cases=row.cases, state=state))


@workspace_app.command("export", help=t("cli.workspace.export_help"))
@guarded
def export_command(
    team_id: TeamId,
    output: Annotated[Path, typer.Option("--output", "-o", help=t("cli.workspace.output_help"))],
) -> None:
    with database() as engine:
        data = export_workspace(UnitOfWork(engine, actor=operator(), workspace=_workspace(engine, team_id)))
    private_files.write_text(output, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    typer.echo(t("cli.workspace.exported", team=team_id, path=output,
                 rows=sum(len(rows) for rows in data["tables"].values())))


@workspace_app.command("erase", help=t("cli.workspace.erase_help"))
@guarded
def erase_command(
    team_id: TeamId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=t("rgpd.cli.yes_help"))] = False,
) -> None:
    with database() as engine:
        workspace = _workspace(engine, team_id)
        if not yes and not typer.confirm(t("cli.workspace.confirm", team=team_id)):
            typer.echo(t("rgpd.cli.cancelled"))
            raise typer.Exit(1)
        erased = erase_workspace(EraseWorkspace(), UnitOfWork(engine, actor=operator(), workspace=workspace))
    typer.echo(t("cli.workspace.erased", team=team_id, rows=sum((erased or {}).values())))
