"""What reaches a listener, and how fast: signatures, forged payloads, identities, acknowledgements, retries.

Requests go through the real pipeline: the stand-in signs them, waitress serves Bolt, the middleware decides.
Test listeners use action ids of their own (`test.*`) next to the product's listeners.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from bot.agents import match_agents
from bot.app import web_client
from bot.payloads import encode
from bot.runner import run, start_up
from config.settings import Settings, reveal
from sandbox.slack_api import Message
from storage.tables import Agent, ProcessedRequest
from storage.workspaces import resolve
from tests.bot.harness import CHANNEL, Harness, wait_until
from wording import t


def button(action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "test",
        "elements": [{"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": "Go"}, "value": value}],
    }


def card_with_button(harness: Harness, case_id: int, action_id: str = "test.record") -> Message:
    return harness.post_card(case_id, blocks=[button(action_id, encode(case_id, step="x"))])


def record_contexts(harness: Harness, action_id: str = "test.record") -> list[dict[str, Any]]:
    """A listener that keeps what it saw of each request it received."""
    seen: list[dict[str, Any]] = []

    def listener(ack, context) -> None:
        ack()
        seen.append({key: context.get(key) for key in ("case_id", "case_args", "actor", "is_lead", "request_key")})

    harness.app.action(action_id)(listener)
    return seen


def nothing_recorded(harness: Harness) -> bool:
    with Session(harness.engine) as session:
        return session.exec(select(ProcessedRequest)).first() is None


# ---- signatures -----------------------------------------------------------------------------------


def test_a_forged_signature_gets_401_and_reaches_no_listener(harness: Harness, factory) -> None:
    case_id = factory.case()
    card = card_with_button(harness, case_id)
    seen = record_contexts(harness)
    payload = harness.slack.block_actions(harness.agent_id, card, "test.record")

    reply = harness.slack.send_interaction(payload, signing_secret="not-the-app-secret")

    assert reply.status == 401
    assert seen == []


def test_a_request_signed_more_than_five_minutes_ago_gets_401(harness: Harness, factory) -> None:
    card = card_with_button(harness, factory.case())
    seen = record_contexts(harness)
    payload = harness.slack.block_actions(harness.agent_id, card, "test.record")

    reply = harness.slack.send_interaction(payload, timestamp=int(time.time()) - 301)

    assert reply.status == 401
    assert seen == []


def test_a_correctly_signed_click_reaches_its_listener_with_the_case_and_the_actor(harness: Harness, factory) -> None:
    case_id = factory.case()
    card = card_with_button(harness, case_id)
    seen = record_contexts(harness)

    assert harness.click(harness.agent_id, card, "test.record").status == 200
    assert harness.click(harness.lead_id, card, "test.record").status == 200

    agent, lead = wait_until(lambda: len(seen) == 2 and seen)
    seen = (agent["case_id"], agent["case_args"], agent["actor"], agent["is_lead"])
    assert seen == (case_id, {"step": "x"}, "vendeur@agence.fr", False)
    assert (lead["actor"], lead["is_lead"]) == ("chef@agence.fr", True)
    assert agent["request_key"].startswith("action:") and agent["request_key"] != lead["request_key"]


# ---- untrusted payloads ---------------------------------------------------------------------------


@pytest.mark.parametrize("forged", ['{"c": "1 OR 1=1"}', "not json", '{"step": "x"}', "x" * 3001])
def test_a_malformed_button_value_gets_an_ephemeral_refusal_and_changes_nothing(harness: Harness, factory, forged: str) -> None:
    card = card_with_button(harness, factory.case())
    seen = record_contexts(harness)
    rows_before = len(harness.outbox_rows())

    reply = harness.click(harness.agent_id, card, "test.record", value=forged)

    assert (reply.status, reply.body) == (200, "")
    (refusal,) = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id))
    assert (refusal.text, refusal.channel) == (t("bot.refusal.unknown_action"), CHANNEL)
    assert seen == []
    assert len(harness.outbox_rows()) == rows_before and nothing_recorded(harness)


def test_a_button_naming_an_unknown_case_is_refused(harness: Harness, factory) -> None:
    card = card_with_button(harness, factory.case())
    seen = record_contexts(harness)

    harness.click(harness.agent_id, card, "test.record", value=encode(987654))

    (refusal,) = harness.slack.wait_for(lambda: harness.slack.ephemerals_for(harness.agent_id))
    assert refusal.text == t("bot.refusal.unknown_case")
    assert seen == []


def test_a_modal_with_forged_metadata_is_answered_with_an_error_under_its_field(harness: Harness, factory) -> None:
    seen: list[Any] = []
    harness.app.view("test.modal")(lambda ack: (seen.append(1), ack()))
    modal = {
        "type": "modal",
        "callback_id": "test.modal",
        "title": {"type": "plain_text", "text": "Test"},
        "submit": {"type": "plain_text", "text": "OK"},
        "private_metadata": '{"c": -4}',
        "blocks": [
            {"type": "input", "block_id": "note", "label": {"type": "plain_text", "text": "Note"},
             "element": {"type": "plain_text_input", "action_id": "value"}},
        ],
    }
    trigger = harness.slack.new_trigger(harness.agent_id)
    view_id = web_client(harness.settings).views_open(trigger_id=trigger, view=modal)["view"]["id"]

    reply = harness.submit(harness.agent_id, view_id, {"note": {"value": "bonjour"}})

    assert reply.json() == {"response_action": "errors", "errors": {"note": t("bot.refusal.unknown_action")}}
    assert harness.slack.open_modal(harness.agent_id).id == view_id
    assert seen == []


# ---- acknowledgement and retries -------------------------------------------------------------------


def test_the_acknowledgement_does_not_wait_for_the_work_after_it(harness: Harness, factory) -> None:
    card = card_with_button(harness, factory.case(), action_id="test.slow")
    release, finished = threading.Event(), threading.Event()

    def slow_listener(ack) -> None:
        ack()
        release.wait(10)
        finished.set()

    harness.app.action("test.slow")(slow_listener)
    try:
        reply = harness.click(harness.agent_id, card, "test.slow")
        assert reply.status == 200
        assert not finished.is_set()
    finally:
        release.set()
    assert finished.wait(5)


def test_a_slack_retry_of_an_event_already_received_is_dropped(harness: Harness) -> None:
    passed: list[str] = []

    def count(body, next) -> None:  # runs after the product's middleware, before any listener
        passed.append(body.get("event_id"))
        next()

    harness.app.middleware(count)
    harness.slack.app_home_opened(harness.agent_id, event_id="Ev0001")
    assert harness.slack.app_home_opened(harness.agent_id, event_id="Ev0001", retry_num=1).status == 200
    harness.slack.app_home_opened(harness.agent_id, event_id="Ev0002", retry_num=1)  # never seen: handled

    assert passed == ["Ev0001", "Ev0002"]


# ---- who acts ---------------------------------------------------------------------------------------


def test_a_slack_user_who_is_not_an_agent_acts_with_no_actor(harness: Harness, factory) -> None:
    harness.slack.add_user("U0STRANGER", "inconnu@ailleurs.fr", "inconnu")
    card = card_with_button(harness, factory.case())
    seen = record_contexts(harness)

    harness.click("U0STRANGER", card, "test.record")

    (request,) = wait_until(lambda: seen)
    assert (request["actor"], request["is_lead"]) == (None, False)


def test_a_slack_user_who_is_not_an_agent_is_looked_up_once_not_at_every_click(harness: Harness, factory) -> None:
    user = f"U0VISITOR{factory.engine.dialect.name.upper()}"  # the lookup is remembered per process
    harness.slack.add_user(user, "visiteur@ailleurs.fr", "visiteur")
    with Session(harness.engine) as session, session.begin():
        session.add(Agent(email="pas.encore.sur.slack@agence.fr"))
    card = card_with_button(harness, factory.case())
    seen = record_contexts(harness)

    harness.click(user, card, "test.record")
    harness.click(user, card, "test.record")

    wait_until(lambda: len(seen) == 2)
    assert [c.args["user"] for c in harness.slack.calls_to("users.info")] == [user]


def test_an_agent_met_for_the_first_time_is_matched_by_his_slack_e_mail(harness: Harness, factory) -> None:
    harness.slack.add_user("U0NEW", "Nouvel.Agent@agence.fr", "nouvel")
    with Session(harness.engine) as session, session.begin():
        session.add(Agent(email="nouvel.agent@agence.fr"))
    card = card_with_button(harness, factory.case())
    seen = record_contexts(harness)

    harness.click("U0NEW", card, "test.record")

    (request,) = wait_until(lambda: seen)
    assert request["actor"] == "nouvel.agent@agence.fr"
    with Session(harness.engine) as session:
        assert session.exec(select(Agent.slack_user_id).where(Agent.email == "nouvel.agent@agence.fr")).one() == "U0NEW"


def test_matching_agents_reports_e_mails_slack_does_not_know(harness: Harness) -> None:
    harness.slack.add_user("U0NEW", "nouvel.agent@agence.fr", "nouvel")
    with Session(harness.engine) as session, session.begin():
        session.add(Agent(email="nouvel.agent@agence.fr"))
        session.add(Agent(email="parti@agence.fr"))

    report = match_agents(harness.engine, resolve(harness.engine, None), web_client(harness.settings))

    assert (report.matched, report.unknown) == (1, ["parti@agence.fr"])


# ---- start-up -----------------------------------------------------------------------------------------


def test_starting_without_the_slack_settings_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None, slack_bot_token=None, slack_signing_secret=None, slack_app_token=None, m3_channel=None)

    with pytest.raises(SystemExit) as stopped:
        run(settings)

    assert stopped.value.code == 2
    assert capsys.readouterr().err == t("bot.startup.missing", names="SLACK_BOT_TOKEN, M3_CHANNEL, SLACK_SIGNING_SECRET") + "\n"


def test_starting_with_a_token_slack_refuses_is_one_line_and_exit_code_2(harness: Harness,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    settings = harness.settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-revoked")})

    with pytest.raises(SystemExit) as stopped:
        run(settings)

    assert stopped.value.code == 2
    assert capsys.readouterr().err == t("bot.startup.slack_auth", error="invalid_auth") + "\n"


def test_start_up_counts_the_agents_slack_does_not_know_without_naming_them(harness: Harness, capsys) -> None:
    with Session(harness.engine) as session, session.begin():
        session.add(Agent(email="parti@agence.fr"))

    start_up(harness.settings)

    assert capsys.readouterr().err == t("bot.agents.unknown", count=1) + "\n"


def test_printing_the_settings_shows_no_secret() -> None:
    settings = Settings(_env_file=None, slack_bot_token="xoxb-1-secret", slack_signing_secret="signing-secret",
                        slack_app_token="xapp-1-secret", database_url="postgresql://m3:db-password@db/m3")

    printed, dumped = f"{settings} {settings!r}", f"{settings.model_dump()} {settings.model_dump_json()}"

    assert not [s for s in ("xoxb-1-secret", "signing-secret", "xapp-1-secret", "db-password") if s in printed], printed
    assert not [s for s in ("xoxb-1-secret", "signing-secret", "xapp-1-secret") if s in dumped], dumped
    assert reveal(settings.slack_bot_token) == "xoxb-1-secret"  # the Slack client still gets it


def test_http_mode_listens_on_this_machine_only_unless_host_says_otherwise(monkeypatch) -> None:
    monkeypatch.delenv("HOST", raising=False)
    assert Settings(_env_file=None).host == "127.0.0.1"  # behind a TLS proxy on the same machine (README)
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert Settings(_env_file=None).host == "0.0.0.0"
