"""Read models of an agent's work: his open cases, most urgent first, the cases waiting to be opened, and
the cases the catch-up rule set aside as out of time (the leads' to open or close).

Each is one query with its joins and an index behind it, so that `/m3 mes-dossiers` and the App Home stay
fast whatever the size of the agency.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from flows.case import State
from flows.opening import due_status
from storage.queries import first_seen, is_first_run
from storage.slack_messages import CARD, SlackMessage
from storage.tables import Action, Client, M3Case


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
            urgent_on=min(d for d in (m3_date, _day(callback_at, zone), action_due) if d is not None),
            channel=channel,
            ts=ts,
        )
        for case_id, first, last, state, m3_date, callback_at, action_due, channel, ts in session.execute(query)
    ]
    return sorted(rows, key=lambda row: (row.urgent_on, row.case_id))[:limit]


def _day(moment: datetime | None, zone: ZoneInfo) -> date | None:
    return moment.astimezone(zone).date() if moment is not None else None


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
