"""Hosted mode: the app installed from a link (Slack's OAuth, served by Bolt), each workspace answered with the
bot token its own install stored.

- `oauth_options`: what `App` takes for it. Bolt serves `/slack/install` (a state in the database and in a
  cookie, then straight to Slack's authorize page) and `/slack/oauth_redirect` (the state checked and used
  up, Slack's code exchanged for the team's token, the installation saved through
  `service.workspaces.InstallingStore`, which first gives the team its workspace). On each request Bolt's
  authorize finds the team's bot token in the same store (rotating it when it expires) and gives the
  listeners a `context.client` holding it; a team with no installation gets the French line
  `bot.install.not_installed`.
- `InstalledClients`: the outbox deliverer's Web API client for each row's workspace (`bot.outbox_delivery`).

What the installer reads (the pages after Slack) is French; tokens and codes are never logged.
"""

from __future__ import annotations

import hashlib
import html
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import sqlalchemy as sa
from slack_bolt import BoltResponse
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.error import BoltError
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Installation, InstallationStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy.engine import Engine

from bot.scopes import BOT_SCOPES
from config.settings import Settings, reveal
from service.workspaces import EnterpriseInstallRefused, InstallingStore, team_of
from storage.installations import state_store
from wording import t

log = logging.getLogger(__name__)

STATE_SECONDS = 600  # an install started more than 10 minutes ago starts again (Bolt's default)
ROTATE_MINUTES = 120  # a rotating token is refreshed this long before it expires (Bolt's default)
TOKEN_SECONDS = 60.0  # how long the deliverer keeps a workspace's token before looking it up again


def authorize_url(settings: Settings) -> str:
    """Slack's authorize page, next to its Web API (`https://slack.com/oauth/v2/authorize`; a stand-in's own)."""
    return urljoin(settings.slack_api_url, "../oauth/v2/authorize")


class BoltInstallations(InstallingStore):
    """The installing store as Bolt's OAuth flow uses it: an install refused (an Enterprise Grid organisation's)
    or not saved (the database) is Bolt's `storage_error`, shown on the French failure page, not a 500."""

    def save(self, installation: Installation) -> None:
        try:
            super().save(installation)
        except (EnterpriseInstallRefused, sa.exc.SQLAlchemyError) as error:
            log.error("installation not saved: %s", type(error).__name__)
            raise BoltError(type(error).__name__) from error


def installations(settings: Settings, engine: Engine) -> InstallingStore:
    assert settings.slack_client_id, "hosted mode"
    return BoltInstallations(engine, settings.slack_client_id)


def oauth_options(settings: Settings, engine: Engine, client: WebClient) -> dict[str, object]:
    """`App`'s keyword arguments of hosted mode: the OAuth flow, its stores, and the per-request authorize."""
    store = installations(settings, engine)
    client_id, client_secret = settings.slack_client_id, reveal(settings.slack_client_secret)
    oauth = OAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_page_rendering_enabled=False,  # the link goes straight to Slack: no English page in between
        callback_options=CallbackOptions(success=_installed_page, failure=_failed_page),
        authorization_url=authorize_url(settings),
        installation_store=store,
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=ROTATE_MINUTES,
        state_store=state_store(engine, expiration_seconds=STATE_SECONDS),
        state_expiration_seconds=STATE_SECONDS,
    )
    # Bolt's default authorize asks Slack's auth.test on every request: this one asks once per token.
    authorize = InstallationStoreAuthorize(
        logger=log, installation_store=store, client_id=client_id, client_secret=client_secret,
        token_rotation_expiration_minutes=ROTATE_MINUTES, bot_only=True, cache_enabled=True, client=client,
    )
    return {"oauth_settings": oauth, "installation_store": store, "authorize": authorize,
            "user_facing_authorize_error_message": t("bot.install.not_installed")}


