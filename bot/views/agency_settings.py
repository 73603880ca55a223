"""The agency's settings in Slack: the modal a workspace admin fills in, and what his App Home shows of them
(the button to it, and a warning while no M+3 channel is chosen)."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ConversationFilter,
    ConversationSelectElement,
    InputBlock,
    Option,
    RadioButtonsElement,
    StaticSelectElement,
    TimePickerElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import button, buttons, section
from bot.views.text import clip, t
from config.agency import MAX_LEADS, RETENTION_YEARS

TITLE_MAX = 24
MAX_HOME_BLOCKS = 100
RETENTION_CHOICES = range(RETENTION_YEARS[0], RETENTION_YEARS[1] + 1)


def _t(key: str, **values: object) -> str:
    return t(f"modals.agency_settings.{key}", **values)


def _input(block: str, element: Any, *, hint: str | None = None, optional: bool = False) -> InputBlock:
    return InputBlock(block_id=block, label=_t(block),
                      element=element, hint=hint, optional=optional)


def settings_modal(current: dict[str, Any]) -> dict[str, Any]:
    """The form, filled with the settings in force (`current`: what `config.agency.defaults` gives, with the
    admin's choices over them)."""
    caller = [Option(value=code, text=_t(f"caller_{code}")) for code in ("account_manager", "seller")]
    years = [Option(value=str(n), text=str(n)) for n in RETENTION_CHOICES]
    blocks: list[Block] = [
        section(_t("intro")),
        _input(ids.INPUT_CHANNEL, ConversationSelectElement(
            action_id=ids.INPUT_CHANNEL, initial_conversation=current.get("m3_channel") or None,
            filter=ConversationFilter(include=["private", "public"], exclude_bot_users=True),
            placeholder=t("modals.choose")), hint=_t("channel_hint")),
        _input(ids.INPUT_LEADS, UserMultiSelectElement(
            action_id=ids.INPUT_LEADS, initial_users=list(current.get("m3_leads") or []) or None,
            max_selected_items=MAX_LEADS), hint=_t("leads_hint"), optional=True),
        _input(ids.INPUT_OPENS, TimePickerElement(action_id=ids.INPUT_OPENS, initial_time=current["agency_opens"])),
        _input(ids.INPUT_CLOSES, TimePickerElement(action_id=ids.INPUT_CLOSES, initial_time=current["agency_closes"]),
               hint=_t("hours_hint")),
        _input(ids.INPUT_CALLER, RadioButtonsElement(
            action_id=ids.INPUT_CALLER, options=caller,
            initial_option=next((o for o in caller if o.value == current["m3_caller"]), None))),
        _input(ids.INPUT_RETENTION, StaticSelectElement(
            action_id=ids.INPUT_RETENTION, options=years, placeholder=t("modals.choose"),
            initial_option=next((o for o in years if o.value == str(current["retention_years"])), None)),
            hint=_t("retention_hint")),
    ]
    view = View(type="modal", callback_id=ids.MODAL_AGENCY_SETTINGS, title=clip(_t("title"), TITLE_MAX),
                submit=clip(t("modals.submit"), TITLE_MAX), close=clip(t("modals.cancel"), TITLE_MAX),
                private_metadata=encode(None), blocks=blocks)
    return view.to_dict()


def with_admin_blocks(view: dict[str, Any], *, channel_missing: bool) -> dict[str, Any]:
    """An admin's Home: the settings button (and the missing channel's warning) first, the blocks the Home
    had after them, as many as Slack's limit leaves."""
    first: list[Block] = [section(f":warning: {_t('home_no_channel')}")] if channel_missing else []
    first.append(buttons([button(_t("home_button"), ids.AGENCY_SETTINGS, encode(None))]))
    shown = [block.to_dict() for block in first]
    return {**view, "blocks": [*shown, *view["blocks"]][:MAX_HOME_BLOCKS]}
