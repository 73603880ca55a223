"""A Slack request acts for its own agency only: a button or modal naming another agency's case is refused."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from bot.payloads import encode
from storage.repository import create_case
from storage.tables import M3Case, Workspace, utcnow
from storage.workspaces import all_workspaces, session_for
from tests.bot.harness import Harness
from tests.bot.test_requests import card_with_button, record_contexts
from tests.conftest import NOW, client_file, contract
from wording import t


def other_agencys_case(harness: Harness) -> int:
    """A second agency on the same base, with a case of its own."""
    with all_workspaces(harness.engine) as session, session.begin():
        other = Workspace(team_id="T0OTHER", created_at=utcnow())
        session.add(other)
        session.flush()
        other_id = other.id
    with session_for(harness.engine, other_id) as session, session.begin():
        return create_case(session, client_file(), [contract()], m3_date=date(2026, 6, 2), now=NOW)


def test_a_button_naming_another_agencys_case_is_refused_as_unknown(harness: Harness, factory) -> None:
    card = card_with_button(harness, factory.case())
    harness.click(harness.agent_id, card, "test.record")  # the install meets its team, this agency's
    theirs = other_agencys_case(harness)
    seen = record_contexts(harness)

    harness.click(harness.agent_id, card, "test.record", value=encode(theirs))

    (refusal,) = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id))
    assert refusal.text == t("bot.refusal.unknown_case")
    assert seen == []
    with Session(harness.engine) as session:
        assert session.get(M3Case, theirs).version == 0


def test_a_request_from_a_team_this_install_does_not_serve_reaches_no_listener(harness: Harness, factory) -> None:
    card = card_with_button(harness, factory.case())
    harness.click(harness.agent_id, card, "test.record")  # the install meets its team
    seen = record_contexts(harness)
    payload = harness.slack.block_actions(harness.agent_id, card, "test.record")
    payload["team"] = {"id": "T0STRANGER", "domain": "ailleurs"}
    payload["user"]["team_id"] = "T0STRANGER"

    reply = harness.slack.send_interaction(payload)

    assert reply.status == 200 and seen == []
