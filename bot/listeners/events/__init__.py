"""Events: the App Home shows an agent his queue, the same list as `/m3 mes-dossiers`."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.models.views import View

from bot.listeners.commands import queue_message
from bot.views.blocks import section
from flows.texts import t


def app_home_opened(event: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return
    agent = context.get("actor")
    if agent is None:
        blocks = [section(t("listeners.not_an_agent")).to_dict()]
    else:
        blocks = queue_message(context["deps"], agent, client).blocks
    # Built through slack_sdk's View so that Slack's limits are checked before the call.
    client.views_publish(user_id=event["user"], view=View(type="home", blocks=blocks).to_dict())


def register(app: App) -> None:
    app.event("app_home_opened")(app_home_opened)
