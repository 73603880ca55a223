"""Who may change an agency's settings: the Slack workspace's admins and owners, as `users.info` says, kept
`KNOWN_SECONDS` per process (asked again when the Home is opened after that)."""

from __future__ import annotations

import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

KNOWN_SECONDS = 300


class AdminDirectory:
    def __init__(self) -> None:
        self._known: dict[tuple[int, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def is_admin(self, client: WebClient, workspace: int, user_id: str) -> bool:
        now, key = time.monotonic(), (workspace, user_id)
        with self._lock:
            known = self._known.get(key)
        if known is not None and now - known[0] < KNOWN_SECONDS:
            return known[1]
        try:
            user = client.users_info(user=user_id)["user"]
        except SlackApiError:
            return False  # not cached: Slack's answer may be better next time
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        with self._lock:
            self._known[key] = (now, admin)
        return admin
