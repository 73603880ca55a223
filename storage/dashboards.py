"""The figures of the M+3 programme for the leads' and agents' App Home, `/m3 stats` and the exports.

Every figure is a SQL aggregate over the period's cases grouped by (agent, origin) — a handful of groups
whatever the size of the agency. All of them go in one statement: the cases are selected once (a
materialised CTE, through the index on `opened_at`), each figure is a SELECT over them, UNION ALL. Python
only adds the group rows up into the team total, the per-agent and the per-origin views. The written definition
of each figure sits next to its label in `wording/fr/dashboards.yml`.

The cases of a period are those *opened* in it (a cohort): the funnel follows them however far they got,
so from "opened" to "action plan" each stage counts at most as many cases as the one before ("closed"
also counts the cases closed early: unreachable, refused, duplicate). A call whose commercial rebound the
client declined or withdrew ends as `rebound_refused`, a reason of its own: never counted as `refused`
(the client refused the call) nor as `completed`.

The share of compliant closed cases is the one figure SQL cannot give: each closed case of the cohort is
judged by `flows.verdict` from its audit trail (`storage.compliance`; two more statements), then counted in
its group like the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement
from sqlmodel import Session

import wording
from flows.case import (
    ActionStatus,
    AttemptOutcome,
    CloseReason,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from storage.compliance import verdicts
from storage.tables import Action, CallAttempt, Contract, ContractCheck, M3Case, ProfileCheck, ProtectionCheck

PERIODS = ("thirty_days", "month", "last_month", "three_months", "twelve_months")
DEFAULT_PERIOD = "thirty_days"
# The states in which a case waits for the client to be reached.
_NOT_REACHED = (State.preparation.value, State.contact_attempt.value, State.scheduled_callback.value)
_OPEN_CALLBACK = (State.scheduled_callback.value, State.contact_attempt.value)


@dataclass(frozen=True)
class Period:
    """Agency days from `start` to `end`, both included."""

    start: date
    end: date
    code: str | None = None  # the preset it came from, if any

    @classmethod
    def preset(cls, code: str, today: date) -> Period:
        """'thirty_days' (the last 30 days, today included), 'month' (this month so far), 'last_month',
        'three_months', 'twelve_months' (calendar months, the current one included)."""
        first = today.replace(day=1)
        if code == "thirty_days":
            return cls(today - timedelta(days=29), today, code)
        if code == "month":
            return cls(first, today, code)
        if code == "last_month":
            end = first - timedelta(days=1)
            return cls(end.replace(day=1), end, code)
        months = {"three_months": 2, "twelve_months": 11}.get(code)
        if months is None:
            raise ValueError(f"unknown period {code!r}")
        year, month = divmod(first.year * 12 + first.month - 1 - months, 12)
        return cls(date(year, month + 1, 1), today, code)

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[from, to) as UTC instants: midnight of `start` to midnight after `end`, in the agency's zone."""
        zone = ZoneInfo(timezone)
        return (
            datetime.combine(self.start, time(), zone).astimezone(UTC),
            datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC),
        )


class _UtcDay(FunctionElement):
    """The UTC calendar day of a timestamp column, comparable with a DATE column on both backends."""

    type = sa.Date()
    inherit_cache = True


@compiles(_UtcDay, "sqlite")
def _utc_day_sqlite(element, compiler, **kw):  # stored as naive UTC text: date() keeps 'YYYY-MM-DD'
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(_UtcDay, "postgresql")
def _utc_day_pg(element, compiler, **kw):
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


def product_families() -> dict[str, str]:
    """Lagon product code (upper case) -> product family, from `catalog.products`."""
    return {code.upper(): entry["family"] for code, entry in wording.data("catalog.products").items()}


def _family(product: ColumnElement) -> ColumnElement:
    """The product family of a contract; a product missing from the catalogue is a family of its own."""
    code = sa.func.upper(sa.func.trim(product))
    return sa.case(product_families(), value=code, else_=code)


# Metric keys of a group's Counter: a tuple whose first item names the figure.
Key = tuple


