"""The m3bot command line, run through typer's CliRunner on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

CP1252 = Path(__file__).parents[1] / "data" / "lagon_cp1252.csv"


@pytest.fixture
def m3bot(engine, monkeypatch):
    """Run `m3bot ARGS` against the test database; returns the typer Result."""
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CATCH_UP_DAYS", "30")
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_import_prints_a_summary_with_rejected_lines_and_exits_non_zero(m3bot):
    result = m3bot("import", CP1252)

    assert result.exit_code == 1
    assert "4 contrat(s) importé(s)" in result.output and "5 ligne(s) rejetée(s)" in result.output
    assert "ligne 4 :" in result.output and "ligne 8 :" in result.output


def test_cases_and_show_give_valid_json(m3bot):
    m3bot("import", CP1252)

    cases = json.loads(m3bot("cases", "--json").output)
    assert len(cases) == 3 and {c["state"] for c in cases} == {"preparation"}
    trace = json.loads(m3bot("show", cases[0]["id"], "--json").output)
    assert trace["case"]["id"] == cases[0]["id"] and trace["timeline"]
    assert json.loads(m3bot("cases", "--state", "closed", "--json").output) == []


def test_cases_and_show_print_readable_text(m3bot):
    m3bot("import", CP1252)

    listing = m3bot("cases", "--agent", "pro@agence.fr")  # C200's account manager calls him (M3_CALLER)
    assert listing.exit_code == 0 and "C200" in listing.output and "C100" not in listing.output
    shown = m3bot("show", 1)
    assert shown.exit_code == 0 and "Préparation" in shown.output and "case_created" in shown.output


def test_open_due_twice_opens_nothing_more(m3bot):
    m3bot("import", CP1252)  # M+3 dates from 02/06/2026 to 12/06/2026

    first = m3bot("open-due", "--today", "2026-06-10")
    second = m3bot("open-due", "--today", "2026-06-10")

    assert first.exit_code == second.exit_code == 0
    assert "2 dossier(s) ouvert(s)" in first.output
    assert "Aucun dossier à ouvrir" in second.output


def test_open_due_first_run_lists_cases_past_the_catch_up_window(m3bot):
    m3bot("import", CP1252)

    result = m3bot("open-due", "--today", "2026-07-20")

    assert "hors délai" in result.output and "Aucun dossier à ouvrir" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["cases"], {"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL invalide"),
        (["cases"], {"DATABASE_URL": "not a url"}, "DATABASE_URL invalide"),
        (["cases"], {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "injoignable"),
        (["import", "absent.csv"], {}, "Fichier introuvable"),
        (["open-due", "--today", "15/06/2026"], {}, "Date invalide"),
        (["cases", "--state", "nowhere"], {}, "État inconnu"),
        (["show", "999"], {}, "introuvable"),
    ],
)
def test_errors_are_one_line_without_traceback(m3bot, monkeypatch, args, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = m3bot(*args)

    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception


def test_a_csv_that_is_not_a_lagon_export_is_one_clear_line(m3bot, tmp_path):
    other = tmp_path / "autre.csv"
    other.write_text("date;montant\n01/01/2026;10\n", encoding="utf-8")

    result = m3bot("import", other)

    assert result.exit_code == 2 and "pas un export Lagon" in result.output


def test_a_fresh_database_is_migrated_by_the_first_command(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'vide.db'}")
    runner = CliRunner()

    assert runner.invoke(app, ["cases"]).output.strip() == "Aucun dossier."
    assert runner.invoke(app, ["migrate"]).exit_code == 0
