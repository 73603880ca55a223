"""The App Home. A lead sees first what needs a decision today (late callbacks and actions, out-of-time
cases, the busiest agents), then the funnel as a picture and the team's figures, compact, for a period he
picks (their definitions in a modal). An agent sees first "Aujourd'hui" (callbacks booked today, cases he
may call now, actions due), then his open cases, most urgent first, and what he did this week.

Built with slack_sdk's models, which check Slack's limits; a Home holds 100 blocks at most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ActionsBlock, Block, DividerBlock, ImageBlock, Option, SectionBlock, StaticSelectElement
from slack_sdk.models.blocks.basic_components import MarkdownTextObject
from slack_sdk.models.views import View

from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import button, buttons, context, header, section
from bot.views.lists import CaseRow
from bot.views.out_of_time import OutOfTimeSection, out_of_time_blocks
from bot.views.stats import MAX_GROUP_ROWS, d, figure_fields, groups_section
from bot.views.text import AGENCY_TZ, client_clock, day, escape, label, moment, person, t
from storage.dashboards import PERIODS, AgentToday, Dashboard
from storage.worklists import AgentAgenda, LeadAttention, TodayRow

MAX_HOME_BLOCKS = 100
PERIOD_SELECT = "m3.home_period"  # the lead's period picker; the option value is a `storage.dashboards` period
DEFINITIONS = "m3.home_definitions"  # the lead's button opening the figures' definitions (value encode(None))
# The agent's Home keeps this many blocks for the summary, the week and the headers.
_AGENT_FIXED_BLOCKS = 8


def _home(blocks: Sequence[Block]) -> dict[str, Any]:
    if len(blocks) > MAX_HOME_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks: a Home tab holds {MAX_HOME_BLOCKS} at most")
    # private_metadata: the middleware reads the Home's interactions (the period picker) as naming no case.
    return View(type="home", blocks=list(blocks), private_metadata=encode(None)).to_dict()


def period_picker(current: str) -> ActionsBlock:
    options = [Option(value=code, text=d(f"periods.{code}")) for code in PERIODS]
    initial = next(o for o in options if o.value == current)
    return ActionsBlock(elements=[StaticSelectElement(action_id=PERIOD_SELECT, options=options, initial_option=initial,
                                                      placeholder=d("lead_home.period_label"))])


def _linked(row: TodayRow, links: Mapping[int, str]) -> str:
    """The client's name, as a link to the case's thread when its card is posted."""
    url = links.get(row.case_id)
    return f"<{url}|{escape(row.client)}>" if url else escape(row.client)


def _listed(title: str, lines: Sequence[str], total: int) -> str:
    more = [d("lead_home.more_rows", count=total - len(lines))] if total > len(lines) else []
    return "\n".join([title, *lines, *more])


def attention_blocks(attention: LeadAttention, links: Mapping[int, str], names: Mapping[str, str]) -> list[Block]:
    """Late callbacks and actions, each linking to its thread, and the agents with the most open cases."""
    blocks: list[Block] = [header(d("lead_home.attention_title"))]
    if attention.callbacks_total:
        lines = [d("lead_home.late_callback_row", client=_linked(row, links), when=moment(row.at),
                   agent=person(row.agent, names)) for row in attention.callbacks]
        blocks.append(section(_listed(d("lead_home.late_callbacks", count=attention.callbacks_total), lines,
                                      attention.callbacks_total)))
    if attention.actions_total:
        lines = [d("lead_home.late_action_row", client=_linked(row, links), kind=label("plan_kind", row.kind),
                   date=day(row.due_on), agent=person(row.agent, names)) for row in attention.actions]
        blocks.append(section(_listed(d("lead_home.late_actions", count=attention.actions_total), lines,
                                      attention.actions_total)))
    if not (attention.callbacks_total or attention.actions_total):
        blocks.append(section(d("lead_home.attention_none")))
    if attention.backlog:
        fields = [MarkdownTextObject(text=d("lead_home.backlog_row", count=n,
                                            agent=person(agent, names) if agent else d("unassigned")))
                  for agent, n in attention.backlog[:10]]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=d("lead_home.backlog_title")), fields=fields))
    return blocks


def chart_blocks(chart: str | None) -> list[Block]:
    """The funnel picture, an image block showing the Slack file `chart`; a note while it is uploaded."""
    shown: Block = (ImageBlock(slack_file={"id": chart}, alt_text=d("lead_home.chart_alt")) if chart
                    else context(d("lead_home.chart_coming")))
    return [header(d("lead_home.chart_title")), shown]


def lead_home(dashboard: Dashboard, names: Mapping[str, str],
              out_of_time: OutOfTimeSection | None = None, *, attention: LeadAttention | None = None,
              links: Mapping[int, str] | None = None, chart: str | None = None,
              warning: str | None = None) -> dict[str, Any]:
    """What needs a decision today (late callbacks and actions, the cases set aside as out of time, the
    busiest agents), then the funnel's picture (the Slack file `chart`), the team's figures for the period in
    compact fields with a button to their definitions, and the lines per agent and per origin; `warning` (the
    M+3 channel is public) comes before everything."""
    code = dashboard.period.code or PERIODS[0]
    first = [section(f":warning: {warning}")] if warning else []
    first += attention_blocks(attention, links or {}, names) if attention else []
    first.append(buttons([button(d("lead_home.handover_button"), ids.HANDOVER, encode(None)),
                          button(d("lead_home.rgpd_button"), ids.RGPD, encode(None))]))
    opened = bool(dashboard.total.opened)
    figures: list[Block] = [
        DividerBlock(), *(chart_blocks(chart) if opened else []),
        DividerBlock(), header(d("lead_home.figures_title")), period_picker(code), *figure_fields(dashboard),
        buttons([button(d("lead_home.definitions_button"), DEFINITIONS, encode(None))]),
    ]
    # Per-agent lines come last: they get what the rest leaves, and at least two headers and a few rows.
    origins = len(dashboard.by_origin) if opened else 0
    fixed = 1 + len(first) + len(figures) + (1 + 2 + origins + 3 if opened else 0)
    waiting = out_of_time_blocks(out_of_time, MAX_HOME_BLOCKS - fixed) if out_of_time else []
    groups: list[Block] = []
    if opened:
        rows = min(MAX_GROUP_ROWS, MAX_HOME_BLOCKS - 1 - len(first) - len(waiting) - len(figures) - 4 - origins)
        groups = [DividerBlock(), *groups_section(dashboard, names, max_rows=max(rows, 0))]
    blocks = [header(d("lead_home.title")), *first, *waiting, *figures, *groups]
    return _home(blocks)


def _urgency(row: CaseRow, today_info: AgentToday) -> tuple[int, str]:
    """(rank, why): a booked callback whose time has come, then a passed M+3 date, then an action due."""
    if row.case_id in today_info.callbacks_due:
        return 0, d("agent_home.reason.callback")
    if row.case_id in today_info.m3_passed:
        return 1, d("agent_home.reason.m3_passed", date=day(row.due_on))
    if row.case_id in today_info.actions_due:
        return 2, d("agent_home.reason.action", date=day(today_info.actions_due[row.case_id]))
    return 3, d("agent_home.reason.later", date=day(row.due_on))


def _at_time(at: datetime, postcode: str | None) -> str:
    """The callback's time in the agency's zone, and in the client's when it reads otherwise."""
    agency = at.astimezone(ZoneInfo(AGENCY_TZ)).strftime("%H:%M")
    client = client_clock(at, postcode)
    return agency + (d("agent_home.today_callback_client_time", time=client[0]) if client else "")


