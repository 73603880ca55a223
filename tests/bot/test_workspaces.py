"""A Slack request acts for its own agency only: a button or modal naming another agency's case is refused."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from bot.payloads import encode
from storage.repository import create_case
from storage.tables import AuditEntry, M3Case, Workspace, utcnow
from storage.workspaces import all_workspaces, session_for
from tests.bot.harness import Harness, wait_until
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


# ---- uninstall ------------------------------------------------------------------------------------


def test_an_uninstall_stops_the_agencys_work_and_keeps_its_data(harness: Harness, factory) -> None:
    case_id = factory.case()
    card = card_with_button(harness, case_id)
    seen = record_contexts(harness)
    posts = len(harness.slack.calls_to("chat.postMessage"))

    harness.slack.send_event({"type": "app_uninstalled"})
    wait_until(lambda: stopped_at(harness) is not None)
    harness.click(harness.agent_id, card, "test.record")
    # A message queued by a process that has not heard of it yet is never sent either.
    harness.enqueue(harness.upsert(case_id, "step:x", "en attente"))
    harness.deliverer.deliver_pending()

    assert seen == []  # no request of a stopped agency reaches a listener
    assert len(harness.slack.calls_to("chat.postMessage")) == posts
    with Session(harness.engine) as session:
        assert session.get(M3Case, case_id) is not None  # its data is kept
        stops = session.exec(select(AuditEntry).where(AuditEntry.event == "workspace_stopped")).all()
    assert [e.data for e in stops] == [{"reason": "app_uninstalled"}]


def test_a_revoked_user_token_alone_does_not_stop_the_agency(harness: Harness, factory) -> None:
    harness.slack.send_event({"type": "tokens_revoked", "tokens": {"oauth": ["U0AGENT"], "bot": []}})
    reply = harness.slack.send_event({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["B0BOT"]}})

    assert reply.status == 200
    wait_until(lambda: stopped_at(harness) is not None)
    with Session(harness.engine) as session:
        entries = session.exec(select(AuditEntry).where(AuditEntry.event == "workspace_stopped")).all()
    assert [e.data for e in entries] == [{"reason": "tokens_revoked"}]


def stopped_at(harness: Harness):
    with all_workspaces(harness.engine) as session:
        return session.exec(select(Workspace.stopped_at)).first()
