"""A client's RGPD requests carried out by a lead from Slack, through the real Bolt app over signed HTTP and the
Slack stand-in, on both databases: "Demande RGPD d'un client" on his App Home opens a modal; the access export
arrives as a JSON file in his DM with the bot, the erasure anonymises the client and is answered there, both
in the audit trail under the lead's name, as `m3bot rgpd` does. An unknown client number, an unconfirmed
erasure, a non-lead's click or a forged submission is refused in French and nothing is done; so is the number
of a client of another agency sharing the database: the modal finds clients of the lead's agency only."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import Session, select

from bot.views import ids
from storage import rgpd
from storage.repository import create_case
from storage.tables import AuditEntry, Client, M3Case, Workspace, utcnow
from storage.workspaces import all_workspaces, session_for
from tests.bot.harness import LEAD, wait_until
from tests.bot.test_lead_tools import lead_home
from tests.conftest import NOW, client_file, contract


def open_rgpd_modal(harness, user: str):
    """`user` clicks "Demande RGPD d'un client" on the lead's Home (a forged click when he is not the lead)."""
    before = len(harness.slack.calls_to("views.open"))
    reply = harness.click(user, lead_home(harness, harness.lead_id), ids.RGPD)
    assert reply.status == 200
    harness.slack.wait_for(lambda: len(harness.slack.calls_to("views.open")) > before)
    modal = harness.slack.open_modal(user)
    assert modal.content["callback_id"] == ids.MODAL_RGPD
    return modal


def values(number: str, right: str | None, confirmed: bool = False) -> dict:
    return {ids.INPUT_CLIENT_NUMBER: {ids.INPUT_CLIENT_NUMBER: number},
            ids.INPUT_RGPD_RIGHT: {ids.INPUT_RGPD_RIGHT: right},
            ids.INPUT_RGPD_CONFIRM: {ids.INPUT_RGPD_CONFIRM: ["confirmed"] if confirmed else []}}


def trail(harness, event: str) -> list[AuditEntry]:
    with Session(harness.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.event == event)))


def the_client(harness, client_id: int) -> Client:
    with Session(harness.engine) as session:
        return session.get(Client, client_id)


@pytest.fixture
def client_case(factory) -> int:
    """A client, n°C77, with one open case."""
    return factory.case(client_file(number="C77", last_name="Dupré", email="helene.dupre@example.fr"),
                        [contract(number="AUTO-77")])


def test_the_access_request_from_the_modal_delivers_the_export_in_the_lead_dm(harness, client_case):
    modal = open_rgpd_modal(harness, harness.lead_id)

    reply = harness.submit(harness.lead_id, modal.id, values("C77", "access"))

    assert reply.status == 200 and not reply.body, reply.body
    upload = harness.slack.wait_for(lambda: harness.slack.calls_to("files.completeUploadExternal"))[0]
    (file,) = json.loads(upload.args["files"])
    data = json.loads(harness.slack.files[file["id"]]["content"])
    assert data["client"]["number"] == "C77" and data["client"]["last_name"] == "Dupré"
    assert [c["id"] for c in data["cases"]] == [client_case] and data["exported_by"] == LEAD[1]
    (message,) = [m for m in harness.slack.direct_messages(harness.lead_id) if m.files]
    assert message.files[0]["id"] == file["id"] and "Droit d'accès du client n°C77" in message.text
    (exported,) = trail(harness, rgpd.EXPORTED_EVENT)
    assert exported.actor == LEAD[1] and exported.client_id == data["client"]["id"]


def test_the_erasure_from_the_modal_erases_the_client_and_is_in_the_audit_trail(harness, client_case):
    modal = open_rgpd_modal(harness, harness.lead_id)
    unconfirmed = harness.submit(harness.lead_id, modal.id, values("C77", "erase")).json()["errors"]
    assert "irréversible" in unconfirmed[ids.INPUT_RGPD_CONFIRM]
    assert trail(harness, rgpd.ERASED_EVENT) == []

    reply = harness.submit(harness.lead_id, modal.id, values("C77", "erase", confirmed=True))

    assert reply.status == 200 and not reply.body, reply.body
    (erased,) = wait_until(lambda: trail(harness, rgpd.ERASED_EVENT))
    assert erased.actor == LEAD[1] and erased.data["reason"] == rgpd.REQUEST
    client = the_client(harness, erased.client_id)
    assert client.last_name == "Client anonymisé" and client.email is None and client.number != "C77"
    with Session(harness.engine) as session:
        assert session.get(M3Case, client_case).close_reason == "rgpd_erased"
    answer = harness.slack.wait_for(lambda: [m.text for m in harness.slack.direct_messages(harness.lead_id)
                                             if "Droit à l'effacement du client n°C77" in m.text])
    assert f"1 dossier(s) ({client_case})" in answer[0]


