"""The programme's figures as Block Kit, each with its written definition: `figure_blocks` is shared by the
lead's App Home and the `/m3 stats` message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal
from slack_sdk.models.blocks import Block, DividerBlock

from bot.views.blocks import Message, context, header, message, section
from bot.views.text import LOCALE, day, escape, label, person
from flows import texts
from storage.dashboards import Dashboard, Figures, Period


MAX_GROUP_ROWS = 30  # agents listed one per block; the rest is in the CSV export


def d(key: str, **values: Any) -> str:
    """A text of `flows/texts/dashboards.yml`."""
    return texts.t(f"dashboards.{key}", **values)


def percent(rate: float | None) -> str:
    if rate is None:
        return d("no_rate")
    return d("rate", rate=format_decimal(rate * 100, format="#,##0.#", locale=LOCALE))


def _figure(code: str, value: object) -> str:
    """`*Label* : value` and, under it, the figure's definition."""
    return f"*{d(f'figures.{code}.label')}* : {value}\n_{d(f'figures.{code}.definition')}_"


def _listing(items: Mapping[str, int]) -> str:
    if not items:
        return d("lead_home.nothing")
    return ", ".join(f"{name} : {n}" for name, n in sorted(items.items(), key=lambda kv: (-kv[1], kv[0])))


def _piece_label(code: str | None) -> str:
    catalogue = {p["code"]: p["label"] for group in texts.data("catalog.pieces").values() for p in group}
    return escape(catalogue.get(code or "", code or "?"))


def _protection_label(code: str) -> str:
    return escape(next((p["label"] for p in texts.data("catalog.protections") if p["code"] == code), code))


def funnel_section(figures: Figures) -> list[Block]:
    lines = [_figure(code, n) for code, n in figures.funnel]
    lines.insert(1, _figure("attempted", figures["attempted",]))
    lines.insert(3, _figure("reach_rate", percent(figures.reach_rate)))
    reasons = {label("close_reason", code): n for code, n in figures.closed_by_reason.items()}
    lines.append(f"*{d('close_reasons_title')}* : {_listing(reasons)}")
    return [header(d("lead_home.funnel_title")), section("\n".join(lines))]


def admin_section(figures: Figures) -> list[Block]:
    fields = {label("field", name): n for name, n in figures.fields_changed.items()}
    findings = figures.contract_findings
    pieces = {_piece_label(piece): n for (answer, piece), n in findings.items() if answer == "missing_piece"}
    follow_ups = sum(n for (answer, _piece), n in findings.items() if answer == "follow_up")
    lines = [
        _figure("file_changed", figures["file_changed",]),
        _figure("field_changed", _listing(fields)),
        _figure("tns_detected", figures["tns_detected",]),
        _figure("missing_piece", _listing(pieces)),
        _figure("follow_up", follow_ups),
    ]
    return [header(d("lead_home.admin_title")), section("\n".join(lines))]


def commercial_section(figures: Figures) -> list[Block]:
    elsewhere: dict[str, dict[str, int]] = {}
    for (protection, insurer), n in figures.elsewhere.items():
        insurers = elsewhere.setdefault(_protection_label(protection), {})
        name = escape(insurer) if insurer else d("insurer_unknown")
        insurers[name] = insurers.get(name, 0) + n
    held = "; ".join(f"{protection} ({_listing(insurers)})" for protection, insurers in sorted(elsewhere.items()))
    gaps: dict[str, dict[str, int]] = {}
    for (protection, answer), n in figures.gaps.items():
        gaps.setdefault(protection, {})[d(f"gap_answer.{answer}")] = n
    gap_text = "; ".join(
        f"{_protection_label(p)} ({_listing(answers)}"
        + (f", {d('priority', count=figures.priorities[p])}" if figures.priorities.get(p) else "")
        + ")"
        for p, answers in sorted(gaps.items())
    )
    lines = [_figure("elsewhere", held or d("lead_home.nothing")),
             _figure("gaps", gap_text or d("lead_home.nothing"))]
    return [header(d("lead_home.commercial_title")), section("\n".join(lines))]


