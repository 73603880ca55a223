"""`m3bot --workspace TEAM_ID`: each command works for one agency, and names it when several share the base."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.tables import Client, Workspace, utcnow
from storage.workspaces import all_workspaces
from tests.cli.test_cli import CP1252, m3bot  # noqa: F401  (the fixture)
from wording import t


def two_agencies(engine) -> None:
    with all_workspaces(engine) as session, session.begin():
        session.add_all([Workspace(team_id="T0AAA", created_at=utcnow()),
                         Workspace(team_id="T0BBB", created_at=utcnow())])


def test_a_command_must_name_its_agency_when_several_share_the_base(m3bot, engine):
    two_agencies(engine)

    result = m3bot("import", CP1252)

    assert result.exit_code == 2
    assert t("cli.errors.workspace_required") in result.output
    with all_workspaces(engine) as session:
        assert session.exec(select(Client)).first() is None  # nothing imported, to no agency


def test_what_one_agency_imports_the_other_never_sees(m3bot, engine):
    two_agencies(engine)

    assert m3bot("--workspace", "T0AAA", "import", CP1252).exit_code == 1  # rows rejected, the good ones in
    mine = json.loads(m3bot("--workspace", "T0AAA", "cases", "--json").stdout)
    theirs = json.loads(m3bot("--workspace", "T0BBB", "cases", "--json").stdout)

    assert mine and theirs == []
    shown = m3bot("--workspace", "T0BBB", "show", mine[0]["id"])
    assert shown.exit_code == 2 and t("cli.show.not_found", id=mine[0]["id"]) in shown.output


def test_an_unknown_team_is_refused_with_its_id(m3bot, engine):
    two_agencies(engine)

    result = m3bot("--workspace", "T0NOPE", "cases")

    assert result.exit_code == 2 and t("cli.errors.workspace_unknown", team="T0NOPE") in result.output


def test_an_agencys_data_is_listed_handed_back_then_erased(m3bot, engine, tmp_path):
    two_agencies(engine)
    m3bot("--workspace", "T0AAA", "import", CP1252)
    out = tmp_path / "agence-a.json"

    listed = m3bot("workspace", "list")
    exported = m3bot("workspace", "export", "T0AAA", "--output", out)
    refused = m3bot("workspace", "erase", "T0AAA", input="n\n")
    erased = m3bot("workspace", "erase", "T0AAA", "--yes")

    assert "T0AAA" in listed.output and "T0BBB" in listed.output and "active" in listed.output
    assert exported.exit_code == 0 and out.stat().st_mode & 0o077 == 0  # its owner's only
    assert {row["number"] for row in json.loads(out.read_text())["tables"]["client"]}
    assert refused.exit_code == 1 and erased.exit_code == 0
    assert "T0AAA" not in m3bot("workspace", "list").output
    assert m3bot("--workspace", "T0AAA", "cases").exit_code == 2  # no such agency any more
