"""Block Kit primitives the views share: the `Message` they return, and the recurring pieces of a step
(script quote, one row answered with buttons) built through slack_sdk's models, which validate them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.payloads import encode
from bot.views import ids
from bot.views.text import clip, escape, t

MAX_BLOCKS = 50  # per message
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75


@dataclass(frozen=True)
class Message:
    """A chat message: `text` for notifications and screen readers, `blocks` ready for the Web API."""

    text: str
    blocks: list[dict[str, Any]]


def message(text: str, blocks: Sequence[Block]) -> Message:
    """Validate every block through slack_sdk (`to_dict` raises on a broken limit) and the message size."""
    if len(blocks) > MAX_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks: a message holds {MAX_BLOCKS} at most")
    return Message(text=clip(text, SECTION_TEXT), blocks=[block.to_dict() for block in blocks])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=clip(text, HEADER_TEXT))


def section(text: str, accessory: ButtonElement | None = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT)), accessory=accessory)


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_TEXT))])


def button(
    text: str, action_id: str, value: str, *, style: str | None = None, url: str | None = None
) -> ButtonElement:
    return ButtonElement(text=clip(text, BUTTON_TEXT), action_id=action_id, value=value, style=style, url=url)


def buttons(elements: Sequence[ButtonElement]) -> ActionsBlock:
    return ActionsBlock(elements=list(elements))


def script(lines: Sequence[str]) -> SectionBlock:
    """The words to say, quoted so the agent tells them apart from the bot's own notes; they carry the
    client's and agents' names, hence escaped."""
    return section("\n".join(f"> {escape(line)}" for line in lines))


def answer_row(
    *,
    case_id: int | None,
    row: int,
    action_id: str,
    args: dict[str, Any],
    title: str,
    detail: str | None,
    choices: Sequence[tuple[str, str]],
    chosen: str | None,
    editable: bool,
    extra: Sequence[ButtonElement] = (),
) -> list[Block]:
    """One question of a step: its title and the file's value, the answer given (✓ label), and while the
    step is open the answer buttons, the chosen one styled primary (value: ``encode(case_id, **args, a=code)``).
    """
    answered = dict(choices).get(chosen) if chosen else None
    status = f"✓ *{answered}*" if answered else t("row.unanswered")
    heading = f"*{title}* : {detail}" if detail else f"*{title}*"
    blocks: list[Block] = [section(f"{heading}\n{status}")]
    if editable:
        blocks.append(
            buttons(
                [
                    button(
                        text,
                        ids.suffixed(action_id, row, code),
                        encode(case_id, **args, a=code),
                        style="primary" if code == chosen else None,
                    )
                    for code, text in choices
                ]
                + list(extra)
            )
        )
    return blocks
