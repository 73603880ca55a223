"""One scheduler tick: make sure every reminder exists, then fire each due one exactly once.

APScheduler only calls `Ticker.tick`; everything it needs to know is in the database. Each reminder fires
in its own transaction, which claims the row (SKIP LOCKED), locks its case, applies the engine when the
reminder changes the case, lets the notifier queue the Slack messages in the outbox, and marks the row
fired. A process killed half-way leaves nothing behind but a rolled-back transaction: the row is due again.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from config.agency import effective
from config.settings import Settings
from flows.case import ActionStatus, State
from flows.commands import CallbackDue
from flows.engine import handle, reminder_barred, unanswered_attempts
from service.agency_settings import chosen_settings
from service.digest import build_digest
from service.notifier import Notifier
from service.opening import OpenDue, open_due_cases
from service.reminders import (
    ACTION,
    ACTION_OVERDUE,
    CALLBACK,
    CALLBACK_RETURN,
    CANCELLED,
    FAILED,
    FIRED,
    MORNING,
    PENDING,
    Reminder,
    ReminderConfig,
    cases_missing_reminders,
    claim_due,
    ensure_mornings,
    mark,
    superseded,
)
from service.unit_of_work import Backend, UnitOfWork
from service.workspaces import active_workspaces, is_stopped
from storage.tables import M3Case, utcnow
from storage.workspaces import resolve, session_for

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "scheduler"
BUSY = "busy"  # the case is locked by an agent's click: the reminder waits for the next tick
MAX_PER_TICK = 1000


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class TickReport:
    """How many reminders a tick fired, cancelled (stale), failed, left for later (case busy), and how
    many cases the sweep found missing reminders; the fields are named after the outcomes."""

    fired: int = 0
    cancelled: int = 0
    failed: int = 0
    busy: int = 0
    swept: int = 0


def lock_case(session: Session, case_id: int) -> bool:
    """Lock the case unless someone holds it. Never waiting here while holding the reminder's lock is what
    keeps the scheduler out of a deadlock with an agent's unit of work (case first, then its reminders)."""
    query = select(M3Case.id).where(M3Case.id == case_id).with_for_update(skip_locked=True)
    return session.exec(query).first() is not None


