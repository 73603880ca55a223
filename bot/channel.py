"""The M+3 channel as Slack sees it: can the bot read it, is it private (as SECURITY.md advises), and the
permalinks of its messages?

The case threads carry client data (address, phone, e-mail, SIREN, old and new values): in a public channel
every member of the workspace can read and search them. `conversations.info` needs `channels:read` on a
public channel and `groups:read` on a private one; the bot must be a member of a private channel to see it.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from wording import t

log = logging.getLogger(__name__)

# How long the lead's Home trusts its last answer: a channel converted to private stops the warning soon after.
RECHECK_SECONDS = 600


class ChannelUnusable(Exception):
    """Slack's reason the bot cannot read the channel (a missing scope names the one to add)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def channel_info(client: WebClient, channel: str) -> dict:
    """Slack's `conversations.info` of `channel`; raises `ChannelUnusable` when the bot cannot read it."""
    try:
        return dict(client.conversations_info(channel=channel)["channel"])
    except SlackApiError as error:
        code = error.response.get("error") or f"http_{error.response.status_code}"
        if code == "missing_scope":
            code = t("bot.channel.missing_scope", scope=error.response.get("needed") or "?")
        raise ChannelUnusable(code) from error


def is_private(client: WebClient, channel: str) -> bool:
    """Whether `channel` is private; raises `ChannelUnusable` when the bot cannot read it."""
    return bool(channel_info(client, channel).get("is_private"))


def public_warning(channel: str) -> str:
    return t("bot.channel.public_warning", channel=channel)


_checked: dict[tuple[str | None, str], tuple[float, bool]] = {}
_checked_lock = threading.Lock()


def warning_for_home(client: WebClient, channel: str | None) -> str | None:
    """The warning a lead's Home shows while the channel is public; None when private or when Slack cannot
    say right now (the start-up check already stopped a channel the bot cannot read)."""
    if not channel:
        return None
    key = (client.token, channel)
    with _checked_lock:
        known = _checked.get(key)
    if known is None or time.monotonic() - known[0] > RECHECK_SECONDS:
        try:
            private = is_private(client, channel)
        except ChannelUnusable as error:
            log.warning("M3 channel privacy not checked: %s", error.reason)
            return None
        with _checked_lock:
            _checked[key] = (time.monotonic(), private)
        known = (0.0, private)
    return None if known[1] else public_warning(channel)


_TEAM_URLS: dict[str, str] = {}


def team_url(client: WebClient) -> str | None:
    """The workspace's URL (auth.test), asked once per token: permalinks are built from it without a call each."""
    if client.token not in _TEAM_URLS:
        _TEAM_URLS[client.token] = client.auth_test().get("url") or ""
    return _TEAM_URLS[client.token] or None


def permalink(team_url: str | None, channel: str | None, ts: str | None) -> str | None:
    if not (team_url and channel and ts):
        return None
    return f"{team_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
