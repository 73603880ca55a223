"""`/m3 mes-dossiers`: the agent's open cases, most urgent first, each with a link to its thread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from slack_sdk.models.blocks import Block

from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import MAX_BLOCKS, Message, button, context, header, message, section
from bot.views.text import day, escape, label, t
from flows.case import State

# Header, footer and the "N more" line leave room for this many case rows.
SHOWN_ROWS = MAX_BLOCKS - 3


@dataclass(frozen=True)
class CaseRow:
    """One open case as the list shows it; `due_on` is what makes it urgent (the booked callback's day, or
    the M+3 date), `thread_url` the permalink of its card."""

    case_id: int
    client: str
    state: State
    due_on: date
    thread_url: str | None = None


def my_cases(rows: Sequence[CaseRow], today: date) -> Message:
    """The list, sorted by due date (overdue first); an empty list says so."""
    blocks: list[Block] = [header(t("my_cases.title", count=len(rows)))]
    if not rows:
        blocks.append(section(t("my_cases.none")))
    ordered = sorted(rows, key=lambda row: (row.due_on, row.case_id))
    for row in ordered[:SHOWN_ROWS]:
        key = "my_cases.overdue" if row.due_on < today else "my_cases.due"
        text = f"*{escape(row.client)}* — {label('state', row.state.value)}\n{t(key, date=day(row.due_on))}"
        link = (
            button(t("my_cases.open"), ids.suffixed(ids.OPEN_THREAD, row.case_id), encode(row.case_id),
                   url=row.thread_url)
            if row.thread_url
            else None
        )
        blocks.append(section(text, accessory=link))
    if len(rows) > SHOWN_ROWS:
        blocks.append(context(t("more", count=len(rows) - SHOWN_ROWS)))
    blocks.append(context(t("only_you")))
    return message(t("my_cases.title", count=len(rows)), blocks)