def _installed_page(args: SuccessArgs) -> BoltResponse:
    team = args.installation.team_name or args.installation.team_id or ""
    return _page(200, t("bot.install.done", team=team), t("bot.install.next_steps"))


def _failed_page(args: FailureArgs) -> BoltResponse:
    return _page(args.suggested_status_code, t("bot.install.failed", reason=args.reason), t("bot.install.retry"))


def _page(status: int, headline: str, detail: str) -> BoltResponse:
    body = (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(t("bot.install.title"))}'
            f"</title></head><body><h1>{html.escape(headline)}</h1><p>{html.escape(detail)}</p></body></html>")
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"})


# ---- the deliverer's client for each workspace --------------------------------------------------------


class NotInstalled(LookupError):
    """The workspace has no installation (never installed, or revoked): nothing may be sent for it."""


@dataclass(frozen=True)
class Sender:
    """A workspace's Web API client, and the team whose Slack limits its calls count against (`storage.pacing`)."""

    client: WebClient
    team: str


class WorkspaceClients(Protocol):
    def sender(self, workspace_id: int | None) -> Sender:
        """The client for a row of `workspace_id`; NotInstalled when nothing may be sent for it."""
        ...

    def teams(self) -> list[str]:
        """The teams served lately (their spent pacing buckets are swept)."""
        ...

    def forget(self, workspace_id: int | None) -> None:
        """Slack refused the workspace's token: look it up again next time."""
        ...


class OneClient:
    """A single-agency install: one bot token, one workspace, every row sent with it."""

    def __init__(self, client: WebClient, team: str | None = None) -> None:
        # The workspace whose limits apply: one bot token is one workspace (no call needed to learn it).
        self._sender = Sender(client, team or hashlib.sha256((client.token or "").encode()).hexdigest()[:16])

    def sender(self, workspace_id: int | None) -> Sender:
        return self._sender

    def teams(self) -> list[str]:
        return [self._sender.team]

    def forget(self, workspace_id: int | None) -> None:
        pass


class InstalledClients:
    """Hosted mode: a row goes out with the bot token of its workspace's installation, found by the workspace's
    team in the installation store (rotated when it is about to expire) and kept `ttl` seconds; its calls are
    paced as that team's. A workspace with no installation has no client: its rows are set aside."""

    def __init__(self, engine: Engine, store: InstallationStore, make_client: Callable[[str | None], WebClient], *,
                 rotator: TokenRotator | None = None, ttl: float = TOKEN_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.store, self.make_client = engine, store, make_client
        self.rotator, self.ttl, self.clock = rotator, ttl, clock
        self._known: dict[int, tuple[float, Sender | None]] = {}  # workspace -> (until, sender or none)
        self._lock = threading.Lock()

    def sender(self, workspace_id: int | None) -> Sender:
        if workspace_id is None:
            raise NotInstalled(workspace_id)
        now = self.clock()
        with self._lock:
            until, known = self._known.get(workspace_id, (0.0, None))
        if until <= now:
            known = self._look_up(workspace_id)
            with self._lock:
                self._known[workspace_id] = (now + self.ttl, known)
        if known is None:
            raise NotInstalled(workspace_id)
        return known

    def _look_up(self, workspace_id: int) -> Sender | None:
        team = team_of(self.engine, workspace_id)
        bot = self.store.find_bot(enterprise_id=None, team_id=team) if team else None
        if bot is not None and self.rotator is not None:
            refreshed = self.rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=ROTATE_MINUTES)
            if refreshed is not None:
                self.store.save_bot(refreshed)
                bot = refreshed
        if bot is None or not bot.bot_token or team is None:
            return None
        return Sender(self.make_client(bot.bot_token), team)

    def teams(self) -> list[str]:
        with self._lock:
            return sorted({known.team for _until, known in self._known.values() if known is not None})

    def forget(self, workspace_id: int | None) -> None:
        with self._lock:
            if workspace_id is not None:
                self._known.pop(workspace_id, None)
