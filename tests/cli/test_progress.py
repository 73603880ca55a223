"""Long commands show a progress bar to a person at a terminal and print nothing extra for cron."""

from __future__ import annotations

import io
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from bot.progress import progress_bar
from tests.support.importing import import_csv_file

CP1252 = Path(__file__).parents[1] / "data" / "lagon_cp1252.csv"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_import_reports_its_progress_row_by_row(engine):
    seen: list[tuple[int, int]] = []

    import_csv_file(engine, CP1252, catch_up_days=3650, progress=lambda done, total: seen.append((done, total)))

    total = seen[-1][1]
    assert seen == [(n, total) for n in range(1, total + 1)] and total == 9  # the rows of the file


def test_a_terminal_gets_a_bar_and_a_pipe_gets_nothing(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress_bar("Import des lignes") as advance:
        advance(7, 14)
    assert "Import des lignes" in terminal.getvalue()

    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    with progress_bar("Import des lignes") as advance:
        advance(7, 14)
    assert pipe.getvalue() == ""


def test_an_import_run_by_cron_prints_the_summary_only(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["import", str(CP1252)])
    assert result.output.splitlines()[0].startswith("Import de lagon_cp1252.csv")
