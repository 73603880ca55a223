"""The Slack stand-in answers as Slack documents it, fails when told to, and signs what it sends as Slack does."""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from sandbox.slack_api import SlackStandIn

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Dossier"}}
MODAL = {
    "type": "modal",
    "callback_id": "m",
    "title": {"type": "plain_text", "text": "Modale"},
    "submit": {"type": "plain_text", "text": "OK"},
    "blocks": [
        {"type": "input", "block_id": "when", "label": {"type": "plain_text", "text": "Date"},
         "element": {"type": "datepicker", "action_id": "date"}},
        {"type": "input", "block_id": "status", "label": {"type": "plain_text", "text": "Situation"},
         "element": {"type": "static_select", "action_id": "pick", "options": [
             {"text": {"type": "plain_text", "text": "Marié(e)"}, "value": "marie"}]}},
    ],
}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel("C1", "m3")
        standin.add_user("U1", "alice@agence.fr", "alice", "Alice Martin")
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(base_url=slack.api_url, token=slack.token)


def error_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)
    return raised.value.response["error"]


class Receiver:
    """A bot stand-in: verifies Slack's signature and answers with what the test sets."""

    def __init__(self, secret: str):
        self.received: list[tuple[bool, str, str]] = []  # (signature valid, content type, body)
        self.answer: dict[str, Any] = {}
        verifier, outer = SignatureVerifier(secret), self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                valid = verifier.is_valid_request(body, dict(self.headers))
                outer.received.append((valid, self.headers["Content-Type"], body))
                data = json.dumps(outer.answer).encode() if outer.answer else b""
                self.send_response(200 if valid else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"

    def payload(self, index: int = -1) -> dict[str, Any]:
        return json.loads(urllib.parse.parse_qs(self.received[index][2])["payload"][0])


@pytest.fixture
def bot(slack: SlackStandIn) -> Iterator[Receiver]:
    receiver = Receiver(slack.signing_secret)
    slack.bot_url = receiver.url
    yield receiver
    receiver.server.shutdown()


# ---- Web API -----------------------------------------------------------------------------------------


def test_a_call_without_a_token_or_with_a_wrong_one_is_refused(slack: SlackStandIn) -> None:
    assert error_of(WebClient(base_url=slack.api_url).auth_test) == "not_authed"
    assert error_of(WebClient(base_url=slack.api_url, token="xoxb-wrong").auth_test) == "invalid_auth"


def test_a_thread_is_a_parent_and_its_replies(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="carte", blocks=[SECTION])["ts"]
    client.chat_postMessage(channel="C1", text="étape", thread_ts=parent)

    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]

    assert [m["text"] for m in replies] == ["carte", "étape"]
    assert [m.text for m in slack.channel_messages("C1")] == ["carte"]


def test_posting_to_an_unknown_channel_or_thread_fails_as_slack_does(client: WebClient) -> None:
    assert error_of(client.chat_postMessage, channel="C404", text="x") == "channel_not_found"
    assert error_of(client.chat_postMessage, channel="C1", text="x", thread_ts="1.2") == "thread_not_found"


@pytest.mark.parametrize(
    "blocks",
    [
        [SECTION] * 51,
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "actions", "elements": [{"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}]}],
        [{"type": "no_such_block"}],
    ],
)
def test_blocks_beyond_slacks_limits_are_invalid_blocks(client: WebClient, blocks: list) -> None:
    assert error_of(client.chat_postMessage, channel="C1", text="x", blocks=blocks) == "invalid_blocks"


def test_a_message_is_edited_in_place_then_deleted(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="v1")["ts"]
    client.chat_update(channel="C1", ts=ts, text="v2")
    assert (slack.message("C1", ts).text, slack.message("C1", ts).edited) == ("v2", True)

    client.chat_delete(channel="C1", ts=ts)
    assert error_of(client.chat_update, channel="C1", ts=ts, text="v3") == "message_not_found"


def test_an_ephemeral_message_is_kept_for_its_user_only(slack: SlackStandIn, client: WebClient) -> None:
    client.chat_postEphemeral(channel="C1", user="U1", text="pour vous")

    assert [e.text for e in slack.ephemerals_for("U1")] == ["pour vous"]
    assert slack.channel_messages("C1") == []


def test_users_are_found_by_e_mail_whatever_its_case(client: WebClient) -> None:
    assert client.users_lookupByEmail(email="Alice@Agence.fr")["user"]["id"] == "U1"
    assert error_of(client.users_lookupByEmail, email="bob@agence.fr") == "users_not_found"
    assert client.users_info(user="U1")["user"]["profile"]["email"] == "alice@agence.fr"


def test_a_trigger_opens_one_modal_once_and_stacks_stop_at_three(slack: SlackStandIn, client: WebClient) -> None:
    trigger = slack.new_trigger("U1")
    root = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert error_of(client.views_open, trigger_id=trigger, view=MODAL) == "invalid_trigger_id"

    client.views_push(trigger_id=slack.new_trigger("U1"), view=MODAL)
    client.views_push(trigger_id=slack.new_trigger("U1"), view=MODAL)
    assert error_of(client.views_push, trigger_id=slack.new_trigger("U1"), view=MODAL) == "push_limit_reached"
    assert slack.open_modal("U1").root_id == root["id"]


def test_updating_a_view_with_a_stale_hash_is_a_conflict(slack: SlackStandIn, client: WebClient) -> None:
    view = client.views_open(trigger_id=slack.new_trigger("U1"), view=MODAL)["view"]
    client.views_update(view_id=view["id"], hash=view["hash"], view=MODAL)

    assert error_of(client.views_update, view_id=view["id"], hash=view["hash"], view=MODAL) == "hash_conflict"


def test_the_home_tab_is_published_per_user(slack: SlackStandIn, client: WebClient) -> None:
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [SECTION]})
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [SECTION, SECTION]})

    assert len(slack.home("U1").content["blocks"]) == 2
    assert error_of(client.views_publish, user_id="U404", view={"type": "home", "blocks": [SECTION]}) == "user_not_found"