@dataclass(frozen=True)
class Figures:
    """The figures of one group of cases (the team, one agent or one origin)."""

    counts: Counter = field(default_factory=Counter)

    def __getitem__(self, key: Key) -> int:
        return self.counts[key]

    def _items(self, name: str) -> dict[tuple, int]:
        return {key[1:]: n for key, n in self.counts.items() if key[0] == name and n}

    @property
    def opened(self) -> int:
        return self.counts[("opened",)]

    @property
    def funnel(self) -> list[tuple[str, int]]:
        """The stages in the guide's order: (code, cases)."""
        return [(stage, self.counts[(stage,)]) for stage in FUNNEL]

    @property
    def reach_rate(self) -> float | None:
        """Reached / attempted; None when no case was called yet."""
        attempted = self.counts[("attempted",)]
        return self.counts[("reached",)] / attempted if attempted else None

    def rate(self, name: str) -> float | None:
        """A figure as a share of the cases opened; None for an empty group."""
        return self.counts[(name,)] / self.opened if self.opened else None

    @property
    def closed_by_reason(self) -> dict[str, int]:
        return {reason: n for (reason,), n in self._items("closed_by").items()}

    @property
    def rebound_refused(self) -> int:
        """Calls that went through but whose commercial rebound the client declined, withdrew or opposes."""
        return self.closed_by_reason.get(CloseReason.rebound_refused.value, 0)

    @property
    def fields_changed(self) -> dict[str, int]:
        return {name: n for (name,), n in self._items("field_changed").items()}

    @property
    def contract_findings(self) -> dict[tuple[str, str | None], int]:
        """(answer, piece) -> contracts: missing pieces by nature, and contracts to follow up."""
        return self._items("contract")

    @property
    def elsewhere(self) -> dict[tuple[str, str | None], int]:
        """(protection, insurer) -> clients holding that protection with another insurer."""
        return self._items("elsewhere")

    @property
    def gaps(self) -> dict[tuple[str, str], int]:
        """(protection, answer) -> gaps found ('not_covered' or 'to_explore')."""
        return self._items("gap")

    @property
    def priorities(self) -> dict[str, int]:
        return {p: n for (p,), n in self._items("priority").items()}

    @property
    def actions(self) -> dict[tuple[str, str], int]:
        """(kind, 'done' | 'due' | 'overdue') -> actions."""
        return self._items("action")

    @property
    def compliant_rate(self) -> float | None:
        """Closed cases whose verdict is compliant ÷ closed cases; None when none closed."""
        closed = self.counts[("closed",)]
        return self.counts[("compliant",)] / closed if closed else None

    @property
    def deviations(self) -> dict[str, int]:
        """Deviation code -> closed cases whose verdict lists it."""
        return {code: n for (code,), n in self._items("deviation").items()}


FUNNEL = ("opened", "reached", "admin_done", "rebound_done", "plan_done", "closed")


@dataclass(frozen=True)
class Dashboard:
    period: Period
    today: date
    total: Figures
    by_agent: dict[str | None, Figures]
    by_origin: dict[str, Figures]


# Per-case yes/no figures, computed once a case while the cohort is materialised.
FLAGS = ("attempted", "reached", "admin_done", "rebound_done", "plan_done", "file_changed", "tns_detected")
# Key columns of every figure row: "opened" uses them all (close reason and the flags).
_KEY_COLUMNS = 1 + len(FLAGS)


def _any(rows: sa.Select) -> ColumnElement:
    """Whether the correlated `rows` has one, probed through its index case by case. (PostgreSQL turns an
    EXISTS into a hash of the whole child table, whose cost grows with the agency, not with the period.)"""
    return rows.limit(1).correlate(M3Case).scalar_subquery().is_not(None)


def _first_origin() -> ColumnElement:
    """The origin of the case's first contract."""
    return (sa.select(Contract.origin).where(Contract.case_id == M3Case.id)
            .order_by(Contract.subscribed_on, Contract.number).limit(1).correlate(M3Case).scalar_subquery())


