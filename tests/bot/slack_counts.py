"""What the bot asked of Slack since a point of a test, read from the stand-in's own records: Web API calls
and posts to response_urls."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.slack_api import Call, ResponsePost, SlackStandIn


@dataclass
class SlackCounts:
    """The stand-in's records from the moment this is made on."""

    slack: SlackStandIn
    _calls_before: int = field(init=False)
    _responses_before: int = field(init=False)

    def __post_init__(self) -> None:
        self._calls_before, self._responses_before = len(self.slack.calls), len(self.slack.responses)

    @property
    def responses(self) -> list[ResponsePost]:
        return self.slack.responses[self._responses_before:]

    def web_api(self) -> list[Call]:
        # Web API methods are dotted (chat.update); anything else the stand-in records is not one. Bolt's
        # auth.test comes once per process, on its first request: no click's cost.
        return [call for call in self.slack.calls[self._calls_before:]
                if "." in call.method and call.method != "auth.test"]

    def total(self) -> int:
        return len(self.web_api()) + len(self.responses)

    def replaced(self) -> list[ResponsePost]:
        return [post for post in self.responses if post.ok and post.body.get("replace_original")]
