"""The scheduler's messages: the reminder of a booked callback (in the case's thread, mentioning the
agent), the reminder of an action of the plan, and the leads' morning digest.

Buttons, for the listeners:
- `ids.CALLBACK_RESUME` (value ``encode(case_id)``): the agent takes the callback now; the listener applies
  `flows.commands.CallbackDue` when the case still waits in `scheduled_callback`, which puts the call
  outcomes on the contact step.
- `ids.CLOSE_EARLY` (value ``encode(case_id)``), offered after the configured number of unanswered
  attempts: opens `ids.MODAL_CLOSE_EARLY` as on the contact step.
- `ids.ACTION_DONE` suffixed with the action id (value ``encode(case_id, i=action_id)``): marks the
  action done (`flows.commands.CompleteAction`), which stops its reminders.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from slack_sdk.models.blocks import Block

import wording
from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import MAX_BLOCKS, SECTION_TEXT, Message, button, buttons, context, header, message, section
from bot.views.text import AGENCY_TZ, client_name, day, escape, label, moment, person
from flows.case import Action, Case, State
from service.digest import Digest

# Lines of the digest's per-agent section: a message holds 50 blocks, one section keeps them together.
DIGEST_AGENTS = 40
# The audit chains' heads: 20 lines a section (a section's text holds 3000 characters), 40 sections at most.
HEADS_PER_SECTION, HEAD_SECTIONS = 20, 40


def _chain_heads(digest: Digest) -> list[Block]:
    lines = [
        wording.t("audit.digest.head_line", count=head.count, head=head.head or "—",
                chain=wording.t("audit.digest.case", id=head.case_id) if head.case_id is not None
                else wording.t("audit.digest.no_case"))
        for head in digest.heads[: HEADS_PER_SECTION * HEAD_SECTIONS]
    ]
    if not lines:
        return []
    chunks = [lines[i: i + HEADS_PER_SECTION] for i in range(0, len(lines), HEADS_PER_SECTION)]
    chunks[0].insert(0, wording.t("audit.digest.heads"))
    if len(digest.heads) > len(lines):
        chunks[-1].append(wording.t("audit.digest.more", count=len(digest.heads) - len(lines)))
    return [section("\n".join(chunk)) for chunk in chunks]


def t(key: str, **values: object) -> str:
    return wording.t(f"reminders.{key}", **values)


def morning_list(rows: list[tuple[str, str, str | None]]) -> Message:
    """An agent's direct message listing the cases opened for him this morning: (client, M+3 date, thread
    permalink or None while its card is not posted), one line each, in sections of Slack's 3,000 characters."""
    lines = [t("morning.row_link", client=client, date=when, url=url) if url else
             t("morning.row", client=client, date=when) for client, when, url in rows]
    blocks: list[Block] = [section(t("morning.title", count=len(rows)))]
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > SECTION_TEXT:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    # A catch-up morning after a long absence could list more than a message holds: the first ones show.
    return message(t("morning.text", count=len(rows)), blocks[:MAX_BLOCKS])


def callback_reminder(
    case: Case, *, who: str, callback_at: datetime, unanswered: int, offer_unreachable: bool, tz: str = AGENCY_TZ
) -> Message:
    when = moment(callback_at, tz)
    body = "callback.body_requested" if case.callback_client_requested else "callback.body"
    controls = [button(t("callback.call_now"), ids.CALLBACK_RESUME, encode(case.id), style="primary")]
    blocks: list[Block] = [section(t(body, mention=who, client=escape(client_name(case)), when=when))]
    if offer_unreachable:
        blocks.append(context(t("callback.unreachable", count=unanswered)))
        controls.append(button(t("callback.close_unreachable"), ids.CLOSE_EARLY, encode(case.id), style="danger"))
    blocks.append(buttons(controls))
    return message(t("callback.text", client=escape(client_name(case)), when=when), blocks)


def action_reminder(case: Case, action: Action, *, who: str, overdue: bool) -> Message:
    values = {"kind": label("action", action.kind.value), "client": escape(client_name(case)), "due": day(action.due_on)}
    suffix = "_overdue" if overdue else ""
    done = button(label("buttons", "action_done"), ids.suffixed(ids.ACTION_DONE, action.id),
                  encode(case.id, i=action.id), style="primary")
    blocks: list[Block] = [section(t(f"action.body{suffix}", mention=who, **values), accessory=done)]
    if action.reason:
        blocks.append(context(t("action.reason", reason=escape(action.reason))))
    return message(t(f"action.text{suffix}", **values), blocks)


def digest_message(digest: Digest, names: Mapping[str, str]) -> Message:
    title = t("digest.title", day=day(digest.day))
    states = [
        t("digest.state_line", state=label("state", state.value), count=digest.per_state[state.value])
        for state in State  # the guide's order
        if state.value in digest.per_state
    ]
    blocks: list[Block] = [
        header(title),
        section(t("digest.opened", count=len(digest.opened))),
        section("\n".join([t("digest.per_state"), *states]) if states else t("digest.none_open")),
        section(t("digest.overdue", callbacks=digest.overdue_callbacks, actions=digest.overdue_actions)),
    ]
    agents = [
        t("digest.agent_line", agent=person(load.agent, names) if load.agent else t("digest.unassigned"),
          cases=load.open_cases, callbacks=load.overdue_callbacks, actions=load.overdue_actions)
        for load in digest.per_agent[:DIGEST_AGENTS]
    ]
    if agents:
        blocks.append(section("\n".join([t("digest.per_agent"), *agents])))
    blocks += _chain_heads(digest)
    return message(t("digest.text", day=day(digest.day)), blocks)