def _cohort(bounds: tuple[datetime, datetime]) -> sa.CTE:
    """The cases opened in the period: agent, origin (that of the first contract) and the per-case flags.

    Materialised once per statement: every figure below reads it.
    """
    case_id = M3Case.id
    origin = _first_origin()
    attempt = sa.select(CallAttempt.id).where(CallAttempt.case_id == case_id)
    changed = sa.select(ProfileCheck.id).where(ProfileCheck.case_id == case_id,
                                               ProfileCheck.answer == ProfileAnswer.modified.value)
    plan = sa.select(Action.id).where(Action.case_id == case_id, Action.status != ActionStatus.cancelled.value)
    flags = {
        "attempted": _any(attempt),
        "reached": _any(attempt.where(CallAttempt.outcome == AttemptOutcome.available.value)),
        "admin_done": M3Case.admin_contracts_done_at.is_not(None),
        "rebound_done": M3Case.rebound_done_at.is_not(None),
        "plan_done": _any(plan),
        "file_changed": _any(changed),
        "tns_detected": _any(changed.where(ProfileCheck.field == "client_type", ProfileCheck.new_value == "tns")),
    }
    return (
        sa.select(case_id.label("case_id"), M3Case.client_id, M3Case.agent, origin.label("origin"),
                  M3Case.opened_at, M3Case.close_reason,
                  *(sa.case((condition, 1), else_=0).label(name) for name, condition in flags.items()))
        .where(M3Case.opened_at >= bounds[0], M3Case.opened_at < bounds[1])
        .cte("cohort")
        .prefix_with("MATERIALIZED")
    )


def _is_column(value: Any) -> bool:
    return value is not None and not isinstance(value, str)


def _text(value: Any) -> ColumnElement:
    return sa.cast(value, sa.String) if _is_column(value) else sa.literal(value, sa.String)


def _figure(cohort: sa.CTE, name: str, *keys: Any, join: Any = None, where: Iterable[Any] = ()) -> sa.Select:
    """One figure as rows of (name, agent, origin, key 1..8, count), grouped by agent, origin and its keys."""
    columns = [_text(k) for k in [*keys, *[None] * _KEY_COLUMNS][:_KEY_COLUMNS]]
    query = sa.select(sa.literal(name, sa.String), cohort.c.agent, cohort.c.origin, *columns, sa.func.count())
    if join is not None:
        query = query.select_from(cohort).join(*join)
    grouped = [k for k in keys if _is_column(k)]
    return query.where(*where).group_by(cohort.c.agent, cohort.c.origin, *grouped)


def _figure_queries(cohort: sa.CTE, today: date) -> list[sa.Select]:
    case_id = cohort.c.case_id
    active_action = Action.status != ActionStatus.cancelled.value
    bucket = sa.case((Action.status == ActionStatus.done.value, "done"), (Action.due_on < today, "overdue"),
                     else_="due")
    return [
        # Opened, by close reason (NULL while open) and flags: the funnel and the per-case figures in one pass.
        _figure(cohort, "opened", cohort.c.close_reason, *(cohort.c[name] for name in FLAGS)),
        # client_type and account_manager are derived from a TNS status, counted by "tns_detected".
        _figure(cohort, "field_changed", ProfileCheck.field, join=(ProfileCheck, ProfileCheck.case_id == case_id),
                where=[ProfileCheck.answer == ProfileAnswer.modified.value,
                       ProfileCheck.field.not_in(("client_type", "account_manager"))]),
        _figure(cohort, "contract", ContractCheck.answer, ContractCheck.piece,
                join=(ContractCheck, ContractCheck.case_id == case_id),
                where=[ContractCheck.answer != ContractAnswer.signed.value]),
        # Held elsewhere (with the insurer) or a gap (with the answer), and whether it was made a priority.
        _figure(cohort, "protection", ProtectionCheck.protection, ProtectionCheck.answer, ProtectionCheck.insurer,
                sa.case((ProtectionCheck.priority, 1), else_=0),
                join=(ProtectionCheck, ProtectionCheck.case_id == case_id)),
        _figure(cohort, "action", Action.kind, bucket, join=(Action, Action.case_id == case_id),
                where=[active_action]),
        *_multi_equipment(cohort, today),
    ]


