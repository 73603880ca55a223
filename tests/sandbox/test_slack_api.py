"""The Slack stand-in answers as Slack documents it, fails when told to, and signs what it sends as Slack does."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from sandbox.slack_api import RESPONSE_URL_LIFETIME, TRIGGER_LIFETIME, Limits, SlackStandIn, content_digest

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Dossier"}}
BUTTON = {"type": "actions", "elements": [{"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}]}
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
        [{"type": "actions",
          "elements": [{"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}]}],
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


def test_a_file_is_described_by_files_info_and_downloaded_with_the_token_only(slack: SlackStandIn,
                                                                             client: WebClient) -> None:
    client.files_upload_v2(channel="C1", content=b"a;b\r\n1;2", filename="export.csv", title="Export")
    (file_id,) = slack.files

    file = client.files_info(file=file_id)["file"]
    assert (file["name"], file["filetype"], file["size"]) == ("export.csv", "csv", 8)

    def get(token: str | None) -> tuple[str, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(file["url_private_download"], headers=headers)
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.headers.get_content_type(), answer.read()

    assert get(slack.token) == ("application/octet-stream", b"a;b\r\n1;2")
    # Without the token Slack answers its sign-in page, not an error.
    assert get(None)[0] == get("xoxb-wrong")[0] == "text/html"
    assert slack.downloads() == [file_id]
    assert error_of(client.files_info, file="F404") == "file_not_found"


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


def test_a_click_is_a_signed_block_actions_payload_built_from_the_message(slack: SlackStandIn, client: WebClient,
                                                                          bot: Receiver) -> None:
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


def test_a_view_submission_carries_the_values_in_slacks_state_shape(slack: SlackStandIn, client: WebClient,
                                                                    bot: Receiver) -> None:
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
    go = {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
    blocks = [{"type": "actions", "elements": [go]}]
    ts = client.chat_postMessage(channel="C1", text="avant", blocks=blocks)["ts"]
    slack.click("U1", slack.message("C1", ts), "go")

    request = urllib.request.Request(
        bot.payload()["response_url"], data=json.dumps({"replace_original": True, "text": "après"}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).close()

    assert slack.message("C1", ts).text == "après"


# ---- Slack's limits ------------------------------------------------------------------------------------


class Clock:
    """The stand-in's clock, moved by the test instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limited(clock: Clock) -> Iterator[SlackStandIn]:
    """A stand-in applying Slack's default limits, on a clock the test moves."""
    with SlackStandIn(limits=Limits(), clock=clock) as standin:
        for n in range(1, 6):
            standin.add_channel(f"C{n}", f"canal-{n}")
        standin.add_user("U1", "alice@agence.fr", "alice", "Alice Martin")
        yield standin


@pytest.fixture
def limited_client(limited: SlackStandIn) -> WebClient:
    return WebClient(base_url=limited.api_url, token=limited.token)


