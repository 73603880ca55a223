"""Slack never shows a message twice: each post carries its outbox row in the message's metadata, and a post
whose earlier attempt ended without a known outcome (a timeout or a reset after Slack may have posted it, a
worker killed mid-call) is looked for in Slack before it is posted again.

The look-up reads the thread (`conversations.replies`) or the channel (`conversations.history`) with
`include_all_metadata=true`. Those reads have rate limits of their own (much lower for distributed apps not
approved for the Marketplace): when Slack says to wait, the row waits its turn and is checked at its next
attempt; it is never posted again unchecked. The deliverer (`bot.outbox_delivery`) calls `earlier_post`
before each post and `tag` on the post's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from storage.tables import Outbox
from storage.workspaces import all_workspaces

EVENT_TYPE = "m3_outbox"
# A row's `last_error` after a failed check starts with this, so that its next attempt checks again.
UNCONFIRMED = "unconfirmed:"
# Errors after which Slack certainly did not post: a later attempt may post without looking first.
# (The waits the deliverer puts a row in before it posts anything: a thread reply's card, a morning list's
# cards or its agent.)
NOT_POSTED = frozenset({"ratelimited", "card_not_posted_yet", "cards_not_posted_yet", "agent_not_matched_yet"})
# The look-up starts this long before the row was queued (clocks of Slack and of the bot differ a little).
CLOCK_MARGIN = timedelta(minutes=5)
PAGE = 200

Call = Callable[[str, dict[str, Any]], dict[str, Any]]


def tag(arguments: dict[str, Any], outbox_id: int, *, case_id: int | None, role: str | None) -> dict[str, Any]:
    """`chat.postMessage` arguments carrying their outbox row (and, for a case's message, its role)."""
    payload = {"outbox_id": outbox_id, **({"case_id": case_id, "role": role} if role else {})}
    return {**arguments, "metadata": {"event_type": EVENT_TYPE, "event_payload": payload}}


def outcome_unknown(engine: Engine, outbox_id: int, attempts: int) -> bool:
    """Whether an earlier attempt of this row may have posted: it failed in a way that does not say, or it
    left no trace at all (the worker was killed and the lease ran out)."""
    if attempts <= 1:
        return False
    with all_workspaces(engine) as session:
        last_error = session.get(Outbox, outbox_id).last_error
    return last_error not in NOT_POSTED


def earlier_post(call: Call, engine: Engine, arguments: dict[str, Any], *, outbox_id: int, attempts: int,
                 case_id: int | None, role: str | None) -> dict[str, Any] | None:
    """The message an earlier attempt posted, as Slack shows it (with its `channel`), or None.

    A case's message is recognised by its case and role, whichever row of that role posted it (a card
    posted ahead of a thread reply carries the newest card row); any other message by its own row.
    Errors come from `call` (the deliverer's, which turns them into retries); the caller marks them
    `UNCONFIRMED`.
    """
    if not outcome_unknown(engine, outbox_id, attempts):
        return None
    with all_workspaces(engine) as session:
        queued_at = session.get(Outbox, outbox_id).created_at
    channel = arguments["channel"]
    if not channel.startswith(("C", "G", "D")):  # a user ID: the post went to the app's DM with him
        channel = call("conversations.open", {"users": channel})["channel"]["id"]
    if thread_ts := arguments.get("thread_ts"):
        method, base = "conversations.replies", {"channel": channel, "ts": thread_ts}
    else:
        oldest = (queued_at - CLOCK_MARGIN).timestamp()
        method, base = "conversations.history", {"channel": channel, "oldest": f"{oldest:.6f}"}
    wanted = {"case_id": case_id, "role": role} if role else {"outbox_id": outbox_id}
    cursor = None
    while True:  # every page: bounded by the thread, or by `oldest` in the channel
        page = call(method, {**base, "include_all_metadata": True, "limit": PAGE, **({"cursor": cursor} if cursor else {})})
        for message in page.get("messages", []):
            metadata = message.get("metadata") or {}
            shown = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and all(shown.get(k) == v for k, v in wanted.items()):
                return {**message, "channel": channel}
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not (page.get("has_more") and cursor):
            return None


def posted_by(message: dict[str, Any]) -> int | None:
    """The outbox row whose content a found message shows."""
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("outbox_id")
