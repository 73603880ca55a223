"""What the bot asked of Slack, read from the stand-in: Web API calls and posts to response_urls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.slack_api import SlackStandIn


@dataclass
class ResponsePost:
    response_id: str
    body: dict[str, Any]
    ok: bool
    at: float


@dataclass
class SlackCounts:
    """Counts every request the bot makes to the stand-in: its Web API calls (recorded by the stand-in) and
    its response_url posts (recorded here, around the stand-in's handler)."""

    slack: SlackStandIn
    responses: list[ResponsePost] = field(default_factory=list)

    def __post_init__(self) -> None:
        handle = self.slack.handle_response_url

        def recorded(response_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            answer = handle(response_id, body)  # (HTTP status, body) as the stand-in answers it
            self.responses.append(ResponsePost(response_id, body, answer[0] == 200, time.monotonic()))
            return answer

        self.slack.handle_response_url = recorded  # type: ignore[method-assign]

    def web_api(self) -> list:
        # Web API methods are dotted (chat.update); anything else the stand-in records is not one. Bolt's
        # auth.test comes once per process, on its first request: no click's cost.
        return [call for call in self.slack.calls if "." in call.method and call.method != "auth.test"]

    def total(self) -> int:
        return len(self.web_api()) + len(self.responses)

    def replaced(self) -> list[ResponsePost]:
        return [post for post in self.responses if post.ok and post.body.get("replace_original")]
