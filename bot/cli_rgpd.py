"""`m3bot rgpd …`: the client's right of access and erasure, and the retention purge, from the command line.

Each command records in the audit trail who ran it (`--actor`, by default the operating-system user). The
client is named by his number in the management system; messages never print his personal data. Loaded
by `bot.cli`, which registers `rgpd_app` once its shared helpers exist.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import Engine

from bot import private_files
from bot.cli_common import agency_settings, database, fail, guarded, workspace
from bot.notifier import SlackNotifier
from bot.progress import progress_bar
from config.settings import Settings
from service.rgpd import EraseClient, ExportClient, Purge, erase_client, export_client, purge
from service.unit_of_work import Backend, UnitOfWork
from storage import rgpd
from storage.workspaces import session_for
from wording import t

rgpd_app = typer.Typer(help=t("rgpd.cli.help"), no_args_is_help=True)

Actor = Annotated[str | None, typer.Option("--actor", help=t("rgpd.cli.actor_help"))]


def _actor(value: str | None) -> str:
    return value or getpass.getuser()


def _backend(engine: Engine, config: Settings) -> Backend:
    """What Slack shows of an erased client is anonymised too (the bot delivers it, now or when it starts)."""
    return Backend(engine, SlackNotifier(config), config)


@rgpd_app.command("export", help=t("rgpd.cli.export_help"))
@guarded
def export_command(
    client: Annotated[str, typer.Argument(metavar="CLIENT")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help=t("rgpd.cli.output_help"))] = None,
    actor: Actor = None,
) -> None:
    with database() as engine:
        try:
            data = export_client(ExportClient(client), UnitOfWork(engine, actor=_actor(actor), workspace=workspace(engine)))
        except rgpd.ClientNotFound:
            fail(t("rgpd.cli.not_found", number=client))
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
        return
    private_files.write_text(output, text + "\n")
    typer.echo(t("rgpd.cli.exported", number=client, path=output))


@rgpd_app.command("erase", help=t("rgpd.cli.erase_help"))
@guarded
def erase_command(
    client: Annotated[str, typer.Argument(metavar="CLIENT")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help=t("rgpd.cli.yes_help"))] = False,
    actor: Actor = None,
) -> None:
    with database() as engine:
        agency = workspace(engine)
        config = agency_settings(engine, agency)
        if not yes:
            try:
                with session_for(engine, agency) as session:
                    cases = rgpd.client_case_ids(session, client)
            except rgpd.ClientNotFound:
                fail(t("rgpd.cli.not_found", number=client))
            if not typer.confirm(t("rgpd.cli.confirm", number=client, ids=", ".join(map(str, cases)) or "—")):
                typer.echo(t("rgpd.cli.cancelled"))
                raise typer.Exit(1)
        try:
            erased = erase_client(EraseClient(client), UnitOfWork(_backend(engine, config), actor=_actor(actor),
                                                                  workspace=agency))
        except rgpd.ClientNotFound:
            fail(t("rgpd.cli.not_found", number=client))
    typer.echo(t("rgpd.cli.erased", number=client, cases=len(erased.case_ids)))


@rgpd_app.command("purge", help=t("rgpd.cli.purge_help"))
@guarded
def purge_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help=t("rgpd.cli.dry_run_help"))] = False,
    actor: Actor = None,
) -> None:
    with database() as engine, progress_bar(t("rgpd.cli.purge_progress")) as advance:
        agency = workspace(engine)
        config = agency_settings(engine, agency)
        backend = _backend(engine, config)
        erased = purge(Purge(config.retention_years, dry_run=dry_run),
                       lambda: UnitOfWork(backend, actor=_actor(actor), workspace=agency), progress=advance)
    years = config.retention_years
    if not erased:
        typer.echo(t("rgpd.cli.purge_none", years=years))
        return
    key = "rgpd.cli.purge_list" if dry_run else "rgpd.cli.purge_done"
    typer.echo(t(key, count=len(erased), years=years, ids=", ".join(str(e.client_id) for e in erased)))
