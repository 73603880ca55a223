"""The m3bot command line, run through typer's CliRunner on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from flows.opening import m3_date
from storage.tables import Client, M3Case, ProfileCheck

CP1252 = Path(__file__).parents[1] / "data" / "lagon_cp1252.csv"


@pytest.fixture
def m3bot(engine, monkeypatch):
    """Run `m3bot ARGS` against the test database; returns the typer Result."""
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CATCH_UP_DAYS", "30")
    runner = CliRunner()
    return lambda *args, **options: runner.invoke(app, [str(a) for a in args], **options)


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


def test_open_due_twice_opens_nothing_more(m3bot, monkeypatch):
    monkeypatch.setenv("CATCH_UP_DAYS", "3650")  # the file's dates are months behind the clock
    m3bot("import", CP1252)  # M+3 dates from 02/06/2026 to 12/06/2026

    first = m3bot("open-due", "--today", "2026-06-10")
    second = m3bot("open-due", "--today", "2026-06-10")

    assert first.exit_code == second.exit_code == 0
    assert "2 dossier(s) ouvert(s)" in first.output
    assert "Aucun dossier à ouvrir" in second.output


def test_open_due_first_run_lists_cases_past_the_catch_up_window(m3bot, monkeypatch):
    monkeypatch.setenv("CATCH_UP_DAYS", "3650")
    m3bot("import", CP1252)
    monkeypatch.setenv("CATCH_UP_DAYS", "30")

    result = m3bot("open-due", "--today", "2026-07-20")

    assert "3 dossier(s) hors délai" in result.output and "Aucun dossier à ouvrir" in result.output


def test_import_sets_aside_the_cases_already_late_and_cases_lists_them(m3bot):
    imported = m3bot("import", CP1252)  # today is long after these M+3 dates (June 2026)

    assert "3 nouveau(x) dossier(s) hors délai" in imported.output
    listing = m3bot("cases", "--state", "out_of_time")
    assert listing.exit_code == 0 and listing.output.count("Hors délai (non ouvert)") == 3
    as_json = json.loads(m3bot("cases", "--state", "out_of_time", "--json").output)
    assert len(as_json) == 3 and all(c["out_of_time_at"] and c["opened_at"] is None for c in as_json)
    assert "Aucun dossier à ouvrir" in m3bot("open-due").output
    assert m3bot("cases", "--state", "not_due").output.strip() == "Aucun dossier."


def test_cases_not_due_lists_the_cases_whose_m3_date_is_to_come(m3bot, tmp_path):
    export = tmp_path / "export.csv"
    header = CP1252.read_text(encoding="cp1252").splitlines()[0]
    subscribed = (datetime.now(UTC) - timedelta(days=10)).date()  # M+3 date in about 80 days
    soon = subscribed.strftime("%d/%m/%Y")
    export.write_text(f"{header}\nC9;M.;Petit;Jean;particulier;;;1 rue Haute 69003 Lyon;AUTO-9;auto;tiers;"
                      f"{soon};chalandise;oui;;vendeur@agence.fr;\n", encoding="utf-8")
    m3bot("import", export)

    listing = m3bot("cases", "--state", "not_due")

    expected = m3_date(subscribed).strftime("%d/%m/%Y")  # `flows.opening`'s own rule, tested with the engine
    assert f"À venir, M+3 le {expected}" in listing.output and "C9 Jean Petit" in listing.output


def test_import_summary_reports_duplicate_contracts_and_conflicts_with_their_lines(m3bot, tmp_path, engine):
    header = CP1252.read_text(encoding="cp1252").splitlines()[0]
    line = ("C9;M.;Petit;Jean;particulier;jean@example.fr;06 12 34 56 78;1 rue Haute 69003 Lyon;{contract};auto;tiers;"
            "02/03/2026;chalandise;oui;;vendeur@agence.fr;")
    first = tmp_path / "first.csv"
    first.write_text("\n".join([header, line.format(contract="AUTO-9")]), encoding="utf-8")
    m3bot("import", first)
    with Session(engine) as session, session.begin():
        case = session.exec(select(M3Case)).one()
        session.add(ProfileCheck(case_id=case.id, field="phone", answer="modified", old_value="+33612345678",
                                 new_value="+33698765432", at=datetime.now(UTC), by="vendeur@agence.fr"))
        session.exec(select(Client)).one().phone = "+33698765432"
    later = tmp_path / "later.csv"
    later.write_text("\n".join([header, line.format(contract="AUTO-9"), line.format(contract="HAB-9"),
                                line.format(contract="HAB-9")]), encoding="utf-8")

    result = m3bot("import", later)

    assert result.exit_code == 1
    assert "ligne 3 : ce numéro de contrat figure aussi ligne(s) 4" in result.output
    assert "ligne 4 : ce numéro de contrat figure aussi ligne(s) 3" in result.output
    assert "1 ligne(s) en conflit" in result.output and "ligne 2 : gardé(s)" in result.output
    assert "Téléphone (vendeur@agence.fr" in result.output


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


def test_cases_lists_opened_ones_first_and_the_others_as_to_come_or_to_open(m3bot, monkeypatch, tmp_path):
    from tests.storage.test_importer import csv_bytes, row

    monkeypatch.setenv("CATCH_UP_DAYS", "3650")  # the file's dates are months old on the real clock
    export = tmp_path / "export.csv"
    export.write_bytes(csv_bytes(row("C1", "AUTO-1", "01/11/2099"), row("C2", "AUTO-2", "02/03/2026"),
                                 row("C3", "AUTO-3", "03/03/2026"), row("C4", "AUTO-4", "04/03/2026")))
    m3bot("import", export)
    m3bot("open-due", "--today", "2026-06-03")  # opens C2's and C3's cases (M+3 on 2 and 3 June)

    lines = m3bot("cases").output.splitlines()[1:]

    assert [line.split()[0] for line in lines] == ["2", "3", "4", "1"]  # opened first, then by M+3 date
    assert "Préparation" in lines[0] and "Préparation" in lines[1]
    assert "À ouvrir" in lines[2]  # due on the real clock, not opened yet
    assert "À venir, M+3 le 01/02/2100" in lines[3]
