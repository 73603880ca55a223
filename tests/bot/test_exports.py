"""`m3bot export`: the CSV read back with Python's csv module as a French spreadsheet would (`;`, UTF-8 with
BOM, dd/mm/yyyy) and the calendars parsed back with icalendar, on the data set of the dashboards' tests."""

from __future__ import annotations

import csv
import stat
from datetime import UTC, date, datetime

import pytest
from icalendar import Calendar
from sqlmodel import Session
from typer.testing import CliRunner

from bot.cli import app
from bot.exports import FORMULA_STARTS, export
from storage.dashboards import Period
from storage.tables import Action
from storage.workspaces import resolve
from tests.conftest import Factory, client_file, contract
from tests.storage.test_dashboards import AGENT, JUNE, TODAY, TZ, programme_data_set


def read_csv(path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to read UTF-8"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_cases_csv_has_one_line_per_case_opened_in_the_period(engine, tmp_path):
    data = programme_data_set(engine)
    report = export(engine, resolve(engine, None), JUNE, tmp_path, timezone=TZ, today=TODAY)

    rows = {int(r["Dossier"]): r for r in read_csv(tmp_path / "dossiers-m3_2026-06-01_2026-06-30.csv")}
    assert report.cases == 5 and set(rows) == {data.full, data.tns, data.unreachable, data.waiting, data.refused}
    full = rows[data.full]
    assert full["Client"] == "Mme Claire ClientC1" and full["Origine"] == "Chalandise"
    assert full["Ouvert le"] == "15/06/2026" and full["Date M+3"] == "02/06/2026"
    assert full["Joint"] == "oui" and full["Champs modifiés"] == "Téléphone"
    assert full["Pièces manquantes"] == "Permis de chaque conducteur"
    assert full["Contrats ailleurs"] == "Prévoyance"
    assert full["Motif de clôture"] == "Appel abouti, plan d'actions établi"
    assert rows[data.tns]["TNS détecté"] == "oui" and rows[data.tns]["Type de client"] == "Pro / TNS"
    assert rows[data.unreachable]["Tentatives d'appel"] == "3" and rows[data.unreachable]["Joint"] == "non"


def test_actions_csv_marks_what_is_late(engine, tmp_path):
    data = programme_data_set(engine)
    export(engine, resolve(engine, None), JUNE, tmp_path, timezone=TZ, today=TODAY)

    rows = read_csv(tmp_path / "actions-m3_2026-06-01_2026-06-30.csv")
    assert [(int(r["Dossier"]), r["Action"], r["Échéance"], r["Statut"], r["En retard"]) for r in rows] == [
        (data.tns, "Relance", "17/06/2026", "À faire", "oui"),
        (data.full, "Relance", "18/06/2026", "Fait", "non"),
        (data.full, "Rendez-vous", "20/06/2026", "À faire", "non"),
    ]


def test_export_reports_its_progress_row_by_row_up_to_the_total(engine, tmp_path):
    programme_data_set(engine)
    seen: list[tuple[int, int]] = []
    report = export(engine, resolve(engine, None), JUNE, tmp_path, timezone=TZ, today=TODAY,
                    progress=lambda done, total: seen.append((done, total)))

    total = report.cases + report.actions
    assert seen == [(n, total) for n in range(1, total + 1)]


def test_calendar_holds_each_agents_rdv_and_relances_still_to_do(engine, tmp_path):
    data = programme_data_set(engine)
    report = export(engine, resolve(engine, None), JUNE, tmp_path, timezone=TZ, today=TODAY)

    assert [p.name for p in report.calendars] == ["agenda-m3_vendeur.ics"]
    calendar = Calendar.from_ical((tmp_path / "agenda-m3_vendeur.ics").read_bytes())
    # The full case's relance is done: its RDV is left, and the declined case's administrative relance.
    events = sorted(calendar.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    assert [e.decoded("dtstart") for e in events] == [date(2026, 6, 17), date(2026, 6, 20)]
    event = events[1]
    assert event.decoded("dtstart") == date(2026, 6, 20) and event.decoded("dtend") == date(2026, 6, 21)
    assert str(event["summary"]) == "Rendez-vous M+3 — Mme Claire ClientC1"
    assert f"n° {data.full}" in str(event["description"]) and str(event["uid"]).startswith("m3-action-")


def test_a_period_without_cases_writes_headers_only(engine, tmp_path):
    programme_data_set(engine)
    july = Period(date(2026, 7, 1), date(2026, 7, 31))
    report = export(engine, resolve(engine, None), july, tmp_path, timezone=TZ, today=TODAY)
    assert (report.cases, report.actions, report.calendars) == (0, 0, [])
    assert read_csv(tmp_path / "dossiers-m3_2026-07-01_2026-07-31.csv") == []


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_cell_a_spreadsheet_would_run_is_written_as_text(engine, tmp_path):
    # A client number, a name and a note from the import or an agent, each starting like a formula.
    case_id = Factory(engine).case(client_file(number='=HYPERLINK("https://evil.example","C1")', civility="",
                                               first_name="", last_name="+33 6 12 34 56 78"),
                                   [contract(number="AUTO-9", seller=AGENT)], agent=AGENT)
    with Session(engine) as session, session.begin():
        for n, start in enumerate(FORMULA_STARTS):
            session.add(Action(case_id=case_id, kind="relance", due_on=date(2026, 6, 20), owner=AGENT,
                               reason=f"{start}cmd|' /C calc'!A{n}", created_at=datetime(2026, 6, 15, tzinfo=UTC),
                               created_by=AGENT))

    export(engine, resolve(engine, None), JUNE, tmp_path, timezone=TZ, today=TODAY)

    (case,) = read_csv(tmp_path / "dossiers-m3_2026-06-01_2026-06-30.csv")
    assert case["N° client"] == """'=HYPERLINK("https://evil.example","C1")"""
    assert case["Client"] == "'+33 6 12 34 56 78"
    reasons = [r["Motif"] for r in read_csv(tmp_path / "actions-m3_2026-06-01_2026-06-30.csv")]
    assert sorted(reasons) == sorted(f"'{start}cmd|' /C calc'!A{n}" for n, start in enumerate(FORMULA_STARTS))


def test_exported_files_and_the_directory_made_for_them_are_their_owners_only(engine, tmp_path):
    programme_data_set(engine)
    out = tmp_path / "exports" / "juin"
    report = export(engine, resolve(engine, None), JUNE, out, timezone=TZ, today=TODAY)
    assert mode(tmp_path / "exports") == mode(out) == 0o700
    assert report.files and {mode(path) for path in report.files} == {0o600}

    report.files[0].chmod(0o644)  # a copy someone opened up: exporting again closes it
    assert {mode(path) for path in export(engine, resolve(engine, None), JUNE, out, timezone=TZ, today=TODAY).files} == {0o600}


@pytest.fixture
def m3bot(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_export_command_writes_the_files_and_says_so(m3bot, engine, tmp_path):
    programme_data_set(engine)
    result = m3bot("export", "--from", "01/06/2026", "--to", "2026-06-30", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "5 dossier(s) et 3 action(s) exportés" in result.output
    assert (tmp_path / "out" / "dossiers-m3_2026-06-01_2026-06-30.csv").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "31/02/2026"], "Date invalide : 31/02/2026"),
    (["--from", "2026-06-30", "--to", "2026-06-01"], "Période invalide"),
    ([], "--from AAAA-MM-JJ"),
])
def test_export_command_errors_are_one_french_line(m3bot, tmp_path, args, message):
    result = m3bot("export", *args, "--out", tmp_path)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
