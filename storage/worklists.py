"""Read models of an agent's work: his open cases, most urgent first, and the cases waiting to be opened.

Each is one query with its joins and an index behind it, so that `/m3 mes-dossiers` and the App Home stay
fast whatever the size of the agency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from flows.case import State
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


def waiting_cases(session: Session, *, visible_to: str | None, limit: int = 100) -> list[WaitingCase]:
    """Cases not opened yet (nor set aside as out of time), nearest M+3 date first: what `/m3 ouvrir` offers.

    `visible_to` is `flows.engine.listing_scope`'s answer: None for every case (a lead), else an agent's
    e-mail, and then only the cases assigned to or sold by him."""
    query = (
        sa.select(M3Case.id, Client.first_name, Client.last_name, M3Case.m3_date)
        .join(Client, Client.id == M3Case.client_id)
        .where(M3Case.opened_at.is_(None), M3Case.out_of_time_at.is_(None), M3Case.state != State.closed.value)
        .order_by(M3Case.m3_date, M3Case.id)
        .limit(limit)
    )
    if visible_to is not None:
        query = query.where(sa.or_(M3Case.agent == visible_to, M3Case.seller == visible_to))
    return [WaitingCase(case_id, f"{first} {last}".strip(), m3) for case_id, first, last, m3 in session.execute(query)]
