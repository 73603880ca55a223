"""`m3bot sandbox`: added to the command line through the `m3bot.commands` entry point (pyproject.toml)."""

from __future__ import annotations

from typing import Annotated

import typer

from wording import t


def register(app: typer.Typer) -> None:
    @app.command("sandbox", help=t("sandbox.cli.help"))
    def sandbox_command(
        port: Annotated[int, typer.Option("--port", help=t("sandbox.cli.port"))] = 8000,
        at: Annotated[str | None, typer.Option("--time", metavar="AAAA-MM-JJTHH:MM", help=t("sandbox.cli.time"))] = None,
    ) -> None:
        from sandbox.demo import main  # the demo's modules load only for this command

        main(port=port, at=at)
