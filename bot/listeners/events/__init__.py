"""Events: the App Home. A lead (`M3_LEADS`) sees the cases set aside as out of time and the team's
figures, whose period he picks; an agent sees his open cases, most urgent first, and his week."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.models.views import View
from sqlmodel import Session

from bot import channel
from bot.context import BotDeps
from bot.listeners.commands import team_url, permalink
from bot.rendering import agency_today, agent_names
from bot.views.blocks import section
from bot.views.home import PERIOD_SELECT, agent_home, lead_home
from bot.views.lists import CaseRow
from bot.views.out_of_time import SHOWN, OutOfTimeSection
from flows.texts import t
from storage.dashboards import DEFAULT_PERIOD, PERIODS, Period, agent_today, build_dashboard
from storage.tables import utcnow
from storage.worklists import agent_queue, out_of_time_cases


def lead_view(deps: BotDeps, period_code: str, client: WebClient) -> dict[str, Any]:
    today = agency_today(deps.settings)
    warning = channel.warning_for_home(client, deps.settings.m3_channel)
    with Session(deps.engine) as session:
        dashboard = build_dashboard(session, Period.preset(period_code, today), today=today,
                                    timezone=deps.settings.agency_timezone)
        cases, total = out_of_time_cases(session, limit=SHOWN)
        waiting = OutOfTimeSection(cases, total, deps.settings.catch_up_days)
        return lead_home(dashboard, agent_names(session), waiting, warning=warning)


def agent_view(deps: BotDeps, agent: str, client: WebClient) -> dict[str, Any]:
    timezone = deps.settings.agency_timezone
    with Session(deps.engine) as session:
        queue = agent_queue(session, agent, timezone=timezone)
        today_info = agent_today(session, agent, now=utcnow(), timezone=timezone)
    team = team_url(client)
    rows = [CaseRow(case_id=r.case_id, client=r.client, state=r.state, due_on=r.urgent_on,
                    thread_url=permalink(team, r.channel, r.ts)) for r in queue]
    return agent_home(rows, today_info)


def app_home_opened(event: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return
    deps: BotDeps = context["deps"]
    if context.get("is_lead"):
        view = lead_view(deps, DEFAULT_PERIOD, client)
    elif context.get("actor") is None:
        # Built through slack_sdk's View so that Slack's limits are checked before the call.
        view = View(type="home", blocks=[section(t("listeners.not_an_agent"))]).to_dict()
    else:
        view = agent_view(deps, context["actor"], client)
    client.views_publish(user_id=event["user"], view=view)


def period_chosen(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    """The lead picked another period in his Home: the figures are recomputed for it."""
    ack()
    code = ((body.get("actions") or [{}])[0].get("selected_option") or {}).get("value")
    if not context.get("is_lead") or code not in PERIODS:
        return  # only a lead's Home has the picker; anything else was not sent by it
    client.views_publish(user_id=body["user"]["id"], view=lead_view(context["deps"], code, client))


def register(app: App) -> None:
    app.event("app_home_opened")(app_home_opened)
    app.action(PERIOD_SELECT)(period_chosen)
