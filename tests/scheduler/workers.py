"""Entry points of the scheduler processes the concurrency tests spawn (importable by a spawned child)."""

from __future__ import annotations

from datetime import datetime
from multiprocessing.synchronize import Barrier, Event
from typing import Any

from sqlmodel import Session

from flows.case import Action, Case
from service.ticker import AgencyTicks, Ticker
from storage.db import make_engine
from tests.scheduler.conftest import make_settings
from tests.scheduler.recording import RecordingNotifier


class _StuckNotifier(RecordingNotifier):
    """Records like its parent, then from the reminder after the `after`-th one hangs inside the open
    transaction, its rows written but not committed, and tells the test it may kill the process."""

    def __init__(self, after: int, stuck: Event, never: Event) -> None:
        super().__init__()
        self.after, self.stuck, self.never = after, stuck, never

    def action_due(self, session: Session, case: Case, action: Action, **kwargs: Any) -> None:
        super().action_due(session, case, action, **kwargs)
        if len(self.calls) > self.after:
            session.flush()
            self.stuck.set()
            self.never.wait()  # the test never sets it: SIGKILL ends the process here


def tick_until_done(url: str, now: datetime, worker: str, start: Barrier, every_agency: bool = False) -> None:
    """One scheduler process: tick at `now` until nothing is left to fire (`every_agency`: as a service of
    several agencies does, each with its ticker)."""
    engine = make_engine(url)
    ticker = (AgencyTicks if every_agency else Ticker)(engine, RecordingNotifier(), make_settings(), worker=worker)
    start.wait()
    while ticker.tick(now).fired:
        pass
    engine.dispose()


def tick_then_hang(url: str, now: datetime, after: int, stuck: Event, never: Event) -> None:
    engine = make_engine(url)
    Ticker(engine, _StuckNotifier(after, stuck, never), make_settings(), worker="doomed").tick(now)

