"""The leads' section of the App Home listing the cases set aside as out of time, each with "Ouvrir
maintenant" (a confirmation first: the card goes to the channel) and "Clore sans appel" (a modal asks why).

Texts in `wording/fr/out_of_time.yml`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import Block, ConfirmObject, DividerBlock

import wording
from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import button, buttons, context, header, section
from bot.views.text import day, escape
from storage.worklists import WaitingCase

SHOWN = 10  # cases listed; the rest are counted, and listed by `m3bot cases --state out_of_time`
_FIXED = 4  # header, intro, "N more", divider


@dataclass(frozen=True)
class OutOfTimeSection:
    cases: Sequence[WaitingCase]
    total: int
    catch_up_days: int


def _t(key: str, **values: object) -> str:
    return wording.t(f"out_of_time.{key}", **values)


def out_of_time_blocks(found: OutOfTimeSection, room: int) -> list[Block]:
    """Nothing when no case waits; else the section, at most `room` blocks (two per case listed)."""
    if not found.total or room < _FIXED + 2:
        return []
    shown = list(found.cases[: min(SHOWN, (room - _FIXED) // 2)])
    blocks: list[Block] = [header(_t("home_title")), context(_t("home_intro", days=found.catch_up_days))]
    for case in shown:
        value = encode(case.case_id)
        since = day(case.out_of_time_on) if case.out_of_time_on else "—"
        opener = button(_t("open"), ids.suffixed(ids.OUT_OF_TIME_OPEN, case.case_id), value, style="primary")
        opener.confirm = ConfirmObject(title=_t("open_confirm_title"),
                                       text=_t("open_confirm_text", client=escape(case.client)),
                                       confirm=_t("open_confirm_yes"), deny=_t("open_confirm_no"))
        blocks += [
            section(_t("row", client=escape(case.client), date=day(case.m3_date), since=since)),
            buttons([opener, button(_t("close"), ids.suffixed(ids.OUT_OF_TIME_CLOSE, case.case_id), value)]),
        ]
    if found.total > len(shown):
        blocks.append(context(_t("more", count=found.total - len(shown))))
    blocks.append(DividerBlock())
    return blocks
