"""The Lagon export imported from Slack, through the real Bolt app over signed HTTP and the Slack stand-in, on
both databases: a lead shares the CSV in the bot's Messages tab (`message.im`, subtype `file_share`), the bot
reads it with `files.info` and its private URL, imports it as `m3bot import` does and answers with the same
report; the same file again imports nothing new, a Slack retry imports nothing, and a non-lead's file or a
file that is not the export is refused with nothing changed. The file goes into the lead's agency only, when
others share the database."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from bot.imports import run_import
from bot.listeners.events import file_import
from storage.tables import Client, Contract, ImportRun, Workspace, utcnow
from storage.workspaces import all_workspaces, session_for
from tests.bot.conftest import running_bot
from tests.bot.harness import LEAD
from tests.storage.test_importer import csv_bytes, row

GOOD = csv_bytes(row("C1", "AUTO-1"), row("C2", "AUTO-2"), row("C3", "AUTO-3", date_souscription="31/02/2026"))


def answers(harness, user: str) -> list[str]:
    """The bot's messages in its direct message with `user`, oldest first."""
    return [m.text for m in harness.slack.direct_messages(user) if m.user == harness.slack.bot_user_id]


def wait_answer(harness, user: str, words: str, count: int = 1) -> list[str]:
    """The bot's messages in the DM once `count` of them hold `words`."""
    return harness.slack.wait_for(lambda: (found := answers(harness, user)) and
                                  sum(words in text for text in found) >= count and found, timeout=15)


def count(harness, model) -> int:
    with Session(harness.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_lead_shares_the_export_in_the_bot_dm_and_gets_the_import_report(harness, monkeypatch):
    monkeypatch.setattr(file_import, "LONG_IMPORT_ROWS", 2)  # three rows: long enough to be told it started

    reply = harness.slack.share_file(harness.lead_id, "export-lagon.csv", GOOD)

    assert reply.status == 200
    said = wait_answer(harness, harness.lead_id, "importé(s)")
    assert said[0] == "Import de export-lagon.csv en cours (3 lignes)…"
    report = said[-1]
    assert "Import de export-lagon.csv : 2 contrat(s) importé(s), 0 mis à jour, 0 inchangé(s), 1 ligne(s) rejetée(s)" \
        in report
    assert "ligne 4 : date impossible" in report and "souscription" in report
    assert count(harness, Contract) == 2 and count(harness, ImportRun) == 1
    assert harness.slack.calls_to("files.info")[0].args["file"] in harness.slack.downloads()


def test_the_same_file_shared_again_imports_nothing_new(harness):
    harness.slack.share_file(harness.lead_id, "export.csv", GOOD)
    wait_answer(harness, harness.lead_id, "importé(s)")

    harness.slack.share_file(harness.lead_id, "export.csv", GOOD)

    second = wait_answer(harness, harness.lead_id, "importé(s)", count=2)[-1]
    assert "0 contrat(s) importé(s), 0 mis à jour, 2 inchangé(s), 1 ligne(s) rejetée(s)" in second
    assert "déjà été importé" in second
    assert count(harness, Contract) == 2


def test_a_slack_retry_of_the_share_imports_nothing_in_this_process_or_another(harness, engine, slack):
    harness.slack.share_file(harness.lead_id, "export.csv", GOOD)
    wait_answer(harness, harness.lead_id, "importé(s)")
    (event,) = slack.sent_events

    assert slack.retry_event(event).status == 200
    with running_bot(engine, slack):  # a second process behind the load balancer: it never saw the event
        assert slack.retry_event(event, retry_num=2).status == 200

    assert len(slack.calls_to("files.info")) == 1 and len(slack.downloads()) == 1
    assert count(harness, ImportRun) == 1 and count(harness, Contract) == 2
    assert sum("importé(s)" in text for text in answers(harness, harness.lead_id)) == 1


def test_a_non_lead_sharing_the_export_is_refused_and_nothing_is_imported(harness):
    harness.slack.share_file(harness.agent_id, "export.csv", GOOD)

    (refusal,) = wait_answer(harness, harness.agent_id, "Seul un responsable")
    assert "rien n'a été importé" in refusal
    assert harness.slack.downloads() == [] and harness.slack.calls_to("files.info") == []
    assert count(harness, Contract) == 0 and count(harness, ImportRun) == 0


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("photo.png", b"\x89PNG\r\n", "n'est pas un CSV"),
        ("export.csv", b"nom;prenom\r\nDurand;Lea\r\n", "n'est pas un export Lagon : colonne(s) absente(s)"),
        ("export.csv", b"\x81\x8d\x8f;\x90\r\n", "Encodage du fichier non reconnu"),
        ("export.csv", b"", "Ce fichier est vide"),
        ("export.csv", b"x" * (file_import.MAX_IMPORT_BYTES + 1), "dépasse 10 Mo"),
    ],
    ids=["not-csv", "not-lagon", "encoding", "empty", "too-large"],
)
def test_a_file_that_is_not_the_lagon_export_is_refused_and_changes_nothing(harness, name, data, words):
    harness.slack.share_file(harness.lead_id, name, data)

    (refusal,) = wait_answer(harness, harness.lead_id, words)
    assert "Rien n'a été importé" in refusal
    assert count(harness, Contract) == 0 and count(harness, ImportRun) == 0


