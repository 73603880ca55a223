"""The App Home: a lead sees the team's M+3 figures for a period he picks; an agent sees his open cases,
most urgent first, and what he did this week.

Built with slack_sdk's models, which check Slack's limits; a Home holds 100 blocks at most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, DividerBlock, Option, SectionBlock, StaticSelectElement
from slack_sdk.models.blocks.basic_components import MarkdownTextObject
from slack_sdk.models.views import View

from bot.payloads import encode
from bot.views import ids
from bot.views.blocks import button, context, header, section
from bot.views.lists import CaseRow
from bot.views.out_of_time import OutOfTimeSection, out_of_time_blocks
from bot.views.stats import d, figure_blocks
from bot.views.text import day, escape, label, t
from storage.dashboards import PERIODS, AgentToday, Dashboard

MAX_HOME_BLOCKS = 100
PERIOD_SELECT = "m3.home_period"  # the lead's period picker; the option value is a `storage.dashboards` period
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


def lead_home(dashboard: Dashboard, names: Mapping[str, str],
              out_of_time: OutOfTimeSection | None = None, *, warning: str | None = None) -> dict[str, Any]:
    """The team's figures for the period, each with its definition, per agent and per origin; above them,
    the cases set aside as out of time, for the lead to open or close; `warning` (the M+3 channel is
    public) comes first."""
    code = dashboard.period.code or PERIODS[0]
    figures: list[Block] = [period_picker(code), *figure_blocks(dashboard, names),
                            context(d("lead_home.definitions_hint"))]
    alert = [section(f":warning: {warning}")] if warning else []
    waiting = (out_of_time_blocks(out_of_time, MAX_HOME_BLOCKS - 1 - len(alert) - len(figures))
               if out_of_time else [])
    return _home([header(d("lead_home.title")), *alert, *waiting, *figures])


def _urgency(row: CaseRow, today_info: AgentToday) -> tuple[int, str]:
    """(rank, why): a booked callback whose time has come, then a passed M+3 date, then an action due."""
    if row.case_id in today_info.callbacks_due:
        return 0, d("agent_home.reason.callback")
    if row.case_id in today_info.m3_passed:
        return 1, d("agent_home.reason.m3_passed", date=day(row.due_on))
    if row.case_id in today_info.actions_due:
        return 2, d("agent_home.reason.action", date=day(today_info.actions_due[row.case_id]))
    return 3, d("agent_home.reason.later", date=day(row.due_on))


def agent_home(rows: Sequence[CaseRow], today_info: AgentToday) -> dict[str, Any]:
    """The agent's open cases, most urgent first, each with a link to its thread, then his week."""
    ranked = sorted(((row, *_urgency(row, today_info)) for row in rows),
                    key=lambda item: (item[1], item[0].due_on, item[0].case_id))
    actions_due = sum(1 for row in rows if row.case_id in today_info.actions_due)
    summary = d("agent_home.summary", open=len(rows), callbacks=len(today_info.callbacks_due),
                passed=len(today_info.m3_passed), actions=actions_due)
    blocks: list[Block] = [header(d("agent_home.title")), context(summary), DividerBlock(),
                           header(d("agent_home.queue_title"))]
    if not rows:
        blocks.append(section(d("agent_home.none")))
    room = MAX_HOME_BLOCKS - _AGENT_FIXED_BLOCKS
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
