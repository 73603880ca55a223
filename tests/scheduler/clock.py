"""Driving the scheduler through time: time-machine moves the clock, the test calls the tick itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.reminders import Reminder
from service.ticker import Ticker

PARIS = ZoneInfo("Europe/Paris")
STEP = timedelta(minutes=5)


def paris(day: int, hour: int, minute: int = 0, *, month: int = 5, year: int = 2028) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def run(ticker: Ticker, start: datetime, end: datetime, *, events: Mapping[datetime, Callable[[], None]] = {},
        step: timedelta = STEP) -> None:
    """Tick every `step` from `start` to `end` included; `events[t]` runs just before the tick at `t`."""
    with time_machine.travel(start, tick=False) as traveller:
        at = start
        while at <= end:
            traveller.move_to(at)
            if at in events:
                events[at]()
            ticker.tick()
            at += step


def rows(engine: Engine, status: str | None = None) -> list[Reminder]:
    with Session(engine) as session:
        query = select(Reminder).order_by(Reminder.due_at, Reminder.id)
        if status is not None:
            query = query.where(Reminder.status == status)
        return list(session.exec(query))
