"""What the bot carries in a button's `value` or a modal's `private_metadata`: the case and the arguments.

Everything read back from Slack is untrusted: `decode` refuses anything that is not what `encode` wrote.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

MAX_VALUE = 2000  # Slack's limit for a button value (private_metadata allows 3,000)
ORIGIN = "r"  # in a modal's metadata: [response_url, ts, clicked at] of the message whose click opened it
MAX_CASE_ID = 2**31 - 1  # the id column's range: a larger number would make the database fail, not refuse


class BadPayload(ValueError):
    """A value or private_metadata the bot did not write (forged, truncated, stale format)."""


def encode(case_id: int | None, **args: Any) -> str:
    text = json.dumps({"c": case_id, **args}, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) > MAX_VALUE:
        raise ValueError("payload too long for a Slack button value")
    return text


def with_origin(metadata: str, origin: list[str]) -> str:
    """A modal's metadata that also carries the click's response_url (`ORIGIN`), when it fits Slack's 3,000."""
    case_id, args = decode(metadata)
    text = json.dumps({"c": case_id, **args, ORIGIN: origin}, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= 3000 else metadata


def decode(text: str | None) -> tuple[int | None, dict[str, Any]]:
    if not text or len(text) > 3000:
        raise BadPayload("empty or oversized payload")
    try:
        content = json.loads(text)
    except ValueError as error:
        raise BadPayload("not JSON") from error
    if not isinstance(content, dict) or "c" not in content:
        raise BadPayload("no case reference")
    case_id = content.pop("c")
    if case_id is not None and (not isinstance(case_id, int) or isinstance(case_id, bool)
                                or not 0 < case_id <= MAX_CASE_ID):
        raise BadPayload("case reference is not a positive integer")
    return case_id, content


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")  # Slack adds fields; only those the bot reads are checked


class _User(_Shape):
    id: str


class _Action(_Shape):
    action_id: str
    action_ts: str | None = None
    value: str | None = None
    selected_option: dict[str, Any] | None = None


class _State(_Shape):
    values: dict[str, dict[str, dict[str, Any]]]


class _Block(_Shape):
    type: str
    block_id: str | None = None  # the bot keys modal errors by it


class _View(_Shape):
    id: str
    type: str
    hash: str | None = None
    callback_id: str = ""
    private_metadata: str | None = None
    blocks: list[_Block] = []
    state: _State | None = None


class _Channel(_Shape):
    id: str


class _Container(_Shape):
    thread_ts: str | None = None


class _Request(_Shape):
    """Any request: who sent it, when it says so."""

    user: _User | None = None
    user_id: str | None = None


class _Interaction(_Request):
    user: _User
    trigger_id: str | None = None
    channel: _Channel | None = None
    container: _Container | None = None
    view: _View | None = None


class _BlockActions(_Interaction):
    actions: list[_Action]


class _SubmittedView(_View):
    state: _State  # a submission without its values is not Slack's


class _ViewSubmission(_Interaction):
    view: _SubmittedView


_SHAPES = {"block_actions": _BlockActions, "view_submission": _ViewSubmission, "view_closed": _Interaction}


def check_shape(kind: str | None, body: dict[str, Any]) -> None:
    """Refuse a request whose fields the bot reads are not of Slack's types (`BadPayload`)."""
    shape = _SHAPES.get(kind, _Request) if isinstance(kind, str) else _Request
    try:
        checked = shape.model_validate(body)
    except ValidationError as error:
        raise BadPayload(f"malformed {kind}: {error.error_count()} field(s)") from None
    if kind == "block_actions" and not checked.actions:
        raise BadPayload("block_actions without an action")
