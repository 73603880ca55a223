"""Events: the App Home, the files a lead shares in the bot's Messages tab (`file_import`) and the app's uninstall (`uninstall`).

A lead (`M3_LEADS`) sees what needs a decision today, the cases set aside as out of time, the funnel's
picture and the team's figures, whose period he picks; an agent sees "Aujourd'hui", his open cases,
most urgent first, and his week.

The lead's Home is published at once with the picture it has (today's, or yesterday's); when today's is
not uploaded yet, it is uploaded after (Bolt has acknowledged the event already) and the Home published
again with it, unless the lead changed it meanwhile (the view's hash tells).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View

from bot import channel
from bot.channel import permalink, team_url
from bot.context import BotDeps
from bot.home_chart import chart_of_today, shown_chart, uploaded_today
from bot.listeners.common import open_modal
from bot.listeners.events import file_import, uninstall
from bot.rendering import agency_today, agent_names
from bot.views.agency_settings import with_admin_blocks
from bot.views.blocks import section
from bot.views.home import DEFINITIONS, PERIOD_SELECT, agent_home, lead_home
from bot.views.lists import CaseRow
from bot.views.out_of_time import SHOWN, OutOfTimeSection
from bot.views.stats import definitions_modal
from storage.dashboards import DEFAULT_PERIOD, PERIODS, Dashboard, Period, agent_today, build_dashboard
from storage.tables import utcnow
from storage.worklists import TodayRow, agent_agenda, agent_queue, lead_attention, out_of_time_cases
from wording import t

log = logging.getLogger(__name__)


def _links(client: WebClient, rows: list[TodayRow]) -> dict[int, str]:
    team = team_url(client)
    return {row.case_id: url for row in rows if (url := permalink(team, row.channel, row.ts))}


def _lead(deps: BotDeps, period_code: str, client: WebClient | None,
          chart: str | None = None, *, admin: bool = False) -> tuple[dict[str, Any], Dashboard]:
    today = agency_today(deps.settings)
    timezone = deps.settings.agency_timezone
    warning = channel.warning_for_home(client, deps.settings.m3_channel) if client else None
    with deps.read() as session:
        dashboard = build_dashboard(session, Period.preset(period_code, today), today=today, timezone=timezone)
        cases, total = out_of_time_cases(session, limit=SHOWN)
        waiting = OutOfTimeSection(cases, total, deps.settings.catch_up_days)
        attention = lead_attention(session, now=utcnow(), timezone=timezone)
        names = agent_names(session)
    links = _links(client, [*attention.callbacks, *attention.actions]) if client else {}
    view = lead_home(dashboard, names, waiting, attention=attention, links=links,
                     chart=chart or (shown_chart(client, period_code, today) if client else None), warning=warning)
    return (with_admin_blocks(view, channel_missing=not deps.settings.m3_channel) if admin else view), dashboard


def lead_view(deps: BotDeps, period_code: str, client: WebClient | None = None) -> dict[str, Any]:
    """The lead's Home for the period, with the funnel picture already uploaded (today's or yesterday's)."""
    return _lead(deps, period_code, client)[0]


def _is_admin(deps: BotDeps, client: WebClient, user: str) -> bool:
    return deps.workspace is not None and deps.admins.is_admin(client, deps.workspace, user)


def publish_lead_home(deps: BotDeps, client: WebClient, user: str, period_code: str) -> None:
    """Publish the lead's Home now, then, if today's funnel picture was not uploaded yet, upload it and
    publish the Home again with it (a workspace admin's with the agency's settings first)."""
    admin = _is_admin(deps, client, user)
    view, dashboard = _lead(deps, period_code, client, admin=admin)
    published = client.views_publish(user_id=user, view=view)
    if not dashboard.total.opened or uploaded_today(client, period_code, dashboard.today):
        return
    try:
        chart = chart_of_today(client, user, dashboard)
        if chart:
            client.views_publish(user_id=user, view=_lead(deps, period_code, client, chart, admin=admin)[0],
                                 hash=published["view"]["hash"])
    except SlackApiError as error:  # hash_conflict: the lead moved on; the next Home shows the picture
        log.warning("lead Home's funnel picture not shown: %s", error.response.get("error"))


def agent_view(deps: BotDeps, agent: str, client: WebClient) -> dict[str, Any]:
    timezone = deps.settings.agency_timezone
    now = utcnow()
    with deps.read() as session:
        queue = agent_queue(session, agent, timezone=timezone)
        today_info = agent_today(session, agent, now=now, timezone=timezone)
        agenda = agent_agenda(session, agent, now=now, timezone=timezone, rules=deps.rules)
    team = team_url(client)
    rows = [CaseRow(case_id=r.case_id, client=r.client, state=r.state, due_on=r.urgent_on,
                    thread_url=permalink(team, r.channel, r.ts)) for r in queue]
    links = _links(client, [*agenda.callbacks, *agenda.callable_now, *agenda.actions])
    return agent_home(rows, today_info, agenda, links)


def app_home_opened(event: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    if event.get("tab") not in (None, "home"):
        return
    publish_home(context["deps"], client, event["user"], is_lead=context.get("is_lead", False),
                 actor=context.get("actor"))


def publish_home(deps: BotDeps, client: WebClient, user: str, *, is_lead: bool, actor: str | None) -> None:
    """The user's Home: a lead's, an agent's, or the word that he is neither; a workspace admin's shows the
    agency's settings first."""
    if is_lead:
        publish_lead_home(deps, client, user, DEFAULT_PERIOD)
        return
    if actor is None:
        # Built through slack_sdk's View so that Slack's limits are checked before the call.
        view = View(type="home", blocks=[section(t("listeners.not_an_agent"))]).to_dict()
    else:
        view = agent_view(deps, actor, client)
    if _is_admin(deps, client, user):
        view = with_admin_blocks(view, channel_missing=not deps.settings.m3_channel)
    client.views_publish(user_id=user, view=view)


def period_chosen(ack: Ack, body: dict[str, Any], context: dict[str, Any], client: WebClient) -> None:
    """The lead picked another period in his Home: the figures are recomputed for it."""
    ack()
    code = ((body.get("actions") or [{}])[0].get("selected_option") or {}).get("value")
    if not context.get("is_lead") or code not in PERIODS:
        return  # only a lead's Home has the picker; anything else was not sent by it
    publish_lead_home(context["deps"], client, body["user"]["id"], code)


def definitions_shown(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """The lead's "Définitions des chiffres": a modal listing each figure's definition."""
    ack()
    open_modal(client, body, definitions_modal())


def register(app: App) -> None:
    uninstall.register(app)
    app.event("app_home_opened")(app_home_opened)
    app.action(PERIOD_SELECT)(period_chosen)
    app.action(DEFINITIONS)(definitions_shown)
    file_import.register(app)