def actions_section(figures: Figures) -> list[Block]:
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, status), n in figures.actions.items():
        by_kind.setdefault(kind, {})[status] = n
    parts = [
        f"{texts.t(f'slack.plan.kind.{kind}')} : "
        + ", ".join(f"{counts.get(s, 0)} {d(f'action_status.{s}')}" for s in ("done", "due", "overdue"))
        for kind, counts in sorted(by_kind.items())
    ]
    return [header(d("lead_home.actions_title")), section(_figure("actions", "; ".join(parts) or d("lead_home.nothing")))]


def multi_section(figures: Figures) -> list[Block]:
    lines = [
        _figure("multi_before", f"{figures['multi_before',]} ({percent(figures.rate('multi_before'))})"),
        _figure("multi_now", f"{figures['multi_now',]} ({percent(figures.rate('multi_now'))})"),
    ]
    return [header(d("lead_home.multi_title")), section("\n".join(lines))]


def compliance_section(figures: Figures) -> list[Block]:
    """The share of closed cases whose trail follows the guide (`flows.verdict`), and the deviations found."""
    value = d("compliance_value", compliant=figures["compliant",], closed=figures["closed",],
              rate=percent(figures.compliant_rate))
    deviations = {texts.t(f"verdict.names.{code}"): n for code, n in figures.deviations.items()}
    lines = [_figure("compliant", value), _figure("deviations", _listing(deviations))]
    return [header(d("lead_home.compliance_title")), section("\n".join(lines))]


def group_line(name: str, figures: Figures) -> str:
    values = {code: n for code, n in figures.funnel}
    return f"*{name}*\n" + d(
        "lead_home.group_line",
        **values,
        reach_rate=percent(figures.reach_rate),
        multi_before=percent(figures.rate("multi_before")),
        multi_now=percent(figures.rate("multi_now")),
    )


def groups_section(dashboard: Dashboard, names: Mapping[str, str], *, max_rows: int = MAX_GROUP_ROWS) -> list[Block]:
    blocks: list[Block] = [header(d("lead_home.per_agent_title"))]
    agents = sorted(dashboard.by_agent.items(), key=lambda kv: (-kv[1].opened, kv[0] or ""))
    for agent, figures in agents[:max_rows]:
        blocks.append(section(group_line(person(agent, names) if agent else d("unassigned"), figures)))
    if len(agents) > max_rows:
        blocks.append(context(d("lead_home.more_groups", count=len(agents) - max_rows)))
    blocks.append(header(d("lead_home.per_origin_title")))
    for origin, figures in sorted(dashboard.by_origin.items(), key=lambda kv: kv[0] or ""):
        name = label("origin", origin) if origin else d("unknown_origin")
        blocks.append(section(group_line(name, figures)))
    return blocks


def period_line(period: Period) -> str:
    return d("period_line", start=day(period.start), end=day(period.end))


def figure_blocks(dashboard: Dashboard, names: Mapping[str, str], *, max_rows: int = MAX_GROUP_ROWS) -> list[Block]:
    """Every figure of the dashboard with its definition, then the per-agent and per-origin lines."""
    blocks: list[Block] = [context(f"{period_line(dashboard.period)}. {d('cohort_note')}")]
    if not dashboard.total.opened:
        return [*blocks, section(d("none"))]
    total = dashboard.total
    for part in (funnel_section, admin_section, commercial_section, actions_section, multi_section,
                 compliance_section):
        blocks += [DividerBlock(), *part(total)]
    return [*blocks, DividerBlock(), *groups_section(dashboard, names, max_rows=max_rows)]


def stats_message(dashboard: Dashboard, names: Mapping[str, str]) -> Message:
    # A message holds 50 blocks: the figures take about 20, so the agents are cut at 20 rows.
    blocks = [header(d("stats.title")), *figure_blocks(dashboard, names, max_rows=20)]
    return message(f"{d('stats.title')} — {period_line(dashboard.period)}", blocks)