def test_a_plain_message_gets_a_hint_and_the_bot_ignores_its_own_messages(harness):
    im = harness.slack.direct_messages(harness.lead_id)  # opens nothing: no DM yet
    assert im == []
    harness.slack.send_event({"type": "message", "channel": "D0", "channel_type": "im", "user": LEAD[0],
                              "text": "bonjour", "ts": "1.000001"})
    harness.slack.send_event({"type": "message", "subtype": "file_share", "channel": "D0", "channel_type": "im",
                              "user": harness.slack.bot_user_id, "bot_id": "B0STANDIN", "ts": "1.000002",
                              "files": [{"id": "F0"}]})

    hint = harness.slack.wait_for(lambda: harness.slack.calls_to("chat.postMessage"))
    assert "Je ne lis pas les messages" in hint[0].args["text"]
    assert harness.slack.calls_to("files.info") == []


def test_the_export_goes_into_the_lead_agency_only(harness):
    harness.open_home(harness.lead_id)  # the install meets its team: this agency's
    with all_workspaces(harness.engine) as session, session.begin():
        ours = session.exec(select(Workspace.id).where(Workspace.team_id == harness.slack.team_id)).one()
        other = Workspace(team_id="T0OTHER", created_at=utcnow())
        session.add(other)
        session.flush()
        theirs = other.id
    # The other agency imported the very same file, its clients and contracts numbered as ours.
    run_import(harness.settings, harness.engine, theirs, GOOD, "export.csv")
    with session_for(harness.engine, theirs) as session:
        before = sorted(map(tuple, session.exec(select(Contract.id, Contract.number, Contract.client_id))))

    harness.slack.share_file(harness.lead_id, "export.csv", GOOD)

    report = wait_answer(harness, harness.lead_id, "importé(s)")[-1]
    assert "2 contrat(s) importé(s), 0 mis à jour, 0 inchangé(s), 1 ligne(s) rejetée(s)" in report
    assert "déjà été importé" not in report  # their import of the same bytes is not ours
    with all_workspaces(harness.engine) as session:
        runs = sorted(session.exec(select(ImportRun.workspace_id)))
        clients = sorted(session.exec(select(Client.workspace_id, Client.number)))
    assert runs == sorted([ours, theirs])
    assert clients == sorted([(ours, "C1"), (ours, "C2"), (theirs, "C1"), (theirs, "C2")])
    with session_for(harness.engine, theirs) as session:
        assert sorted(map(tuple, session.exec(select(Contract.id, Contract.number, Contract.client_id)))) == before
