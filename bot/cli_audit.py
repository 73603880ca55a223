"""`m3bot audit verify [CASE]`: recompute the audit trail's hash chains and name each broken one.

Exit 0 with a one-line summary when every chain holds; exit 1 naming each case (or the chain of entries of
no case) whose entries were changed, deleted, inserted or reordered. Loaded by `bot.cli` like `cli_rgpd`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli_common import database, fail, guarded, workspace
from storage.audit_verify import describe_problem, verify
from storage.tables import M3Case
from storage.workspaces import session_for
from wording import t

audit_app = typer.Typer(help=t("audit.cli.help"), no_args_is_help=True)


def chain_name(case_id: int | None) -> str:
    return t("audit.cli.case", id=case_id) if case_id is not None else t("audit.cli.no_case")


@audit_app.command("verify", help=t("audit.cli.verify_help"))
@guarded
def verify_command(case_id: Annotated[int | None, typer.Argument(metavar="[CASE]")] = None) -> None:
    with database() as engine, session_for(engine, workspace(engine)) as session:
        if case_id is not None and session.get(M3Case, case_id) is None:
            fail(t("audit.cli.not_found", id=case_id))
        result = verify(session, case_id)
    if result.ok:
        typer.echo(t("audit.cli.ok", chains=result.chains, entries=result.entries))
        return
    typer.echo(t("audit.cli.broken", chains=", ".join(chain_name(c) for c in result.broken)))
    for problem in result.problems:
        typer.echo(t("audit.cli.problem", chain=chain_name(problem.case_id), what=describe_problem(problem)))
    raise typer.Exit(1)