class Ticker:
    """The reminders of one agency, whose settings (hours, channel) it follows: `workspace`, or the only one."""

    def __init__(self, engine: Engine, notifier: Notifier, settings: Settings, *, worker: str | None = None,
                 workspace: int | None = None) -> None:
        self.engine = engine
        self._workspace = workspace
        self.base_settings = settings  # the environment's; the agency's admin may have chosen others
        self.worker = worker or worker_name()
        self._follow(notifier, settings)

    def _follow(self, notifier: Notifier, settings: Settings) -> None:
        self.notifier = notifier
        self.settings = settings
        self.config = ReminderConfig.from_settings(settings)
        self.rules = settings.rules()
        self.backend = Backend(self.engine, notifier, settings)

    def _follow_the_agency(self) -> None:
        """The settings the agency's admin chose, over the environment's, as they are at this tick."""
        settings = effective(self.base_settings, chosen_settings(self.engine, self.workspace))
        if settings != self.settings:
            self._follow(self.notifier.with_settings(settings), settings)

    @property
    def workspace(self) -> int:
        if self._workspace is None:  # learnt on the first tick: a first run may not have created it yet
            self._workspace = resolve(self.engine, None)
        return self._workspace

    def _uow(self, now: datetime) -> UnitOfWork:
        return UnitOfWork(self.backend, actor=SCHEDULER_ACTOR, now=now, workspace=self.workspace)

    def _session(self) -> Session:
        return session_for(self.engine, self.workspace)

    def tick(self, now: datetime | None = None) -> TickReport:
        """Create missing reminders, then fire every due one (up to `MAX_PER_TICK`)."""
        now = now or utcnow()
        report = TickReport()
        if is_stopped(self.engine, self.workspace):  # uninstalled: nothing fires until it is installed again
            return report
        self._follow_the_agency()
        with self._session() as session, session.begin():
            ensure_mornings(session, now, self.config)
        report.swept = self._sweep(now)
        open_now = self.config.hours.is_open(now)
        skip: set[int] = set()
        for _ in range(MAX_PER_TICK):
            fired = self._fire_next(now, open_now, skip)
            if fired is None:
                break
            reminder_id, outcome = fired
            skip.add(reminder_id)
            setattr(report, outcome, getattr(report, outcome) + 1)
        if report.fired or report.failed or report.swept:
            log.info("tick: %s", report)
        return report

    # --- sweep ----------------------------------------------------------------------------------------

    def _sweep(self, now: datetime) -> int:
        with self._session() as session:
            missing = cases_missing_reminders(session)
        for case_id in missing:
            with self._uow(now) as uow:
                if lock_case(uow.session, case_id):
                    uow.keep_reminders(uow.load(case_id))
        return len(missing)

    # --- firing ---------------------------------------------------------------------------------------

    def _fire_next(self, now: datetime, open_now: bool, skip: set[int]) -> tuple[int, str] | None:
        claimed: tuple[int, str] | None = None
        try:
            with self._uow(now) as uow:
                reminder = claim_due(uow.session, now, open_now=open_now, skip=skip)
                if reminder is None:
                    return None
                assert reminder.id is not None, "a reminder claimed from the database"
                claimed = (reminder.id, reminder.kind)
                outcome = self._fire(uow, reminder, now)
            return reminder.id, outcome
        except Exception as error:
            if claimed is None:
                raise
            self._failed(*claimed, error, now)
            return claimed[0], FAILED

    def _fire(self, uow: UnitOfWork, reminder: Reminder, now: datetime) -> str:
        session = uow.session
        reminder_id = reminder.id
        assert reminder_id is not None, "a reminder claimed from the database"
        if reminder.kind == MORNING:
            if superseded(session, reminder, now):
                mark(reminder, CANCELLED, now, self.worker)
                return CANCELLED
            if not self.settings.m3_channel:  # no case opens before the agency chose its channel: kept for then
                log.warning("morning openings wait: workspace %s has no M+3 channel yet", self.workspace)
                return BUSY
            self._morning(uow, reminder_id)
            mark(reminder, FIRED, now, self.worker)
            return FIRED
        case_id = reminder.case_id
        assert case_id is not None, "every reminder but the morning's belongs to a case"
        if not lock_case(session, case_id):
            return BUSY
        case = uow.load(case_id)
        if reminder.kind in (CALLBACK, CALLBACK_RETURN):
            booked = case.state is State.scheduled_callback and case.callback_at == reminder.ref_at
            if not booked:  # moved or cancelled since; the case's own sync normally got there first
                mark(reminder, CANCELLED, now, self.worker)
                return CANCELLED
            if reminder.kind == CALLBACK:
                assert reminder.ref_at is not None, "a callback reminder has its booked time"
                unanswered = unanswered_attempts(case)
                self.notifier.callback_due(session, case, reminder_id=reminder_id, callback_at=reminder.ref_at,
                                           unanswered=unanswered,
                                           offer_unreachable=unanswered >= self.config.unreachable_after, now=now)
            else:
                # Saved, shown and its reminders synced by the unit of work, with the reminder fired.
                uow.changed(case, handle(case, CallbackDue(), actor=SCHEDULER_ACTOR, now=now, rules=self.rules))
        elif reminder.kind in (ACTION, ACTION_OVERDUE):
            action = next((a for a in case.actions if a.id == reminder.action_id), None)
            if (action is None or action.status is not ActionStatus.todo
                    or reminder_barred(case, action, self.config.hours.local_day(now))):
                mark(reminder, CANCELLED, now, self.worker)
                return CANCELLED
            self.notifier.action_due(session, case, action, reminder_id=reminder_id,
                                     overdue=reminder.kind == ACTION_OVERDUE, now=now)
        else:
            raise ValueError(f"unknown reminder kind {reminder.kind}")
        mark(reminder, FIRED, now, self.worker)
        # Like any event's: an action still to do gets its next reminder in this same transaction.
        uow.keep_reminders(case)
        return FIRED

    def _morning(self, uow: UnitOfWork, reminder_id: int) -> None:
        """Open the cases whose M+3 date has come (every day missed included), tell each agent of his, then
        send the digest."""
        session, now = uow.session, uow.now
        today = self.config.hours.local_day(now)
        opened = open_due_cases(uow, OpenDue(today, self.config.catch_up_days))
        uow.flush()  # the cards first: the morning lists link to their threads
        if opened.cases:
            self.notifier.cases_opened(session, opened.cases, reminder_id=reminder_id, now=now)
        digest = build_digest(session, day=today, now=now, opened=opened.due)
        self.notifier.digest(session, digest, reminder_id=reminder_id, now=now)

    def _failed(self, reminder_id: int, kind: str, error: Exception, now: datetime) -> None:
        """Count the failure and retry later with back-off; set the reminder aside after too many."""
        # The class name only: an exception's message may quote a client's data.
        log.error("reminder %s (%s) failed: %s", reminder_id, kind, type(error).__name__)
        with self._session() as session, session.begin():
            row = session.get(Reminder, reminder_id, with_for_update=True)
            if row is None or row.status != PENDING:
                return
            row.attempts += 1
            row.last_error = type(error).__name__
            if row.attempts >= self.config.max_attempts:
                row.status = FAILED
            else:
                row.due_at = now + timedelta(minutes=2**row.attempts)


class AgencyTicks:
    """The reminders of every agency the service works for: one `Ticker` each, made when the agency is first
    met, each following its agency's settings. A stopped agency is skipped; one whose tick fails does not
    keep the others from theirs."""

    def __init__(self, engine: Engine, notifier: Notifier, settings: Settings, *, worker: str | None = None) -> None:
        self.engine, self.notifier, self.settings = engine, notifier, settings
        self.worker = worker or worker_name()
        self._tickers: dict[int, Ticker] = {}

    def tick(self, now: datetime | None = None) -> TickReport:
        """Tick each active agency; the reports added up."""
        total = TickReport()
        for workspace in active_workspaces(self.engine):
            ticker = self._tickers.get(workspace)
            if ticker is None:
                ticker = self._tickers[workspace] = Ticker(self.engine, self.notifier, self.settings,
                                                           worker=self.worker, workspace=workspace)
            try:
                report = ticker.tick(now)
            except Exception as error:  # the database is away, or this agency's data: the others still tick
                log.error("tick of workspace %s failed: %s", workspace, type(error).__name__)
                continue
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(report, name))
        return total
