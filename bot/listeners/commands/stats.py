"""`/m3 stats [période]`: for a lead, the team's figures in the channel, then the funnel chart under them."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.charts import funnel_png, upload_png
from bot.context import BotDeps
from bot.rendering import agency_today, agent_names
from bot.views.stats import d, stats_message
from bot.views.text import day, escape
from storage.dashboards import DEFAULT_PERIOD, PERIODS, Period, build_dashboard

log = logging.getLogger(__name__)


def post_stats(context_: dict[str, Any], command: dict[str, Any], client: WebClient, respond: Any) -> None:
    """`/m3 stats [période]`: for a lead, the team's figures in the channel, then the funnel chart."""
    deps: BotDeps = context_["deps"]
    if not context_.get("is_lead"):
        respond(text=d("stats.leads_only"), response_type="ephemeral")
        return
    words = (command.get("text") or "").split()
    code = words[1] if len(words) > 1 else DEFAULT_PERIOD
    if code not in PERIODS:
        choices = ", ".join(f"`{p}` ({d(f'periods.{p}')})" for p in PERIODS)
        respond(text=d("stats.unknown_period", value=escape(code), choices=choices), response_type="ephemeral")
        return
    today = agency_today(deps.settings)
    with deps.read() as session:
        dashboard = build_dashboard(session, Period.preset(code, today), today=today,
                                    timezone=deps.settings.agency_timezone)
        names = agent_names(session)
    stats = stats_message(dashboard, names)
    respond(text=stats.text, blocks=stats.blocks, response_type="in_channel")
    if not dashboard.total.opened:
        return
    period = dashboard.period
    png = funnel_png(dashboard.total, d("stats.chart_title", period=d(f"periods.{code}")))
    try:
        upload_png(client, channel=command["channel_id"], png=png, filename=d("stats.chart_file"),
                   title=d("stats.chart_title", period=d(f"periods.{code}")),
                   comment=d("stats.chart_comment", start=day(period.start), end=day(period.end)))
    except SlackApiError as error:
        log.warning("funnel chart not uploaded: %s", error.response.get("error"))
        respond(text=d("stats.chart_failed"), response_type="ephemeral")
