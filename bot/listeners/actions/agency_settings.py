"""The agency's settings, from a workspace admin's App Home: "Réglages de l'agence" opens the form, its
submission is checked (bounds, a channel the bot can use) and stored (`service.agency_settings`). Anyone but
an admin is refused, the button forged or not."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import channel, forms
from bot.context import BotDeps
from bot.dispatch import tell
from bot.listeners.common import open_modal, untrusted
from bot.listeners.events import publish_home
from bot.views import ids
from bot.views.agency_settings import settings_modal
from bot.views.text import t
from config.agency import defaults
from service.agency_settings import ConfigureAgency, chosen_settings, configure_agency

log = logging.getLogger(__name__)


def _admin(deps: BotDeps, client: WebClient, body: dict[str, Any]) -> bool:
    assert deps.workspace is not None, "a request's dependencies"
    return deps.admins.is_admin(client, deps.workspace, body["user"]["id"])


@untrusted
def open_settings(body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    deps: BotDeps = context["deps"]
    if not _admin(deps, client, body):
        log.warning("agency settings refused to a user who is no workspace admin")
        if deps.settings.m3_channel:
            tell(context, body, t("modals.agency_settings.admins_only"))
        return
    open_modal(client, body, settings_modal(defaults(deps.settings)))


def submit_settings(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: dict[str, Any],
                    client: WebClient) -> None:
    deps: BotDeps = context["deps"]
    if not _admin(deps, client, body):
        return ack(response_action="errors", errors={ids.INPUT_CHANNEL: t("modals.agency_settings.admins_only")})
    chosen = forms.parse_agency_settings(view["state"]["values"])
    if isinstance(chosen, dict):
        return ack(response_action="errors", errors=chosen)
    try:
        channel.is_private(client, chosen.m3_channel)
    except channel.ChannelUnusable as unusable:
        return ack(response_action="errors", errors={
            ids.INPUT_CHANNEL: t("modals.agency_settings.errors.channel_unusable", reason=unusable.reason)})
    ack()
    user = body["user"]["id"]
    assert deps.workspace is not None
    configure_agency(ConfigureAgency(chosen, by=user), deps.uow(f"slack:{user}"))
    deps.workspaces.forget_settings(deps.workspace)
    publish_home(deps.of(deps.workspace, chosen_settings(deps.engine, deps.workspace)), client, user,
                 is_lead=user in chosen.m3_leads, actor=context.get("actor"))


LISTENERS = {ids.AGENCY_SETTINGS: open_settings}


def register_views(app: App) -> None:
    app.view(ids.MODAL_AGENCY_SETTINGS)(submit_settings)
