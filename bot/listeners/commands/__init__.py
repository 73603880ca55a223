"""The `/m3` slash command: `aide`, `ouvrir`, `mes-dossiers`, `stats` (leads); anything else gets the help."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

import wording
from bot.channel import permalink, team_url
from bot.context import BotDeps
from bot.listeners.commands.stats import post_stats
from bot.listeners.common import ModalNotOpened, click_again, open_modal
from bot.listeners.views.opening import offered_cases
from bot.rendering import agency_today
from bot.views import modals
from bot.views.blocks import Message
from bot.views.help import help_message
from bot.views.lists import CaseRow, my_cases
from bot.views.text import day
from flows.engine import Refused
from storage.worklists import agent_queue
from wording import t


def m3(ack: Ack, body: dict[str, Any], command: dict[str, Any], context: dict[str, Any], client: WebClient,
       respond: Respond) -> None:
    ack()
    word = (command.get("text") or "").strip().split(" ")[0].lower()
    if word == "ouvrir":
        _open(body, context, client, respond)
    elif word in ("mes-dossiers", "dossiers"):
        _my_cases(context, client, respond)
    elif word == "stats":
        post_stats(context, command, client, respond)
    else:
        message = help_message()
        respond(text=message.text, blocks=message.blocks, response_type="ephemeral")


def _open(body: dict[str, Any], context: dict[str, Any], client: WebClient, respond: Respond) -> None:
    """Due cases, and to a lead the out-of-time ones; never a case whose M+3 date is to come."""
    try:
        offered = offered_cases(context)
    except Refused as refusal:
        respond(text=wording.refusal(refusal), response_type="ephemeral")
        return
    choices = [(str(w.case_id), t("out_of_time.option" if w.out_of_time else "listeners.open_case_option",
                                  client=w.client, date=day(w.m3_date))) for w in offered]
    try:
        open_modal(client, body, modals.open_case_modal(choices))
    except ModalNotOpened as failure:
        click_again(context, body, failure)


def _my_cases(context: dict[str, Any], client: WebClient, respond: Respond) -> None:
    if context.get("actor") is None:
        respond(text=t("listeners.not_an_agent"), response_type="ephemeral")
        return
    message = queue_message(context["deps"], context["actor"], client)
    respond(text=message.text, blocks=message.blocks, response_type="ephemeral")


def queue_message(deps: BotDeps, agent: str, client: WebClient) -> Message:
    """The agent's open cases, most urgent first, each with a link to its thread."""
    with deps.read() as session:
        queue = agent_queue(session, agent, timezone=deps.settings.agency_timezone)
    team = team_url(client)
    rows = [CaseRow(case_id=r.case_id, client=r.client, state=r.state, due_on=r.urgent_on,
                    thread_url=permalink(team, r.channel, r.ts)) for r in queue]
    return my_cases(rows, agency_today(deps.settings))




def register(app: App) -> None:
    app.command("/m3")(m3)
