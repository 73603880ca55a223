"""The status card: the parent message of a case's thread, updated in place at every step so that a lead
reads the channel like a board. Channel members all see it: it names the client and his contracts, and
nothing else of his file (no phone, e-mail or address).
"""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk.models.blocks import Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import Message, button, buttons, context, header, message, section
from bot.views.text import action_line, clip, client_name, day, escape, label, person, t
from flows.case import Case, CloseReason, State
from flows.engine import active_actions
from flows.script import product_name

FIELD_TEXT = 2000  # per section field
# The card lists at most this many actions; the thread's action plan message has them all.
CARD_ACTIONS = 20


def _field(name: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(f"*{t(f'card.{name}')}*\n{value}", FIELD_TEXT))


def status_card(case: Case, names: Mapping[str, str]) -> Message:
    """The card of a case: `names` maps agents' e-mails to display names. It shows only what changes with
    the step, the agent or the closing (the checklist count is on the step's message), so that an answer
    inside a step does not edit it."""
    contracts = "\n".join(f"{escape(product_name(c.product))} n° {escape(c.number)}" for c in case.contracts)
    step = label("state", case.state.value)
    blocks: list[Block] = [
        header(t("card.title", client=client_name(case))),
        SectionBlock(
            fields=[
                _field("contracts", contracts),
                _field("origin", label("origin", case.origin.value)),
                _field("seller", person(case.seller, names)),
                _field("agent", person(case.agent, names)),
                _field("m3_date", day(case.m3_date)),
                _field("step", step),
            ]
        ),
    ]
    if case.client.opposition_at is not None:
        blocks.append(section(t("card.opposition", since=day(case.client.opposition_at))))
    if case.state is State.closed:
        blocks += _closing(case, names)
    controls = [] if case.state is State.closed else [button(t("card.reassign"), ids.REASSIGN, encode(case.id))]
    blocks.append(buttons([*controls, _opposition_button(case)]))
    return message(t("card.text", client=escape(client_name(case)), step=step), blocks)


def _opposition_button(case: Case) -> ButtonElement:
    """Record the client's opposition to commercial calls, or (leads only, at the client's request) lift it:
    the flag is the client's, so it is offered on every case, closed ones too."""
    if case.client.opposition_at is None:
        return button(label("buttons", "opposition_set"), ids.OPPOSITION, encode(case.id, on=True))
    return button(label("buttons", "opposition_lift"), ids.OPPOSITION, encode(case.id, on=False))


def closing_notice(case: Case, names: Mapping[str, str]) -> Message:
    """Posted in the thread when the case closes: date, reason, note and the dated action plan."""
    text = t("card.closed_text", client=escape(client_name(case)))
    return message(text, [header(client_name(case)), *_closing(case, names)])


def _closing(case: Case, names: Mapping[str, str]) -> list[Block]:
    reason = label("close_reason", (case.close_reason or CloseReason.completed).value)
    when = day(case.closed_at) if case.closed_at else ""
    blocks: list[Block] = [section(t("card.closed", date=when, reason=reason))]
    if case.close_note:
        blocks.append(context(escape(case.close_note)))
    actions = active_actions(case)
    if actions:
        lines = [f"• {action_line(a, names)}" for a in sorted(actions, key=lambda a: a.due_on)[:CARD_ACTIONS]]
        if len(actions) > CARD_ACTIONS:
            lines.append(t("more", count=len(actions) - CARD_ACTIONS))
        blocks.append(section(f"*{t('plan.title')}*\n" + "\n".join(lines)))
    return blocks
