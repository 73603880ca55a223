"""Who read or exported client data from the command line is in the audit trail, with who and when:
`m3bot show`, `m3bot cases`, `m3bot export`, `m3bot rgpd export`."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from storage import access_trail, rgpd
from storage.tables import AuditEntry
from tests.cli.test_cli import CP1252


@pytest.fixture
def m3bot(engine, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def entries(engine, event: str) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.event == event).order_by(AuditEntry.id)))


def recent(entry: AuditEntry) -> bool:
    return datetime.now(UTC) - entry.at < timedelta(minutes=1)


@pytest.mark.parametrize("options", [[], ["--json"]])
def test_showing_a_case_is_recorded_with_who_and_when(m3bot, engine, options):
    m3bot("import", CP1252)

    assert m3bot("show", 1, *options).exit_code == 0

    (entry,) = entries(engine, access_trail.CASE_SHOWN)
    assert (entry.case_id, entry.actor, entry.data) == (1, getpass.getuser(), {"pdf": False})
    assert recent(entry)


def test_a_case_not_found_is_not_recorded_as_shown(m3bot, engine):
    assert m3bot("show", 999).exit_code == 2
    assert entries(engine, access_trail.CASE_SHOWN) == []


def test_listing_cases_is_recorded(m3bot, engine):
    m3bot("import", CP1252)

    m3bot("cases", "--agent", "vendeur2@agence.fr")

    (entry,) = entries(engine, access_trail.CASES_LISTED)
    assert entry.actor == getpass.getuser() and entry.data["agent"] == "vendeur2@agence.fr" and recent(entry)


def test_an_export_is_recorded_with_its_period(m3bot, engine, tmp_path):
    m3bot("import", CP1252)

    assert m3bot("export", "--from", "2026-01-01", "--to", "2026-01-31", "--out", tmp_path).exit_code == 0

    (entry,) = entries(engine, access_trail.DATA_EXPORTED)
    assert entry.actor == getpass.getuser() and recent(entry)
    assert (entry.data["from"], entry.data["to"]) == ("2026-01-01", "2026-01-31")


def test_an_rgpd_export_is_recorded_with_the_actor_given(m3bot, engine, tmp_path):
    m3bot("import", CP1252)

    assert m3bot("rgpd", "export", "C100", "-o", tmp_path / "c100.json", "--actor", "dpo@agence.fr").exit_code == 0

    (entry,) = entries(engine, rgpd.EXPORTED_EVENT)
    assert entry.actor == "dpo@agence.fr" and entry.client_id is not None and recent(entry)