def today_blocks(agenda: AgentAgenda, links: Mapping[int, str]) -> list[Block]:
    """ "Aujourd'hui": callbacks booked today with their times, cases callable now, actions due."""
    parts = [
        ("today_callbacks", [d("agent_home.today_callback_row", time=_at_time(row.at, row.postcode),
                               client=_linked(row, links)) for row in agenda.callbacks]),
        ("today_callable", [d("agent_home.today_callable_row", client=_linked(row, links))
                            for row in agenda.callable_now]),
        ("today_actions", [d("agent_home.today_action_row", client=_linked(row, links),
                             kind=label("plan_kind", row.kind), date=day(row.due_on)) for row in agenda.actions]),
    ]
    blocks: list[Block] = [header(d("agent_home.today_title"))]
    blocks += [section("\n".join([d(f"agent_home.{title}"), *lines])) for title, lines in parts if lines]
    if len(blocks) == 1:
        blocks.append(section(d("agent_home.today_none")))
    return [*blocks, DividerBlock()]


def agent_home(rows: Sequence[CaseRow], today_info: AgentToday, agenda: AgentAgenda | None = None,
               links: Mapping[int, str] | None = None) -> dict[str, Any]:
    """ "Aujourd'hui" first (`links`: case -> its thread), then the agent's open cases, most urgent first,
    each with a link to its thread, then his week."""
    ranked = sorted(((row, *_urgency(row, today_info)) for row in rows),
                    key=lambda item: (item[1], item[0].due_on, item[0].case_id))
    actions_due = sum(1 for row in rows if row.case_id in today_info.actions_due)
    summary = d("agent_home.summary", open=len(rows), callbacks=len(today_info.callbacks_due),
                passed=len(today_info.m3_passed), actions=actions_due)
    today = today_blocks(agenda, links or {}) if agenda else [DividerBlock()]
    blocks: list[Block] = [header(d("agent_home.title")), context(summary), *today,
                           header(d("agent_home.queue_title"))]
    if not rows:
        blocks.append(section(d("agent_home.none")))
    room = MAX_HOME_BLOCKS - _AGENT_FIXED_BLOCKS - len(today) + 1
    for row, _rank, why in ranked[:room]:
        link = (button(d("agent_home.open_thread"), ids.suffixed(ids.OPEN_THREAD, row.case_id), encode(row.case_id),
                       url=row.thread_url) if row.thread_url else None)
        blocks.append(section(f"*{escape(row.client)}* — {label('state', row.state.value)}\n{why}", accessory=link))
    if len(ranked) > room:
        blocks.append(context(t("more", count=len(ranked) - room)))
    week = [MarkdownTextObject(text=f"*{today_info.week[code]}*\n{d(f'agent_home.week.{code}')}")
            for code in today_info.week]
    blocks += [DividerBlock(), header(d("agent_home.week_title")), SectionBlock(fields=week)]
    return _home(blocks)