def test_a_file_is_uploaded_into_a_thread(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="stats")["ts"]

    client.files_upload_v2(channel="C1", thread_ts=parent, content=b"\x89PNG", filename="stats.png", title="Stats")

    (reply,) = slack.thread("C1", parent)
    assert reply.files[0]["title"] == "Stats"
    assert slack.files[reply.files[0]["id"]]["content"] == b"\x89PNG"


# ---- faults ------------------------------------------------------------------------------------------


def test_server_errors_are_answered_the_number_of_times_asked(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail("chat.postMessage", times=2, status=500)

    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            client.chat_postMessage(channel="C1", text="x")
        assert raised.value.response.status_code == 500
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_rate_limits_answer_429_with_retry_after(slack: SlackStandIn, client: WebClient) -> None:
    slack.ratelimit("chat.update", retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="C1", ts="1.1", text="x")

    assert (raised.value.response.status_code, raised.value.response.headers["Retry-After"]) == (429, "7")


def test_a_per_channel_rate_limits_each_channel_separately(slack: SlackStandIn, client: WebClient) -> None:
    slack.add_channel("C2", "autre")
    slack.rate("chat.postMessage", per_second=1, per_channel=True)

    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C2", text="1")
    assert error_of(client.chat_postMessage, channel="C1", text="2") == "ratelimited"


def test_every_call_is_recorded_with_its_arguments(slack: SlackStandIn, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="bonjour")

    (call,) = slack.calls_to("chat.postMessage")
    assert (call.args["text"], call.status, call.response["ok"]) == ("bonjour", 200, True)


# ---- towards the bot ----------------------------------------------------------------------------------


def test_a_click_is_a_signed_block_actions_payload_built_from_the_message(slack: SlackStandIn, client: WebClient, bot: Receiver) -> None:
    blocks = [{"type": "actions", "block_id": "b", "elements": [
        {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}, "value": "v1"}]}]
    ts = client.chat_postMessage(channel="C1", text="carte", blocks=blocks)["ts"]

    reply = slack.click("U1", slack.message("C1", ts), "go")

    assert reply.status == 200
    valid, content_type, _ = bot.received[-1]
    payload = bot.payload()
    assert (valid, content_type) == (True, "application/x-www-form-urlencoded")
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U1"
    assert (payload["actions"][0]["value"], payload["container"]["message_ts"]) == ("v1", ts)


def test_a_request_signed_with_another_secret_or_too_old_does_not_verify(slack: SlackStandIn, bot: Receiver) -> None:
    assert slack.send("{}", "application/json", signing_secret="other").status == 401
    assert slack.send("{}", "application/json", timestamp=1).status == 401


def test_a_view_submission_carries_the_values_in_slacks_state_shape(slack: SlackStandIn, client: WebClient, bot: Receiver) -> None:
    view = client.views_open(trigger_id=slack.new_trigger("U1"), view=MODAL)["view"]
    bot.answer = {"response_action": "errors", "errors": {"when": "Date passée"}}

    slack.submit_view("U1", view["id"], {"when": {"date": "2026-01-02"}, "status": {"pick": "marie"}})

    state = bot.payload()["view"]["state"]["values"]
    assert state["when"]["date"]["selected_date"] == "2026-01-02"
    assert state["status"]["pick"]["selected_option"]["value"] == "marie"
    assert slack.open_modal("U1").id == view["id"]  # errors keep the modal open


def test_an_empty_answer_to_a_submission_closes_the_modal(slack: SlackStandIn, client: WebClient, bot: Receiver) -> None:
    view = client.views_open(trigger_id=slack.new_trigger("U1"), view=MODAL)["view"]

    slack.submit_view("U1", view["id"], {})

    assert slack.open_modal("U1") is None


def test_cancelling_a_modal_closes_it_and_tells_the_bot(slack: SlackStandIn, client: WebClient, bot: Receiver) -> None:
    view = client.views_open(trigger_id=slack.new_trigger("U1"), view=MODAL)["view"]

    slack.close_view("U1", view["id"])

    assert slack.open_modal("U1") is None
    assert bot.payload()["type"] == "view_closed"


def test_a_slash_command_is_a_signed_form_with_a_fresh_trigger(slack: SlackStandIn, client: WebClient, bot: Receiver) -> None:
    slack.slash_command("U1", "/m3", "aide", channel="C1")

    valid, _, body = bot.received[-1]
    form = dict(urllib.parse.parse_qsl(body))
    assert valid and (form["command"], form["text"], form["channel_id"]) == ("/m3", "aide", "C1")
    assert client.views_open(trigger_id=form["trigger_id"], view=MODAL)["ok"]


def test_a_response_url_replaces_the_clicked_message(slack: SlackStandIn, client: WebClient, bot: Receiver) -> None:
    blocks = [{"type": "actions", "elements": [{"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}]}]
    ts = client.chat_postMessage(channel="C1", text="avant", blocks=blocks)["ts"]
    slack.click("U1", slack.message("C1", ts), "go")

    request = urllib.request.Request(
        bot.payload()["response_url"], data=json.dumps({"replace_original": True, "text": "après"}).encode(), method="POST"
    )
    urllib.request.urlopen(request).close()

    assert slack.message("C1", ts).text == "après"