def _multi_equipment(cohort: sa.CTE, today: date) -> list[sa.Select]:
    """Cases whose client held contracts in at least two product families at the opening, and today."""
    family = _family(Contract.product)
    opening = _UtcDay(cohort.c.opened_at)

    def families_held(on: ColumnElement | date) -> ColumnElement:
        held = sa.and_(Contract.subscribed_on <= on,
                       sa.or_(Contract.terminated_on.is_(None), Contract.terminated_on > on))
        return sa.func.count(sa.distinct(sa.case((held, family))))

    per_case = (
        sa.select(cohort.c.agent, cohort.c.origin, families_held(opening).label("before"),
                  families_held(today).label("now"))
        .select_from(cohort)
        .join(Contract, Contract.client_id == cohort.c.client_id)
        .group_by(cohort.c.case_id, cohort.c.agent, cohort.c.origin)
        .cte("per_case")
        .prefix_with("MATERIALIZED")  # read twice: before and now
    )
    return [
        sa.select(sa.literal(name, sa.String), per_case.c.agent, per_case.c.origin,
                  *[sa.literal(None, sa.String)] * _KEY_COLUMNS, sa.func.count())
        .where(per_case.c[column] >= 2)
        .group_by(per_case.c.agent, per_case.c.origin)
        for name, column in (("multi_before", "before"), ("multi_now", "now"))
    ]


# How many keys each detailed figure carries after its name.
_KEYS = {"field_changed": 1, "contract": 2, "action": 2}


def _group_counts(session: Session, period: Period, today: date, timezone: str) -> dict[tuple, Counter]:
    """{(agent, origin): Counter of figure keys}, from one statement over the period's cases (two more judge
    its closed cases by their verdicts)."""
    if session.get_bind().dialect.name == "postgresql":
        # Each figure reaches a few rows per case through an index; PostgreSQL's default cost model (spinning
        # disks) prefers hashing whole child tables instead, which costs what the agency holds, not what the
        # period holds. 1.1 is the usual value for SSDs and cached data; SET LOCAL ends with the transaction.
        session.execute(sa.text("SET LOCAL random_page_cost = 1.1"))
    cohort = _cohort(period.bounds(timezone))
    groups: dict[tuple, Counter] = {}
    for name, agent, origin, *keys, n in session.execute(sa.union_all(*_figure_queries(cohort, today))):
        counts = groups.setdefault((agent, origin), Counter())
        if name == "opened":
            counts[("opened",)] += n
            if keys[0] is not None:
                # An erase (RGPD) is no outcome of the programme: listed by its reason, never in the funnel.
                counts[("closed",)] += n if keys[0] != CloseReason.rgpd_erased.value else 0
                counts[("closed_by", keys[0])] += n
            for flag, value in zip(FLAGS, keys[1:], strict=True):
                counts[(flag,)] += n if value == "1" else 0
        elif name == "protection":
            protection, answer, insurer, priority = keys[:4]
            if answer == ProtectionAnswer.elsewhere.value:
                counts[("elsewhere", protection, insurer)] += n
            else:
                counts[("gap", protection, answer)] += n
            counts[("priority", protection)] += n if priority == "1" else 0
        else:
            counts[(name, *keys[: _KEYS.get(name, 0)])] += n
    _count_compliance(session, period.bounds(timezone), groups)
    return groups


def _count_compliance(session: Session, bounds: tuple[datetime, datetime], groups: dict[tuple, Counter]) -> None:
    """Add to each group its closed cases whose verdict is compliant, and per deviation code the closed
    cases whose verdict lists it."""
    closed = sa.and_(M3Case.opened_at >= bounds[0], M3Case.opened_at < bounds[1], M3Case.close_reason.is_not(None))
    found = verdicts(session, sa.select(M3Case.id).where(closed))
    for case_id, agent, origin in session.execute(sa.select(M3Case.id, M3Case.agent, _first_origin()).where(closed)):
        counts = groups.setdefault((agent, origin), Counter())
        counts[("compliant",)] += found[case_id].compliant
        for code in {d.code for d in found[case_id].deviations}:
            counts[("deviation", code)] += 1


