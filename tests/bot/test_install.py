"""Hosted mode: agencies install the app from a link, and each is answered with its own bot token.

The whole install runs as in production, against the Slack stand-in: the bot served over real HTTP, Bolt's
`/slack/install` (a state in the database and a cookie, then Slack's authorize URL), the admin approving it
in Slack (`SlackStandIn.approve`), the redirect back with `code` and `state`, Slack's `oauth.v2.access`,
slack_sdk's SQLAlchemy stores. Then signed requests of each team, and the outbox, use that team's token.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest
import sqlalchemy as sa
from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.app import create_app, delivery_clients, web_client
from bot.doctor import run_checks
from bot.installations import installations
from bot.outbox_delivery import NOT_INSTALLED, OutboxDeliverer
from bot.payloads import encode
from bot.runner import missing_settings, serve_http, start_up, stop_http
from config.settings import Settings
from sandbox.slack_api import SlackStandIn
from storage import outbox
from storage.installations import BOTS, INSTALLATIONS, STATES
from storage.repository import create_case
from storage.tables import Agent, M3Case, Outbox, SlackPace, Workspace, utcnow
from storage.workspaces import session_for
from tests.bot.conftest import fast_pace
from tests.bot.harness import wait_until
from tests.conftest import NOW, client_file, contract
from wording import t

PORT, BEACH = ("T0PORT", "Agence du Port"), ("T0PLAGE", "Agence de la Plage")
PORT_USER, BEACH_USER = "U0PORT1", "U0PLAGE1"


def hosted_settings(slack: SlackStandIn, engine: Engine, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": engine.url.render_as_string(hide_password=False),
        "slack_bot_token": None,
        "slack_client_id": slack.client_id,
        "slack_client_secret": slack.client_secret,
        "slack_signing_secret": slack.signing_secret,
        "slack_app_token": None,
        "slack_api_url": slack.api_url,
        "m3_channel": None,
    }
    return Settings(_env_file=None, **(values | overrides))


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass
class Hosted:
    slack: SlackStandIn
    engine: Engine
    settings: Settings
    base_url: str

    def get(self, path: str, cookie: str | None = None) -> Reply:
        """GET on the bot's server as a browser would, redirects not followed."""
        parts = urllib.parse.urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read().decode())
        finally:
            connection.close()

    def start_install(self) -> tuple[str, str]:
        """The install link: (Slack's authorize URL it sends the browser to, the state cookie it sets)."""
        reply = self.get("/slack/install")
        assert reply.status == 302
        cookie = SimpleCookie(reply.headers["Set-Cookie"])
        (name,) = cookie.keys()
        return reply.headers["Location"], f"{name}={cookie[name].value}"

    def install(self, team: tuple[str, str]) -> Reply:
        """An admin of `team` follows the install link, approves in Slack and comes back."""
        authorize_url, cookie = self.start_install()
        back = self.slack.approve(authorize_url, *team)
        return self.get(f"/slack/oauth_redirect?{urllib.parse.urlencode(back)}", cookie)

    def workspace(self, team_id: str) -> Workspace | None:
        with Session(self.engine) as session:
            return session.exec(select(Workspace).where(Workspace.team_id == team_id)).first()

    def stored(self, table: sa.Table) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(table)).mappings())


@pytest.fixture
def hosted(engine: Engine, slack: SlackStandIn) -> Iterator[Hosted]:
    settings = hosted_settings(slack, engine)
    deliverer = OutboxDeliverer(engine, delivery_clients(settings, engine, timeout=2), poll_seconds=0.2,
                                backoff_base=0.05, backoff_cap=0.5, pace=fast_pace())
    app = create_app(settings, engine, deliverer=deliverer)
    server, thread = serve_http(app, "127.0.0.1", 0, engine=engine)
    base_url = f"http://127.0.0.1:{server.effective_port}"
    slack.bot_url = f"{base_url}/slack/events"
    deliverer.start()
    try:
        yield Hosted(slack, engine, settings, base_url)
    finally:
        deliverer.stop()
        stop_http(server, thread)


def home_published(slack: SlackStandIn, team_id: str, user: str) -> list[Any]:
    return [c for c in slack.calls_of(team_id, "views.publish") if c.args.get("user_id") == user]


