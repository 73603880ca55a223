"""The programme's figures as Block Kit: `figure_blocks`, each with its written definition, for the `/m3 stats`
message; `figure_fields`, compact, for the lead's App Home, whose definitions are one click away
(`definitions_modal`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from babel.numbers import format_decimal
from slack_sdk.models.blocks import Block, DividerBlock, SectionBlock
from slack_sdk.models.blocks.basic_components import MarkdownTextObject
from slack_sdk.models.views import View

import wording
from bot.views.blocks import Message, context, header, message, section
from bot.views.text import LOCALE, clip, day, escape, label, person
from storage.dashboards import Dashboard, Figures, Period

MAX_GROUP_ROWS = 30  # agents listed one per block; the rest is in the CSV export


def d(key: str, **values: Any) -> str:
    """A text of `wording/fr/dashboards.yml`."""
    return wording.t(f"dashboards.{key}", **values)


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
    catalogue = {p["code"]: p["label"] for group in wording.data("catalog.pieces").values() for p in group}
    return escape(catalogue.get(code or "", code or "?"))


def _protection_label(code: str) -> str:
    return escape(next((p["label"] for p in wording.data("catalog.protections") if p["code"] == code), code))


# Each part of the figures is a list of (figure code, value shown): `figure_blocks` writes them as lines
# with their definitions (`/m3 stats`), `figure_fields` as compact fields (the lead's Home).
Values = list[tuple[str, object]]


def _lines(values: Values) -> str:
    return "\n".join(_figure(code, value) for code, value in values)


def funnel_values(figures: Figures) -> Values:
    values: Values = list(figures.funnel)
    values.insert(1, ("attempted", figures["attempted",]))
    values.insert(3, ("reach_rate", percent(figures.reach_rate)))
    return values


def _close_reasons(figures: Figures) -> str:
    return _listing({label("close_reason", code): n for code, n in figures.closed_by_reason.items()})


def funnel_section(figures: Figures) -> list[Block]:
    text = f"{_lines(funnel_values(figures))}\n*{d('close_reasons_title')}* : {_close_reasons(figures)}"
    return [header(d("lead_home.funnel_title")), section(text)]


def admin_values(figures: Figures) -> Values:
    fields = {label("field", name): n for name, n in figures.fields_changed.items()}
    findings = figures.contract_findings
    pieces = {_piece_label(piece): n for (answer, piece), n in findings.items() if answer == "missing_piece"}
    follow_ups = sum(n for (answer, _piece), n in findings.items() if answer == "follow_up")
    return [
        ("file_changed", figures["file_changed",]),
        ("field_changed", _listing(fields)),
        ("tns_detected", figures["tns_detected",]),
        ("missing_piece", _listing(pieces)),
        ("follow_up", follow_ups),
    ]


def admin_section(figures: Figures) -> list[Block]:
    return [header(d("lead_home.admin_title")), section(_lines(admin_values(figures)))]


def commercial_values(figures: Figures) -> Values:
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
    return [("elsewhere", held or d("lead_home.nothing")), ("gaps", gap_text or d("lead_home.nothing"))]


def commercial_section(figures: Figures) -> list[Block]:
    return [header(d("lead_home.commercial_title")), section(_lines(commercial_values(figures)))]


def actions_values(figures: Figures) -> Values:
    by_kind: dict[str, dict[str, int]] = {}
    for (kind, status), n in figures.actions.items():
        by_kind.setdefault(kind, {})[status] = n
    parts = [
        f"{wording.t(f'labels.plan_kind.{kind}')} : "
        + ", ".join(f"{counts.get(s, 0)} {d(f'action_status.{s}')}" for s in ("done", "due", "overdue"))
        for kind, counts in sorted(by_kind.items())
    ]
    return [("actions", "; ".join(parts) or d("lead_home.nothing"))]


def actions_section(figures: Figures) -> list[Block]:
    return [header(d("lead_home.actions_title")), section(_lines(actions_values(figures)))]


def multi_values(figures: Figures) -> Values:
    return [
        ("multi_before", f"{figures['multi_before',]} ({percent(figures.rate('multi_before'))})"),
        ("multi_now", f"{figures['multi_now',]} ({percent(figures.rate('multi_now'))})"),
    ]


def multi_section(figures: Figures) -> list[Block]:
    return [header(d("lead_home.multi_title")), section(_lines(multi_values(figures)))]


def compliance_values(figures: Figures) -> Values:
    """The share of closed cases whose trail follows the guide (`flows.verdict`), and the deviations found."""
    value = d("compliance_value", compliant=figures["compliant",], closed=figures["closed",],
              rate=percent(figures.compliant_rate))
    deviations = {wording.t(f"verdict.names.{code}"): n for code, n in figures.deviations.items()}
    return [("compliant", value), ("deviations", _listing(deviations))]


def compliance_section(figures: Figures) -> list[Block]:
    lines = [_figure(code, value) for code, value in compliance_values(figures)]
    return [header(d("lead_home.compliance_title")), section("\n".join(lines))]


def group_line(name: str, figures: Figures) -> str:
    values = dict(figures.funnel)
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


MAX_FIELDS = 10  # Slack's limit per section
FIELD_TEXT = 2000


def _fields(title: str, values: Values) -> list[Block]:
    """`values` as compact fields under a bold title, 10 to a section."""
    fields = [MarkdownTextObject(text=clip(f"*{d(f'figures.{code}.label')}*\n{value}", FIELD_TEXT))
              for code, value in values]
    return [SectionBlock(text=MarkdownTextObject(text=f"*{title}*"), fields=fields[i:i + MAX_FIELDS])
            for i in range(0, len(fields), MAX_FIELDS)]


def figure_fields(dashboard: Dashboard) -> list[Block]:
    """The team's figures as compact fields, part by part, without their definitions (see
    `definitions_modal`)."""
    blocks: list[Block] = [context(period_line(dashboard.period))]
    if not dashboard.total.opened:
        return [*blocks, section(d("none"))]
    total = dashboard.total
    funnel = [*funnel_values(total), ("close_reasons", _close_reasons(total))]
    for title, values in (("funnel_title", funnel), ("admin_title", admin_values(total)),
                          ("commercial_title", commercial_values(total)),
                          ("actions_title", [*actions_values(total), *multi_values(total)]),
                          ("compliance_title", compliance_values(total))):
        blocks += _fields(d(f"lead_home.{title}"), values)
    return blocks


DEFINITIONS_MODAL = "m3.modal.definitions"  # only shown: no submit


def definitions_modal() -> dict[str, Any]:
    """Every figure's label and written definition, and what a period's cases are."""
    blocks = [context(d("cohort_note"))]
    blocks += [section(f"*{entry['label']}* : {entry['definition']}")
               for entry in wording.data("dashboards.figures").values()]
    return View(type="modal", callback_id=DEFINITIONS_MODAL, title=d("lead_home.definitions_title"),
                close=d("lead_home.definitions_close"), blocks=blocks).to_dict()


def stats_message(dashboard: Dashboard, names: Mapping[str, str]) -> Message:
    # A message holds 50 blocks: the figures take about 20, so the agents are cut at 20 rows.
    blocks = [header(d("stats.title")), *figure_blocks(dashboard, names, max_rows=20)]
    return message(f"{d('stats.title')} — {period_line(dashboard.period)}", blocks)
