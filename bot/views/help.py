"""The answers of `/m3 aide` and of a refused step, both shown only to the agent who asked."""

from __future__ import annotations

import wording
from bot.views.blocks import Message, context, header, message, section
from bot.views.text import escape, t


def help_message() -> Message:
    """`/m3 aide`: the commands, the order of the call and where things happen."""
    lines: list[str] = wording.data("slack.help.lines")
    return message(t("help.title"), [header(t("help.title")), section("\n".join(lines)), context(t("only_you"))])


def refusal(reason: str) -> Message:
    """A refused click or command, with the engine's reason (French, shown as is)."""
    return message(escape(reason), [section(t("refusal", reason=escape(reason))), context(t("only_you"))])
