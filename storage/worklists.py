"""Read models of an agent's work: his open cases, most urgent first, the cases waiting to be opened, the
cases the catch-up rule set aside as out of time (the leads' to open or close), and what the Homes put
first: a lead's late callbacks and actions and busiest agents, an agent's "Aujourd'hui".

Each is one query with its joins and an index behind it, so that `/m3 mes-dossiers` and the App Home stay
fast whatever the size of the agency.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from flows.calling_hours import is_legal_call_time
from flows.case import ActionStatus, AttemptOutcome, State
from flows.dates import local_day
from flows.engine import contact_limit
from flows.opening import due_status
from flows.rules import Rules
from storage.queries import first_seen, is_first_run
from storage.slack_messages import CARD, SlackMessage
from storage.tables import Action, CallAttempt, Client, M3Case


@dataclass(frozen=True)
class QueueRow:
    case_id: int
    client: str
    state: State
    urgent_on: date  # the earliest of: the booked callback's day, the next action due, the M+3 date
    channel: str | None
    ts: str | None


def agent_queue(session: Session, agent: str, *, timezone: str, limit: int = 100) -> list[QueueRow]:
    """The agent's opened, not closed cases (assigned to him or sold by him), most urgent first."""
    next_action = (
        sa.select(Action.case_id, sa.func.min(Action.due_on).label("due_on"))
        .where(Action.status == "todo")
        .group_by(Action.case_id)
        .subquery()
    )
    query = (
        sa.select(M3Case.id, Client.first_name, Client.last_name, M3Case.state, M3Case.m3_date, M3Case.callback_at,
                  next_action.c.due_on, SlackMessage.channel, SlackMessage.ts)
        .join(Client, Client.id == M3Case.client_id)
        .outerjoin(next_action, next_action.c.case_id == M3Case.id)
        .outerjoin(SlackMessage, sa.and_(SlackMessage.case_id == M3Case.id, SlackMessage.role == CARD))
        .where(sa.or_(M3Case.agent == agent, M3Case.seller == agent), M3Case.opened_at.is_not(None),
               M3Case.state != State.closed.value)
    )
    zone = ZoneInfo(timezone)
    rows = [
        QueueRow(
            case_id=case_id,
            client=f"{first} {last}".strip(),
            state=State(state),
            urgent_on=min(d for d in (m3_date, local_day(callback_at, zone), action_due) if d is not None),
            channel=channel,
            ts=ts,
        )
        for case_id, first, last, state, m3_date, callback_at, action_due, channel, ts in session.execute(query)
    ]
    return sorted(rows, key=lambda row: (row.urgent_on, row.case_id))[:limit]


@dataclass(frozen=True)
class WaitingCase:
    case_id: int
    client: str
    m3_date: date
    out_of_time_on: date | None = None  # the day it was set aside as out of time
    out_of_time: bool = False  # set aside, or that the catch-up rule would set aside


def _waiting(
    session: Session, *conditions: object, limit: int | None = None
) -> list[tuple[WaitingCase, datetime, bool]]:
    """(case, created_at, set aside) of the unopened, unclosed cases matching `conditions`, nearest M+3 first."""
    query = (
        sa.select(M3Case.id, Client.first_name, Client.last_name, M3Case.m3_date, M3Case.created_at,
                  M3Case.out_of_time_at)
        .join(Client, Client.id == M3Case.client_id)
        .where(M3Case.opened_at.is_(None), M3Case.state != State.closed.value, *conditions)
        .order_by(M3Case.m3_date, M3Case.id)
        .limit(limit)
    )
    return [
        (WaitingCase(case_id, f"{first} {last}".strip(), m3, set_aside.date() if set_aside else None), created,
         set_aside is not None)
        for case_id, first, last, m3, created, set_aside in session.execute(query)
    ]


