"""What the bot carries in a button's `value` or a modal's `private_metadata`: the case and the arguments.

Everything read back from Slack is untrusted: `decode` refuses anything that is not what `encode` wrote.
"""

from __future__ import annotations

import json
from typing import Any

MAX_VALUE = 2000  # Slack's limit for a button value (private_metadata allows 3,000)


class BadPayload(ValueError):
    """A value or private_metadata the bot did not write (forged, truncated, stale format)."""


def encode(case_id: int | None, **args: Any) -> str:
    text = json.dumps({"c": case_id, **args}, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) > MAX_VALUE:
        raise ValueError("payload too long for a Slack button value")
    return text


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
    if case_id is not None and (not isinstance(case_id, int) or isinstance(case_id, bool) or case_id <= 0):
        raise BadPayload("case reference is not a positive integer")
    return case_id, content