# ---- the install ---------------------------------------------------------------------------------


def test_the_install_link_sends_to_slacks_authorize_page_with_a_state_kept_in_the_database(hosted: Hosted) -> None:
    authorize_url, cookie = hosted.start_install()

    parts = urllib.parse.urlsplit(authorize_url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{hosted.slack.base_url}/oauth/v2/authorize"
    assert query["client_id"] == hosted.slack.client_id
    assert set(query["scope"].split(",")) >= {"chat:write", "commands", "users:read.email"}
    assert cookie.endswith(f"={query['state']}")
    assert [row["state"] for row in hosted.stored(STATES)] == [query["state"]]


def test_an_install_stores_the_teams_token_and_its_workspace_and_a_click_there_is_answered_with_it(
        hosted: Hosted) -> None:
    page = hosted.install(PORT)

    assert page.status == 200 and t("bot.install.done", team=PORT[1]) in page.body.replace("&#x27;", "'")
    workspace = hosted.workspace(PORT[0])
    assert workspace is not None and workspace.name == PORT[1]
    token = hosted.slack.token_of(PORT[0])
    (installation,) = hosted.stored(INSTALLATIONS)
    assert (installation["team_id"], installation["bot_token"], installation["user_id"]) == (PORT[0], token, "U0ADMIN")
    assert [bot["bot_token"] for bot in hosted.stored(BOTS)] == [token]
    assert hosted.stored(STATES) == []  # a state works once

    assert hosted.slack.app_home_opened(PORT_USER, team=PORT[0]).status == 200
    (published,) = hosted.slack.wait_for(lambda: home_published(hosted.slack, PORT[0], PORT_USER))
    assert published.token == token
    assert t("listeners.not_an_agent") in str(published.args["view"])
    reply = hosted.slack.slash_command(PORT_USER, "/m3", "aide", team=PORT[0])
    assert reply.status == 200
    (help_,) = hosted.slack.wait_for(lambda: hosted.slack.responses)
    assert help_.ok and help_.body["response_type"] == "ephemeral"


def test_two_agencies_installed_side_by_side_are_each_answered_with_their_own_token(hosted: Hosted) -> None:
    hosted.install(PORT)
    hosted.install(BEACH)
    port, beach = hosted.workspace(PORT[0]), hosted.workspace(BEACH[0])
    assert port and beach and port.id != beach.id

    hosted.slack.app_home_opened(BEACH_USER, team=BEACH[0])
    hosted.slack.app_home_opened(PORT_USER, team=PORT[0])

    hosted.slack.wait_for(lambda: home_published(hosted.slack, PORT[0], PORT_USER)
                          and home_published(hosted.slack, BEACH[0], BEACH_USER))
    tokens = {PORT[0]: hosted.slack.token_of(PORT[0]), BEACH[0]: hosted.slack.token_of(BEACH[0])}
    assert tokens[PORT[0]] != tokens[BEACH[0]]
    for call in hosted.slack.calls:  # every call of a team's request carried that team's token, none another's
        if call.method == "views.publish":
            team = PORT[0] if call.args["user_id"] == PORT_USER else BEACH[0]
            assert (call.team, call.token) == (team, tokens[team])


def agent_with_a_case(hosted: Hosted, team_id: str, user: str, client_name: str) -> int:
    """An agent of the agency of `team_id`, known to Slack as `user`, with one open case of his own."""
    workspace = hosted.workspace(team_id)
    assert workspace is not None and workspace.id is not None
    email = f"{user.lower()}@agence.fr"
    with session_for(hosted.engine, workspace.id) as session, session.begin():
        session.add(Agent(email=email, slack_user_id=user))
        case_id = create_case(session, client_file(last_name=client_name), [contract()], m3_date=NOW.date(),
                              agent=email, now=NOW)
        session.get(M3Case, case_id).opened_at = NOW
    return case_id


def test_two_agencies_side_by_side_each_see_and_act_on_their_own_cases_only(hosted: Hosted) -> None:
    hosted.install(PORT)
    hosted.install(BEACH)
    agent_with_a_case(hosted, PORT[0], PORT_USER, "Portier")  # the same client and contract numbers in both
    beach_case = agent_with_a_case(hosted, BEACH[0], BEACH_USER, "Plagiste")

    hosted.slack.app_home_opened(PORT_USER, team=PORT[0])
    hosted.slack.app_home_opened(BEACH_USER, team=BEACH[0])
    (port_home,) = hosted.slack.wait_for(lambda: home_published(hosted.slack, PORT[0], PORT_USER))
    (beach_home,) = hosted.slack.wait_for(lambda: home_published(hosted.slack, BEACH[0], BEACH_USER))
    assert "Portier" in str(port_home.args["view"]) and "Plagiste" not in str(port_home.args["view"])
    assert "Plagiste" in str(beach_home.args["view"]) and "Portier" not in str(beach_home.args["view"])

    # The slash command lists each agent's own cases.
    for team, user, mine, theirs in ((PORT[0], PORT_USER, "Portier", "Plagiste"),
                                     (BEACH[0], BEACH_USER, "Plagiste", "Portier")):
        before = len(hosted.slack.responses)
        assert hosted.slack.slash_command(user, "/m3", "mes-dossiers", team=team).status == 200
        listed = hosted.slack.wait_for(lambda b=before: hosted.slack.responses[b:])
        shown = json.dumps([r.body for r in listed], ensure_ascii=False)
        assert mine in shown and theirs not in shown

    # The Port's agent forges a button naming the Beach's case: not found in his agency, nothing changes.
    payload = {"type": "block_actions", "team": {"id": PORT[0], "domain": "port"},
               "user": {"id": PORT_USER, "team_id": PORT[0]}, "api_app_id": hosted.slack.app_id,
               "trigger_id": "1.2.3", "container": {"type": "view", "view_id": "V0HOME"},
               "actions": [{"action_id": "m3.start_call", "block_id": "b", "type": "button",
                            "value": encode(beach_case), "action_ts": "1.0"}]}
    assert hosted.slack.send_interaction(payload).status == 200
    hosted.slack.wait_for(lambda: [c for c in hosted.slack.calls_of(PORT[0], "chat.postMessage")
                                   if c.args.get("text") == t("bot.refusal.unknown_case")]
                          or [c for c in hosted.slack.calls_of(PORT[0], "chat.postEphemeral")
                              if c.args.get("text") == t("bot.refusal.unknown_case")])
    with Session(hosted.engine) as session:
        assert session.get(M3Case, beach_case).version == 0

    # The Beach uninstalls the app: its work stops, the Port's goes on.
    hosted.slack.send_event({"type": "app_uninstalled"}, team=BEACH[0])
    wait_until(lambda: (w := hosted.workspace(BEACH[0])) is not None and w.stopped_at is not None)
    assert (port := hosted.workspace(PORT[0])) is not None and port.stopped_at is None
    before = len(home_published(hosted.slack, PORT[0], PORT_USER))
    hosted.slack.app_home_opened(PORT_USER, team=PORT[0])
    hosted.slack.wait_for(lambda: len(home_published(hosted.slack, PORT[0], PORT_USER)) > before)


def test_a_reinstall_finds_the_teams_workspace_and_keeps_one(hosted: Hosted) -> None:
    hosted.install(PORT)
    first = hosted.workspace(PORT[0])

    assert hosted.install((PORT[0], "Agence du Port (Nantes)")).status == 200

    again = hosted.workspace(PORT[0])
    assert again is not None and first is not None and again.id == first.id and again.name == "Agence du Port (Nantes)"
    with Session(hosted.engine) as session:
        assert len(session.exec(select(Workspace)).all()) == 1


def test_a_forged_state_is_refused_and_stores_nothing(hosted: Hosted) -> None:
    authorize_url, _cookie = hosted.start_install()
    back = hosted.slack.approve(authorize_url, *PORT)
    forged = {"code": back["code"], "state": "forged-state"}

    reply = hosted.get(f"/slack/oauth_redirect?{urllib.parse.urlencode(forged)}", "slack-app-oauth-state=forged-state")

    assert reply.status == 401 and t("bot.install.failed", reason="invalid_state") in reply.body.replace("&#x27;", "'")
    assert_nothing_installed(hosted)


def test_a_state_from_another_browser_is_refused_and_stores_nothing(hosted: Hosted) -> None:
    authorize_url, _cookie = hosted.start_install()
    back = hosted.slack.approve(authorize_url, *PORT)

    reply = hosted.get(f"/slack/oauth_redirect?{urllib.parse.urlencode(back)}")  # no state cookie

    assert reply.status == 400
    assert_nothing_installed(hosted)


def test_an_expired_state_is_refused_and_stores_nothing(hosted: Hosted) -> None:
    authorize_url, cookie = hosted.start_install()
    back = hosted.slack.approve(authorize_url, *PORT)
    with hosted.engine.begin() as connection:  # the admin took more than the state's 10 minutes
        connection.execute(sa.update(STATES).values(expire_at=(utcnow() - timedelta(seconds=1)).replace(tzinfo=None)))

    reply = hosted.get(f"/slack/oauth_redirect?{urllib.parse.urlencode(back)}", cookie)

    assert reply.status == 401
    assert_nothing_installed(hosted)


def assert_nothing_installed(hosted: Hosted) -> None:
    assert hosted.slack.calls_to("oauth.v2.access") == []
    assert hosted.stored(INSTALLATIONS) == [] and hosted.stored(BOTS) == []
    assert hosted.workspace(PORT[0]) is None


def test_an_organisation_wide_install_is_refused_as_a_storage_error_and_stores_nothing(hosted: Hosted) -> None:
    organisation = Installation(app_id=hosted.slack.app_id, enterprise_id="E0GROUPE", team_id=None, user_id="U0ADMIN",
                                bot_token="xoxb-grid", is_enterprise_install=True)

    with pytest.raises(BoltError):  # Bolt's OAuth flow answers it with its failure page (`storage_error`)
        installations(hosted.settings, hosted.engine).save(organisation)

    assert hosted.stored(INSTALLATIONS) == [] and hosted.stored(BOTS) == []
    with Session(hosted.engine) as session:
        assert session.exec(select(Workspace)).all() == []


def test_a_team_that_never_installed_the_app_is_not_served(hosted: Hosted) -> None:
    hosted.install(PORT)

    reply = hosted.slack.app_home_opened(BEACH_USER, team=BEACH[0])

    assert reply.status == 200
    assert hosted.slack.calls_to("views.publish") == []
    assert hosted.workspace(BEACH[0]) is None


# ---- the outbox ----------------------------------------------------------------------------------


def queue_post(engine: Engine, workspace_id: int, channel: str, text: str) -> None:
    with session_for(engine, workspace_id) as session, session.begin():
        outbox.enqueue(session, "chat.postMessage", {"channel": channel, "text": text})


def test_the_outbox_sends_each_workspaces_rows_with_its_token_paced_as_its_team(hosted: Hosted) -> None:
    hosted.install(PORT)
    hosted.install(BEACH)
    for team_id, channel in ((PORT[0], "C0PORT"), (BEACH[0], "C0PLAGE")):
        hosted.slack.add_channel(channel, f"m3-{team_id.lower()}")
        workspace = hosted.workspace(team_id)
        assert workspace is not None and workspace.id is not None
        queue_post(hosted.engine, workspace.id, channel, "Bonjour")

    posts = hosted.slack.wait_for(lambda: len(hosted.slack.calls_to("chat.postMessage")) == 2
                                  and hosted.slack.calls_to("chat.postMessage"))

    assert sorted((c.args["channel"], c.team) for c in posts) == [("C0PLAGE", BEACH[0]), ("C0PORT", PORT[0])]
    assert all(c.token == hosted.slack.token_of(c.team) for c in posts)
    with Session(hosted.engine) as session:
        paced = {(row.team, row.bucket) for row in session.exec(select(SlackPace))}
    assert {(PORT[0], "channel:C0PORT"), (BEACH[0], "channel:C0PLAGE")} <= paced


def test_a_workspace_whose_installation_is_gone_gets_its_rows_set_aside_never_sent(hosted: Hosted) -> None:
    hosted.install(PORT)
    hosted.install(BEACH)
    installations(hosted.settings, hosted.engine).delete_all(enterprise_id=None, team_id=BEACH[0])  # revoked
    beach = hosted.workspace(BEACH[0])
    assert beach is not None and beach.id is not None
    calls_before = len(hosted.slack.calls)

    queue_post(hosted.engine, beach.id, "C0PLAGE", "Bonjour")

    (row,) = wait_until(lambda: [r for r in outbox_rows(hosted.engine) if r.status != outbox.PENDING])
    assert (row.status, row.last_error) == (outbox.FAILED, NOT_INSTALLED)
    assert hosted.slack.calls[calls_before:] == []


def test_a_rotating_token_is_refreshed_before_use_and_the_new_one_kept(hosted: Hosted) -> None:
    hosted.slack.rotating[PORT[0]] = 3600  # expires within the two hours before which the bot refreshes it
    hosted.install(PORT)
    (installed,) = hosted.stored(BOTS)
    assert installed["bot_refresh_token"] and installed["bot_token_expires_at"]
    hosted.slack.add_channel("C0PORT", "m3-port")
    port = hosted.workspace(PORT[0])
    assert port is not None and port.id is not None

    queue_post(hosted.engine, port.id, "C0PORT", "Bonjour")
    (post,) = hosted.slack.wait_for(lambda: hosted.slack.calls_to("chat.postMessage"))
    hosted.slack.app_home_opened(PORT_USER, team=PORT[0])
    (published,) = hosted.slack.wait_for(lambda: home_published(hosted.slack, PORT[0], PORT_USER))

    refreshed = [c for c in hosted.slack.calls_to("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
    assert len(refreshed) == 2  # by the deliverer, then by Bolt's authorize: each token lives an hour
    assert installed["bot_token"] not in (post.token, published.token) and post.team == published.team == PORT[0]
    newest = installations(hosted.settings, hosted.engine).find_bot(enterprise_id=None, team_id=PORT[0])
    assert newest is not None and newest.bot_token == published.token


def outbox_rows(engine: Engine) -> list[Outbox]:
    with Session(engine) as session:
        return list(session.exec(select(Outbox)))


# ---- start-up ------------------------------------------------------------------------------------


def test_hosted_mode_starts_without_a_bot_token_a_channel_or_slack(engine: Engine, slack: SlackStandIn) -> None:
    settings = hosted_settings(slack, engine)
    assert missing_settings(settings) == []
    assert missing_settings(hosted_settings(slack, engine, slack_client_secret=None)) == ["SLACK_CLIENT_SECRET"]

    started, _client = start_up(settings)
    started.dispose()

    assert slack.calls == []  # no auth.test: each workspace's token is checked when its requests come
    with Session(engine) as session:
        assert session.exec(select(Workspace)).all() == []  # no workspace before an install


def test_hosted_mode_refuses_socket_mode_with_a_french_line(engine: Engine, slack: SlackStandIn,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        start_up(hosted_settings(slack, engine, slack_app_token="xapp-1"))

    assert stopped.value.code == 2
    assert capsys.readouterr().err == t("bot.startup.socket_mode_hosted") + "\n"


def test_the_doctor_checks_each_installed_agency_and_says_what_to_mend(hosted: Hosted) -> None:
    hosted.install(PORT)
    hosted.install(BEACH)
    installations(hosted.settings, hosted.engine).delete_all(enterprise_id=None, team_id=BEACH[0])  # revoked

    checks = run_checks(hosted.settings, web_client(hosted.settings))

    port = [c for c in checks if c.line.startswith(t("doctor.hosted.agency", team=PORT[0], name=PORT[1]))]
    beach = [c for c in checks if c.line.startswith(t("doctor.hosted.agency", team=BEACH[0], name=BEACH[1]))]
    assert [c.ok for c in checks[:2]] == [True, True]  # settings and database
    assert port and port[0].ok  # its token answers
    assert any(not c.ok and c.fix == t("doctor.hosted.no_channel_fix") for c in port)  # no channel chosen yet
    assert [(c.ok, c.fix) for c in beach] == [(False, t("doctor.hosted.install_fix"))]