def waiting_cases(
    session: Session, *, today: date, catch_up_days: int, leads: bool, visible_to: str | None, limit: int = 100
) -> list[WaitingCase]:
    """What `/m3 ouvrir` offers: the cases due and not opened yet, and to a lead the out-of-time ones too
    (set aside, or that the catch-up rule would set aside); never a case whose M+3 date is to come.

    `visible_to` is `flows.engine.listing_scope`'s answer: None for every case (a lead), else an agent's
    e-mail, and then only the cases assigned to or sold by him."""
    first_run = is_first_run(session)
    conditions = [M3Case.m3_date <= today]
    if visible_to is not None:
        conditions.append(sa.or_(M3Case.agent == visible_to, M3Case.seller == visible_to))
    offered = []
    for case, created_at, set_aside in _waiting(session, *conditions):
        status = "out_of_time" if set_aside else due_status(case.m3_date, today, catch_up_days,
                                                            first_seen(created_at, today, first_run))
        if status == "due" or (leads and status == "out_of_time"):
            offered.append(dataclasses.replace(case, out_of_time=status == "out_of_time"))
    return offered[:limit]


def out_of_time_cases(session: Session, *, limit: int = 100) -> tuple[list[WaitingCase], int]:
    """The cases set aside as out of time and still neither opened nor closed, oldest M+3 date first (at
    most `limit`), and how many there are in all."""
    set_aside = M3Case.out_of_time_at.is_not(None)
    total = session.execute(
        sa.select(sa.func.count()).select_from(M3Case)
        .where(M3Case.opened_at.is_(None), M3Case.state != State.closed.value, set_aside)
    ).scalar_one()
    cases = [dataclasses.replace(case, out_of_time=True) for case, _c, _f in _waiting(session, set_aside, limit=limit)]
    return cases, total


# --- What needs attention today (the App Homes' first part) ---------------------------------------------------


@dataclass(frozen=True)
class TodayRow:
    """One line of a Home's "today" lists: a case, the moment or day that puts it there, its card."""

    case_id: int
    client: str
    agent: str | None
    channel: str | None
    ts: str | None
    at: datetime | None = None  # a booked callback's time
    due_on: date | None = None  # an action's due day
    kind: str | None = None  # an action's kind
    postcode: str | None = None  # the client's, for his time zone and calling hours


def _card_rows(query: sa.Select) -> sa.Select:
    """`query` over M3Case, with the client's name and postcode and the card's place."""
    return (query.add_columns(Client.first_name, Client.last_name, Client.postcode, SlackMessage.channel,
                              SlackMessage.ts)
            .join(Client, Client.id == M3Case.client_id)
            .outerjoin(SlackMessage, sa.and_(SlackMessage.case_id == M3Case.id, SlackMessage.role == CARD)))


def _open_cases() -> sa.ColumnElement:
    return sa.and_(M3Case.opened_at.is_not(None), M3Case.state != State.closed.value)


def _row(case_id: int, agent: str | None, first: str | None, last: str | None, postcode: str | None,
         channel: str | None, ts: str | None, **extra: object) -> TodayRow:
    return TodayRow(case_id=case_id, client=f"{first or ''} {last or ''}".strip(), agent=agent, channel=channel,
                    ts=ts, postcode=postcode, **extra)


def _callbacks(session: Session, *conditions: object, limit: int | None) -> list[TodayRow]:
    query = _card_rows(sa.select(M3Case.id, M3Case.agent, M3Case.callback_at)).where(
        _open_cases(), M3Case.state.in_(_CALLBACK_STATES), M3Case.callback_at.is_not(None), *conditions)
    rows = session.execute(query.order_by(M3Case.callback_at, M3Case.id).limit(limit))
    return [_row(case_id, agent, first, last, postcode, channel, ts, at=at)
            for case_id, agent, at, first, last, postcode, channel, ts in rows]


def _actions(session: Session, *conditions: object, limit: int | None) -> list[TodayRow]:
    query = _card_rows(sa.select(M3Case.id, Action.owner, Action.due_on, Action.kind)).join(
        Action, Action.case_id == M3Case.id).where(_open_cases(), Action.status == ActionStatus.todo.value,
                                                   *conditions)
    rows = session.execute(query.order_by(Action.due_on, M3Case.id, Action.id).limit(limit))
    return [_row(case_id, owner, first, last, postcode, channel, ts, due_on=due_on, kind=kind)
            for case_id, owner, due_on, kind, first, last, postcode, channel, ts in rows]


