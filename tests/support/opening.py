"""Opening cases in a test: one case as the morning opening does (marked opened unless it already is, its card
and first step queued by the bot's notifier in the same unit of work), or every due case of a day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.engine import Engine

from bot.notifier import SlackNotifier
from config.settings import Settings
from service.notifier import Notifier
from service.opening import OpenDue, Opened, open_due
from service.unit_of_work import Backend, UnitOfWork
from storage.queries import mark_opened


def open_and_post(engine: Engine, settings: Settings, case_id: int, *, mark: bool = True) -> None:
    with UnitOfWork(Backend(engine, SlackNotifier(settings), settings), actor="test") as uow:
        if mark:
            assert mark_opened(uow.session, [case_id], now=uow.now, actor="test")
        uow.opened(uow.load(case_id, lock=False), bulk=True)


def open_due_on(engine: Engine, day: date, *, now: datetime, catch_up_days: int = 30,
                notifier: Notifier | None = None) -> Opened:
    """`m3bot open-due` on `day`, as of `now`."""
    return open_due(OpenDue(day, catch_up_days), UnitOfWork(Backend(engine, notifier), actor="scheduler", now=now))