def refusal(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    """(HTTP status, error, Retry-After) of a call Slack refuses."""
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response.status_code, response["error"], response.headers.get("Retry-After", "")


def test_a_burst_past_a_tier_3_method_is_answered_429_with_retry_after_in_whole_seconds(
    limited: SlackStandIn, limited_client: WebClient
) -> None:
    ts = limited_client.chat_postMessage(channel="C1", text="carte")["ts"]
    for n in range(10):  # the default burst
        limited_client.chat_update(channel="C1", ts=ts, text=f"v{n}")

    # Tier 3 refills 50 a minute: the next token is 1.2 s away, said as 2 s.
    assert refusal(limited_client.chat_update, channel="C1", ts=ts, text="v10") == (429, "ratelimited", "2")
    assert limited.message("C1", ts).text == "v9"
    assert limited.refused == {"chat.update": 1}
    assert limited.calls_to("chat.update")[-1].refused_by == "method"


def test_the_bucket_refills_at_the_tier_rate(limited: SlackStandIn, limited_client: WebClient, clock: Clock) -> None:
    for _ in range(10):
        limited_client.users_info(user="U1")
    assert refusal(limited_client.users_info, user="U1")[0] == 429

    clock.now += 0.6  # tier 4: 100 a minute, one call every 0.6 s
    limited_client.users_info(user="U1")
    assert refusal(limited_client.users_info, user="U1")[0] == 429

    clock.now += 60  # a full bucket again, no more
    for _ in range(10):
        limited_client.users_info(user="U1")
    assert refusal(limited_client.users_info, user="U1")[0] == 429
    assert limited.refused == {"users.info": 3}


def test_methods_have_a_bucket_each(limited_client: WebClient) -> None:
    ts = limited_client.chat_postMessage(channel="C1", text="carte")["ts"]
    for _ in range(10):
        limited_client.chat_update(channel="C1", ts=ts, text="v")

    assert limited_client.users_lookupByEmail(email="alice@agence.fr")["ok"]
    assert limited_client.chat_postEphemeral(channel="C1", user="U1", text="pour vous")["ok"]


def test_posts_are_limited_per_channel_each_channel_apart(limited: SlackStandIn, limited_client: WebClient) -> None:
    for n in range(3):  # the default burst of a channel
        limited_client.chat_postMessage(channel="C1", text=f"{n}")

    assert refusal(limited_client.chat_postMessage, channel="C1", text="3") == (429, "ratelimited", "1")
    for n in range(3):
        limited_client.chat_postMessage(channel="C2", text=f"{n}")
    assert [len(limited.channel_messages(c)) for c in ("C1", "C2")] == [3, 3]
    assert (limited.refused_posts, limited.refused) == ({"C1": 1}, {"chat.postMessage": 1})
    assert limited.calls_to("chat.postMessage")[3].refused_by == "channel"


def test_posts_share_a_workspace_wide_limit(clock: Clock) -> None:
    limits = Limits(workspace_posts_per_minute=60, workspace_post_burst=4)
    with SlackStandIn(limits=limits, clock=clock) as slack:
        for n in range(1, 6):
            slack.add_channel(f"C{n}", f"canal-{n}")
        client = WebClient(base_url=slack.api_url, token=slack.token)
        for n in range(1, 5):
            client.chat_postMessage(channel=f"C{n}", text="un")

        assert refusal(client.chat_postMessage, channel="C5", text="un") == (429, "ratelimited", "1")
        assert slack.calls_to("chat.postMessage")[-1].refused_by == "workspace"
        assert slack.refused_posts == {"C5": 1}
        clock.now += 1
        assert client.chat_postMessage(channel="C5", text="un")["ok"]


def test_a_refused_post_takes_no_token_from_the_other_bucket(clock: Clock) -> None:
    with SlackStandIn(limits=Limits(workspace_post_burst=4), clock=clock) as slack:
        slack.add_channel("C1", "un")
        slack.add_channel("C2", "deux")
        client = WebClient(base_url=slack.api_url, token=slack.token)
        for _ in range(3):
            client.chat_postMessage(channel="C1", text="x")
        for _ in range(3):  # the channel refuses: the workspace's last token stays
            assert refusal(client.chat_postMessage, channel="C1", text="x")[0] == 429

        assert client.chat_postMessage(channel="C2", text="x")["ok"]
        assert refusal(client.chat_postMessage, channel="C2", text="x")[2] == "1"  # now the workspace's


def test_scaled_limits_refill_that_many_times_faster(clock: Clock) -> None:
    with SlackStandIn(limits=Limits().scaled(10), clock=clock) as slack:
        slack.add_channel("C1", "un")
        client = WebClient(base_url=slack.api_url, token=slack.token)
        ts = client.chat_postMessage(channel="C1", text="carte")["ts"]
        for _ in range(10):
            client.chat_update(channel="C1", ts=ts, text="v")
        assert refusal(client.chat_update, channel="C1", ts=ts, text="v") == (429, "ratelimited", "1")

        clock.now += 0.12  # 500 a minute
        assert client.chat_update(channel="C1", ts=ts, text="v")["ok"]
        assert slack.limits.speedup == 10


def test_the_floor_is_the_busiest_buckets_calls_past_its_burst_at_its_rate(limited: SlackStandIn,
                                                                          limited_client: WebClient) -> None:
    ts = limited_client.chat_postMessage(channel="C1", text="carte")["ts"]
    for _ in range(9):
        limited_client.chat_update(channel="C1", ts=ts, text="v")
    for _ in range(2):
        limited_client.chat_postMessage(channel="C1", text="x")
    calls = limited.calls

    assert Limits().floor(calls) == 0.0  # every bucket's burst holds them
    assert Limits(channel_post_burst=1).floor(calls) == 2.0  # two posts past a burst of one, at 1 a second
    assert Limits(tier_burst=1, channel_post_burst=1).floor(calls) == pytest.approx(8 * 60 / 50)
    assert Limits(tier_burst=1).scaled(10).floor(calls) == pytest.approx(8 * 60 / 500)


def test_without_limits_the_stand_in_refuses_nothing(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="carte")["ts"]
    for n in range(60):
        client.chat_update(channel="C1", ts=ts, text=f"v{n}")
        client.chat_postMessage(channel="C1", text=f"{n}")

    assert not slack.refused and all(c.status == 200 for c in slack.calls)


def test_limits_set_later_start_with_full_buckets(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="carte")["ts"]
    slack.limits = Limits()
    for _ in range(10):
        client.chat_update(channel="C1", ts=ts, text="v")
    assert refusal(client.chat_update, channel="C1", ts=ts, text="v")[0] == 429

    slack.limits = None
    assert client.chat_update(channel="C1", ts=ts, text="v")["ok"]


def test_every_change_of_a_message_is_recorded_with_its_way(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="avant", blocks=[BUTTON])["ts"]
    client.chat_update(channel="C1", ts=ts, text="pendant", blocks=[BUTTON])
    url = slack.block_actions("U1", slack.message("C1", ts), "go")["response_url"]

    assert WebhookClient(url).send(text="après", replace_original=True).status_code == 200
    assert [(e.channel, e.ts, e.via) for e in slack.edits] == [("C1", ts, "chat.update"), ("C1", ts, "response_url")]
    assert slack.edits[-1].digest == content_digest("après", []) != slack.edits[0].digest



def test_a_response_url_is_refused_at_its_sixth_use(slack: SlackStandIn, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="avant", blocks=[BUTTON])["ts"]
    webhook = WebhookClient(slack.block_actions("U1", slack.message("C1", ts), "go")["response_url"])
    for n in range(5):
        assert webhook.send(text=f"v{n}", replace_original=True).status_code == 200

    sixth = webhook.send(text="v5", replace_original=True)

    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert slack.message("C1", ts).text == "v4"
    assert slack.refused_responses == {"used_url": 1}


def test_a_response_url_expires_after_30_minutes(slack: SlackStandIn, client: WebClient, clock: Clock) -> None:
    slack.clock = clock
    ts = client.chat_postMessage(channel="C1", text="avant", blocks=[BUTTON])["ts"]
    webhook = WebhookClient(slack.block_actions("U1", slack.message("C1", ts), "go")["response_url"])
    clock.now += RESPONSE_URL_LIFETIME - 1
    assert webhook.send(text="à temps", replace_original=True).status_code == 200

    clock.now += 2
    late = webhook.send(text="trop tard", replace_original=True)

    assert (late.status_code, late.body) == (404, "expired_url")
    assert slack.message("C1", ts).text == "à temps"


def test_a_trigger_expires_on_the_stand_ins_clock(slack: SlackStandIn, client: WebClient, clock: Clock) -> None:
    slack.clock = clock
    trigger = slack.new_trigger("U1")
    clock.now += TRIGGER_LIFETIME + 0.1

    assert error_of(client.views_open, trigger_id=trigger, view=MODAL) == "expired_trigger_id"


# ---- what the stand-in accepts -------------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_request_naming_another_host_is_refused_and_changes_nothing(slack: SlackStandIn) -> None:
    form = urllib.parse.urlencode({"token": slack.token, "channel": "C1", "text": "x"}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    assert _post(f"{slack.api_url}chat.postMessage", form, headers | {"Host": "attacker.example:80"}) == 403
    port = slack.api_url.split(":")[2].split("/")[0]
    assert _post(f"{slack.api_url}chat.postMessage", form, headers | {"Host": f"attacker.example:{port}"}) == 403
    assert (slack.channel_messages("C1"), slack.calls) == ([], [])
    assert _post(f"{slack.api_url}chat.postMessage", form, headers | {"Host": f"localhost:{port}"}) == 200


def test_a_post_of_another_content_type_is_refused_and_changes_nothing(slack: SlackStandIn, client: WebClient) -> None:
    form = urllib.parse.urlencode({"token": slack.token, "channel": "C1", "text": "x"}).encode()
    assert _post(f"{slack.api_url}chat.postMessage", form, {"Content-Type": "text/plain"}) == 415
    assert (slack.channel_messages("C1"), slack.calls) == ([], [])

    ts = client.chat_postMessage(channel="C1", text="avant", blocks=[BUTTON])["ts"]
    url = slack.block_actions("U1", slack.message("C1", ts), "go")["response_url"]
    replace = urllib.parse.urlencode({"replace_original": "true", "text": "après"}).encode()
    assert _post(url, replace, {"Content-Type": "application/x-www-form-urlencoded"}) == 415
    assert slack.message("C1", ts).text == "avant"


def test_secrets_are_random_per_stand_in() -> None:
    one, two = SlackStandIn(), SlackStandIn()

    assert one.token.startswith("xoxb-") and len(one.signing_secret) >= 32
    assert (one.token, one.signing_secret) != (two.token, two.signing_secret)


# ---- several workspaces, Slack's OAuth -------------------------------------------------------------


def authorize_url(slack: SlackStandIn, state: str = "s-1") -> str:
    query = urllib.parse.urlencode({"client_id": slack.client_id, "scope": "chat:write,commands", "state": state})
    return f"{slack.base_url}/oauth/v2/authorize?{query}"


def test_oauth_v2_access_exchanges_an_approved_code_once_for_the_teams_bot_token(slack: SlackStandIn) -> None:
    app = WebClient(base_url=slack.api_url)
    back = slack.approve(authorize_url(slack, "s-42"), "T0SECOND", "Agence du Port")
    assert back["state"] == "s-42"

    answer = app.oauth_v2_access(client_id=slack.client_id, client_secret=slack.client_secret, code=back["code"])

    assert answer["token_type"] == "bot" and answer["scope"] == "chat:write,commands"
    assert answer["team"] == {"id": "T0SECOND", "name": "Agence du Port"}
    assert (answer["app_id"], answer["bot_user_id"], answer["authed_user"]["id"]) == (slack.app_id, slack.bot_user_id, "U0ADMIN")
    assert answer["enterprise"] is None and answer["is_enterprise_install"] is False
    token = answer["access_token"]
    assert token == slack.token_of("T0SECOND") != slack.token
    with pytest.raises(SlackApiError) as used:
        app.oauth_v2_access(client_id=slack.client_id, client_secret=slack.client_secret, code=back["code"])
    assert used.value.response["error"] == "invalid_code"


def test_oauth_v2_access_refuses_another_apps_credentials(slack: SlackStandIn) -> None:
    back = slack.approve(authorize_url(slack), "T0SECOND", "Agence du Port")
    with pytest.raises(SlackApiError) as refused:
        WebClient(base_url=slack.api_url).oauth_v2_access(client_id=slack.client_id, client_secret="wrong", code=back["code"])
    assert refused.value.response["error"] == "bad_client_secret"
    with pytest.raises(ValueError):
        slack.approve(authorize_url(slack).replace(slack.client_id, "1.2"), "T0SECOND", "Agence du Port")


def test_each_token_answers_for_its_own_team_and_calls_name_the_token(slack: SlackStandIn, client: WebClient) -> None:
    second = slack.install("T0SECOND", "Agence du Port")

    assert client.auth_test()["team_id"] == slack.team_id
    other = WebClient(base_url=slack.api_url, token=second).auth_test()
    assert (other["team_id"], other["team"]) == ("T0SECOND", "Agence du Port")
    assert [c.token for c in slack.calls_of("T0SECOND")] == [second]
    assert [c.token for c in slack.calls_of(slack.team_id, "auth.test")] == [slack.token]
    with pytest.raises(SlackApiError) as unknown:
        WebClient(base_url=slack.api_url, token="xoxb-nobody").auth_test()
    assert unknown.value.response["error"] == "invalid_auth"
