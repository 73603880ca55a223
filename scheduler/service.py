"""APScheduler set-up: it only ticks. An interval job runs `Ticker.tick` every few seconds and a cron job at
the agency's opening time on weekdays, so the morning's openings and digest do not wait for the interval.

Jobs live in APScheduler's memory store: the due times are in the `reminder` table, which several
processes share safely (APScheduler's own stores cannot be shared, see its FAQ). A tick missed while the
process was busy is coalesced into one, and a tick that overlaps the previous one is skipped.

On PostgreSQL any number of processes may tick (rows are claimed with SKIP LOCKED); on SQLite, which has
no row locks, run one process only: the bot with its scheduler, or the bot without it plus `m3bot scheduler`.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, time
from functools import partial

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from config.agency import effective
from config.settings import Settings
from service.agency_settings import chosen_settings
from service.notifier import Notifier
from service.rgpd import Purge, purge
from service.ticker import SCHEDULER_ACTOR, AgencyTicks
from service.unit_of_work import Backend, UnitOfWork
from service.workspaces import active_workspaces, erase_stopped
from storage.tables import utcnow

log = logging.getLogger(__name__)

def _tick_safely(ticker: AgencyTicks) -> None:
    try:
        ticker.tick()
    except Exception as error:  # the database is away: the next tick tries again
        log.error("scheduler tick failed: %s", type(error).__name__)


def purge_job(engine: Engine, settings: Settings, notifier: Notifier) -> None:
    """The RGPD retention purge: a retention period defined but not applied is what the CNIL fines. Each
    client is erased in its own transaction after a check under lock, so two processes purging at once
    erase each client once. Then the agencies that uninstalled the app longer ago than their data is kept."""
    for workspace in active_workspaces(engine):
        agency = effective(settings, chosen_settings(engine, workspace))
        backend = Backend(engine, notifier.with_settings(agency), agency)
        try:
            purge(Purge(agency.retention_years), partial(UnitOfWork, backend, actor=SCHEDULER_ACTOR, workspace=workspace))
        except Exception as error:
            log.error("retention purge of workspace %s failed: %s", workspace, type(error).__name__)
    try:
        erased = erase_stopped(engine, keep_days=settings.stopped_workspace_keep_days, now=utcnow(),
                               actor=SCHEDULER_ACTOR)
        if erased:
            log.warning("workspaces erased after their keeping period: %s", erased)
    except Exception as error:
        log.error("erasing the workspaces past their keeping period failed: %s", type(error).__name__)


def configure(scheduler: BaseScheduler, settings: Settings, engine: Engine, notifier: Notifier) -> None:
    ticker = AgencyTicks(engine, notifier, settings)
    seconds = settings.scheduler_tick_seconds
    opens = time.fromisoformat(settings.agency_opens)
    defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None, "replace_existing": True}
    # First run at once: a reminder that fell due while the process was down fires now, not one interval later.
    scheduler.add_job(_tick_safely, IntervalTrigger(seconds=seconds), args=[ticker], id="tick",
                      next_run_time=datetime.now(UTC), **defaults)
    scheduler.add_job(
        _tick_safely,
        CronTrigger(day_of_week="mon-fri", hour=opens.hour, minute=opens.minute, timezone=settings.agency_timezone),
        args=[ticker],
        id="morning",
        **defaults,
    )
    # Daily, and once at start so that a process stopped over the purge time does not skip a day.
    scheduler.add_job(purge_job, CronTrigger(hour=opens.hour, minute=opens.minute, timezone=settings.agency_timezone),
                      args=[engine, settings, notifier], id="retention_purge", next_run_time=datetime.now(UTC),
                      **defaults)


def start_scheduler(settings: Settings, engine: Engine, notifier: Notifier) -> BackgroundScheduler:
    """Start ticking in background threads of the bot's process (`m3bot run`); the caller shuts it down."""
    scheduler = BackgroundScheduler(timezone=settings.agency_timezone)
    configure(scheduler, settings, engine, notifier)
    scheduler.start()
    return scheduler


def run_forever(settings: Settings, engine: Engine, notifier: Notifier) -> None:
    """Tick in the foreground until SIGINT or SIGTERM (`m3bot scheduler`)."""
    scheduler = BlockingScheduler(timezone=settings.agency_timezone)
    configure(scheduler, settings, engine, notifier)

    def stop(_signum: int, _frame: object) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    scheduler.start()
