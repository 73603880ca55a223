"""The funnel chart of the lead's App Home: drawn by `bot.charts`, uploaded to Slack at most once per period
and per agency day, into the lead's direct message with the bot (so that the file is shared and an image
block may show it), and remembered by its Slack file id.

The ids live in this process, in a small cache keyed by (period, day) for each Slack workspace the bot
talks to (API address and token: a file id means something in its workspace only): a restart costs one
more upload, never a wrong picture. Yesterday's file stands in until today's is uploaded.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

from slack_sdk import WebClient

from bot.charts import funnel_png, upload_png
from bot.views.stats import d
from bot.views.text import day
from storage.dashboards import Dashboard

# (API address, token) -> {(period code, agency day): Slack file id}; one lock so that two Homes opened at
# once upload once.
_FILES: dict[tuple[str, str | None], dict[tuple[str, date], str]] = {}
_LOCK = threading.Lock()


def _files(client: WebClient) -> dict[tuple[str, date], str]:
    return _FILES.setdefault((client.base_url, client.token), {})


def shown_chart(client: WebClient, period: str, today: date) -> str | None:
    """The file to show now: today's chart of the period, else yesterday's, else none."""
    files = _files(client)
    return files.get((period, today)) or files.get((period, today - timedelta(days=1)))


def uploaded_today(client: WebClient, period: str, today: date) -> bool:
    return (period, today) in _files(client)


def chart_of_today(client: WebClient, lead: str, dashboard: Dashboard) -> str | None:
    """Today's chart of the dashboard's period, uploaded into `lead`'s direct message with the bot if it is
    not yet; None when no case was opened in the period (nothing to draw)."""
    period, today = dashboard.period.code, dashboard.today
    if period is None or not dashboard.total.opened:
        return None
    with _LOCK:
        files = _files(client)
        if (period, today) not in files:
            title = d("stats.chart_title", period=d(f"periods.{period}"))
            channel = client.conversations_open(users=lead)["channel"]["id"]
            files[(period, today)] = upload_png(
                client, channel=channel, png=funnel_png(dashboard.total, title), filename=d("stats.chart_file"),
                title=title, comment=d("stats.chart_comment", start=day(dashboard.period.start),
                                       end=day(dashboard.period.end)))
        return files[(period, today)]