def _count(session: Session, query: sa.Select) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()


_CALLBACK_STATES = (State.scheduled_callback.value, State.contact_attempt.value)


@dataclass(frozen=True)
class LeadAttention:
    """What a lead decides on today: callbacks and actions overdue (the oldest first, with their totals) and
    the agents with the most open cases (agent -> open cases)."""

    callbacks: list[TodayRow]
    callbacks_total: int
    actions: list[TodayRow]
    actions_total: int
    backlog: list[tuple[str | None, int]]


def lead_attention(session: Session, *, now: datetime, timezone: str, limit: int = 5) -> LeadAttention:
    today = now.astimezone(ZoneInfo(timezone)).date()
    late_callback = M3Case.callback_at < now
    late_action = Action.due_on < today
    callbacks_total = _count(session, sa.select(M3Case.id).where(
        _open_cases(), M3Case.state.in_(_CALLBACK_STATES), late_callback))
    actions_total = _count(session, sa.select(Action.id).join(M3Case, M3Case.id == Action.case_id).where(
        _open_cases(), Action.status == ActionStatus.todo.value, late_action))
    backlog = session.execute(
        sa.select(M3Case.agent, sa.func.count()).where(_open_cases()).group_by(M3Case.agent)
        .order_by(sa.func.count().desc(), M3Case.agent).limit(limit))
    return LeadAttention(
        callbacks=_callbacks(session, late_callback, limit=limit), callbacks_total=callbacks_total,
        actions=_actions(session, late_action, limit=limit), actions_total=actions_total,
        backlog=[(agent, n) for agent, n in backlog],
    )


@dataclass(frozen=True)
class AgentAgenda:
    """An agent's "Aujourd'hui": callbacks booked today (by time), cases he may call now within the law,
    and his actions due today or overdue."""

    callbacks: list[TodayRow]
    callable_now: list[TodayRow]
    actions: list[TodayRow]


# A case waiting for the client to be reached, which a call may start now.
_TO_CALL = (State.preparation.value, State.contact_attempt.value, State.scheduled_callback.value)


def agent_agenda(session: Session, agent: str, *, now: datetime, timezone: str, rules: Rules,
                 limit: int = 10) -> AgentAgenda:
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(), zone)
    mine = sa.or_(M3Case.agent == agent, M3Case.seller == agent)
    callbacks = _callbacks(session, mine, M3Case.callback_at >= start,
                           M3Case.callback_at < start + timedelta(days=1), limit=limit)
    # A booked callback is called at its time, not before: listed above, not as "to call now".
    not_booked_later = sa.or_(M3Case.callback_at.is_(None), M3Case.callback_at <= now)
    candidates = session.execute(
        _card_rows(sa.select(M3Case.id, M3Case.agent, M3Case.client_id))
        .where(_open_cases(), mine, M3Case.state.in_(_TO_CALL), not_booked_later)
        .order_by(M3Case.m3_date, M3Case.id)).all()
    lookback = now - timedelta(days=max(rules.attempts_window_days, rules.refusal_quiet_days))
    attempts: dict[int, list[tuple[datetime, AttemptOutcome]]] = {}
    client_ids = {row[2] for row in candidates}
    if client_ids:
        for client_id, at, outcome in session.execute(
                sa.select(CallAttempt.client_id, CallAttempt.at, CallAttempt.outcome)
                .where(CallAttempt.client_id.in_(client_ids), CallAttempt.at >= lookback)):
            attempts.setdefault(client_id, []).append((at, AttemptOutcome(outcome)))
    callable_now = [
        _row(case_id, case_agent, first, last, postcode, channel, ts)
        for case_id, case_agent, client_id, first, last, postcode, channel, ts in candidates
        if is_legal_call_time(now, postcode) and contact_limit(attempts.get(client_id, []), now, rules) is None
    ][:limit]
    actions = _actions(session, Action.owner == agent, Action.due_on <= today, limit=limit)
    return AgentAgenda(callbacks=callbacks, callable_now=callable_now, actions=actions)