def _same_insurer(counts: Counter) -> Counter:
    """Insurers typed in different cases ("Maif", "MAIF ") are one: merged on their folded spelling, shown
    as the spelling typed most often (on a tie, the one with more capitals: insurers go by acronyms)."""
    spellings: dict[str, Counter] = {}
    for key, n in counts.items():
        if key[0] == "elsewhere" and key[2]:
            spellings.setdefault(key[2].strip().casefold(), Counter())[key[2]] += n
    shown = {
        folded: max(typed.items(), key=lambda item: (item[1], sum(ch.isupper() for ch in item[0]), item[0]))[0]
        for folded, typed in spellings.items()
    }
    merged: Counter = Counter()
    for key, n in counts.items():
        if key[0] == "elsewhere" and key[2]:
            key = (key[0], key[1], shown[key[2].strip().casefold()])
        merged[key] += n
    return merged


def build_dashboard(session: Session, period: Period, *, today: date, timezone: str) -> Dashboard:
    """The programme's figures for the cases opened in `period`; `today` decides what is overdue."""
    groups = _group_counts(session, period, today, timezone)
    by_agent: dict[str | None, Counter] = {}
    by_origin: dict[str, Counter] = {}
    total: Counter = Counter()
    for (agent, origin), counts in groups.items():
        by_agent.setdefault(agent, Counter()).update(counts)
        by_origin.setdefault(origin, Counter()).update(counts)
        total.update(counts)
    return Dashboard(
        period=period,
        today=today,
        total=Figures(_same_insurer(total)),
        by_agent={agent: Figures(_same_insurer(c)) for agent, c in by_agent.items()},
        by_origin={origin: Figures(_same_insurer(c)) for origin, c in by_origin.items()},
    )


# --- One agent's App Home ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentToday:
    """What makes an agent's open cases urgent, and what he did since Monday."""

    callbacks_due: frozenset[int]  # his cases whose booked callback time has come
    m3_passed: frozenset[int]  # his cases past their M+3 date and not reached yet
    actions_due: dict[int, date]  # case -> earliest action of his due today or before, not done
    week: dict[str, int]  # figure code -> count since Monday 00:00 (agency time)


def agent_today(session: Session, agent: str, *, now: datetime, timezone: str) -> AgentToday:
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(), zone).astimezone(UTC)
    mine = sa.or_(M3Case.agent == agent, M3Case.seller == agent)
    open_mine = sa.and_(mine, M3Case.opened_at.is_not(None), M3Case.state != State.closed.value)
    callbacks = session.scalars(sa.select(M3Case.id).where(open_mine, M3Case.state.in_(_OPEN_CALLBACK),
                                                           M3Case.callback_at <= now))
    passed = session.scalars(sa.select(M3Case.id).where(open_mine, M3Case.state.in_(_NOT_REACHED),
                                                        M3Case.m3_date < today))
    actions = session.execute(
        sa.select(Action.case_id, sa.func.min(Action.due_on))
        .where(Action.owner == agent, Action.status == ActionStatus.todo.value, Action.due_on <= today)
        .group_by(Action.case_id)
    )
    his = M3Case.agent == agent
    week_queries = {
        "calls": sa.select(sa.func.count()).where(CallAttempt.by == agent, CallAttempt.at >= monday),
        "reached": sa.select(sa.func.count()).where(CallAttempt.by == agent, CallAttempt.at >= monday,
                                                    CallAttempt.outcome == AttemptOutcome.available.value),
        "admin_done": sa.select(sa.func.count()).where(his, M3Case.admin_contracts_done_at >= monday),
        "rebound_done": sa.select(sa.func.count()).where(his, M3Case.rebound_done_at >= monday),
        "actions_planned": sa.select(sa.func.count()).where(Action.created_by == agent, Action.created_at >= monday,
                                                            Action.status != ActionStatus.cancelled.value),
        "actions_done": sa.select(sa.func.count()).where(Action.owner == agent, Action.done_at >= monday),
        "closed": sa.select(sa.func.count()).where(his, M3Case.closed_at >= monday),
    }
    return AgentToday(
        callbacks_due=frozenset(callbacks),
        m3_passed=frozenset(passed),
        actions_due=dict(actions.all()),
        week={name: session.scalar(query) for name, query in week_queries.items()},
    )