@pytest.mark.parametrize("right", ["access", "erase"])
def test_an_unknown_client_number_is_shown_under_the_field_and_nothing_is_done(harness, client_case, right):
    modal = open_rgpd_modal(harness, harness.lead_id)

    errors = harness.submit(harness.lead_id, modal.id, values("C404", right, confirmed=True)).json()["errors"]

    assert errors == {ids.INPUT_CLIENT_NUMBER: "Aucun client n°C404."}
    assert trail(harness, rgpd.EXPORTED_EVENT) == [] == trail(harness, rgpd.ERASED_EVENT)


def test_a_non_lead_click_and_a_forged_submission_are_refused_and_nothing_is_done(harness, client_case):
    told = len(harness.slack.ephemerals_for(harness.agent_id))
    reply = harness.click(harness.agent_id, lead_home(harness, harness.lead_id), ids.RGPD)
    assert reply.status == 200
    refusal = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id)[told:])
    assert "Seul un responsable d'équipe peut traiter une demande RGPD" in refusal[0].text
    assert harness.slack.open_modal(harness.agent_id) is None

    modal = open_rgpd_modal(harness, harness.lead_id)  # the lead's modal, submitted by someone else
    forged = harness.submit(harness.agent_id, modal.id, values("C77", "erase", confirmed=True)).json()["errors"]

    assert "Seul un responsable" in forged[ids.INPUT_CLIENT_NUMBER]
    assert trail(harness, rgpd.ERASED_EVENT) == [] == trail(harness, rgpd.EXPORTED_EVENT)
    with Session(harness.engine) as session:
        assert session.exec(select(Client.number)).all() == ["C77"]


def another_agency(harness, *numbers: str) -> int:
    """A second agency on the same base (another Slack team), with one case for each of its clients `numbers`."""
    with all_workspaces(harness.engine) as session, session.begin():
        other = Workspace(team_id="T0OTHER", created_at=utcnow())
        session.add(other)
        session.flush()
        other_id = other.id
    for number in numbers:
        with session_for(harness.engine, other_id) as session, session.begin():
            create_case(session, client_file(number=number, last_name="Autre"), [contract(number=f"AUTO-{number}")],
                        m3_date=date(2026, 6, 2), now=NOW)
    return other_id


def test_a_client_of_another_agency_is_not_found_and_nothing_of_that_agency_changes(harness, client_case):
    modal = open_rgpd_modal(harness, harness.lead_id)  # the install meets its team: this agency's
    other = another_agency(harness, "C88", "C77")  # C88 theirs only; C77 theirs too, numbered as ours

    errors = harness.submit(harness.lead_id, modal.id, values("C88", "erase", confirmed=True)).json()["errors"]
    assert errors == {ids.INPUT_CLIENT_NUMBER: "Aucun client n°C88."}

    reply = harness.submit(harness.lead_id, modal.id, values("C77", "erase", confirmed=True))

    assert reply.status == 200 and not reply.body, reply.body
    (erased,) = wait_until(lambda: trail(harness, rgpd.ERASED_EVENT))
    assert erased.workspace_id != other and the_client(harness, erased.client_id).number != "C77"
    with session_for(harness.engine, other) as session:
        theirs = session.exec(select(Client.number, Client.last_name, Client.email).order_by(Client.number)).all()
        assert theirs == [("C77", "Autre", "claire.martin@example.fr"), ("C88", "Autre", "claire.martin@example.fr")]
        assert {case.close_reason for case in session.exec(select(M3Case))} == {None}
        events = set(session.exec(select(AuditEntry.event)))
        assert not events & {rgpd.ERASED_EVENT, rgpd.EXPORTED_EVENT}
