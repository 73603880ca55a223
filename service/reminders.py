"""Reminders as database rows, the source of truth the scheduler reads: table, settings, and the
functions that keep a case's reminders in line with the case.

A reminder is due at `due_at` (UTC) and fires once: its `dedupe_key` is unique, so it is never created
twice, and firing sets `status` to `fired` in the same transaction that writes its Slack messages to the
outbox. Kinds:

- `callback`: a few minutes before a booked callback, the agent is reminded in the case's thread;
- `callback_return`: at the booked time, the case goes back to `contact_attempt` (engine, `CallbackDue`);
- `action`, `action_overdue`: an action of the plan on its due date, then each next business day while
  it is still to do;
- `morning`: each business morning, opening the cases whose M+3 date has come and the leads' digest.

Only the two callback kinds fire outside the agency's open slots (the agent booked that time); the others
are created at an open slot and, when one falls due while the agency is closed (the bot was down), wait
for the next one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from config.settings import Settings
from flows.case import Action, ActionStatus, Case, State
from flows.engine import reminder_barred
from service.agency_hours import AgencyHours
from storage.db import insert_for
from storage.repository import loaded_reminders, save_case
from storage.tables import Action as ActionRow
from storage.tables import M3Case, Reminder
from storage.workspaces import writing_for

CALLBACK, CALLBACK_RETURN, ACTION, ACTION_OVERDUE, MORNING = (
    "callback", "callback_return", "action", "action_overdue", "morning"
)
CALLBACK_KINDS = (CALLBACK, CALLBACK_RETURN)
ACTION_KINDS = (ACTION, ACTION_OVERDUE)
PENDING, FIRED, CANCELLED, FAILED = "pending", "fired", "cancelled", "failed"


@dataclass(frozen=True)
class ReminderConfig:
    """What the reminders read from the settings."""

    hours: AgencyHours
    callback_notice: timedelta
    unreachable_after: int
    catch_up_days: int
    max_attempts: int = 5  # a reminder that fails this many times is set aside as `failed`

    @classmethod
    def from_settings(cls, settings: Settings) -> ReminderConfig:
        return cls(
            hours=AgencyHours.parse(settings.agency_timezone, settings.agency_opens, settings.agency_closes),
            callback_notice=timedelta(minutes=settings.callback_notice_minutes),
            unreachable_after=settings.unreachable_after,
            catch_up_days=settings.catch_up_days,
        )


# --- Wanted reminders ------------------------------------------------------------------------------------


def _callback_reminders(case: Case, config: ReminderConfig) -> list[Reminder]:
    if case.state is not State.scheduled_callback or case.callback_at is None:
        return []
    at = case.callback_at
    stamp = at.astimezone(config.hours.timezone).isoformat()
    return [
        Reminder(kind=CALLBACK, dedupe_key=f"{CALLBACK}:{case.id}:{stamp}", due_at=at - config.callback_notice,
                 case_id=case.id, ref_at=at),
        Reminder(kind=CALLBACK_RETURN, dedupe_key=f"{CALLBACK_RETURN}:{case.id}:{stamp}", due_at=at,
                 case_id=case.id, ref_at=at),
    ]


def action_reminder(case_id: int, action: Action, last_fired: date | None, config: ReminderConfig) -> Reminder:
    """The next reminder of an action still to do: on its due date, or the business day after the last one."""
    hours = config.hours
    day, kind = (action.due_on, ACTION) if last_fired is None else (last_fired + timedelta(days=1), ACTION_OVERDUE)
    due_at = hours.next_open(hours.morning(day))
    return Reminder(kind=kind, dedupe_key=f"action:{action.id}:{hours.local_day(due_at).isoformat()}",
                    due_at=due_at, case_id=case_id, action_id=action.id)


def morning_reminder(day: date, config: ReminderConfig) -> Reminder:
    return Reminder(kind=MORNING, dedupe_key=f"{MORNING}:{day.isoformat()}", due_at=config.hours.morning(day))


def insert_once(session: Session, reminder: Reminder) -> bool:
    """Insert unless its key exists, in one statement; a concurrent twin (another process, the sweep) waits
    for the first to commit, then inserts nothing."""
    values = {column.name: getattr(reminder, column.name) for column in Reminder.__table__.columns  # type: ignore[attr-defined]
              if column.name != "id"}
    values["workspace_id"] = values["workspace_id"] or writing_for(session)
    table = Reminder.__table__  # type: ignore[attr-defined]
    statement = insert_for(session)(table).values(**values).on_conflict_do_nothing().returning(table.c.id)
    return session.execute(statement).first() is not None


def sync_reminders(session: Session, case: Case, now: datetime, settings: Settings) -> None:
    """Make the case's pending reminders match the case, in the caller's transaction (idempotent).

    Call it in the unit of work after each event: a booked callback gets its two reminders, a callback
    moved or no longer booked loses them, an action to do has one pending reminder, an action done or
    withdrawn has none. New actions without a database id are saved first (saving is idempotent).
    """
    config = ReminderConfig.from_settings(settings)
    today = config.hours.local_day(now)
    # A commercial action whose client withdrew his consent or opposes commercial calls reminds no one.
    todo = [a for a in case.actions if a.status is ActionStatus.todo and not reminder_barred(case, a, today)]
    if any(a.id is None for a in todo):
        save_case(session, case, now=now)
    assert case.id is not None, "a stored case"
    rows = loaded_reminders(session, case.id)
    if rows is None:
        rows = list(session.exec(select(Reminder).where(Reminder.case_id == case.id)))
    wanted = _callback_reminders(case, config)
    wanted_keys = {r.dedupe_key for r in wanted}
    todo_ids = {a.id for a in todo}
    for row in rows:
        stale = (row.kind in CALLBACK_KINDS and row.dedupe_key not in wanted_keys) or (
            row.kind in ACTION_KINDS and row.action_id not in todo_ids
        )
        if row.status == PENDING and stale:
            row.status = CANCELLED
    pending_actions = {r.action_id for r in rows if r.kind in ACTION_KINDS and r.status == PENDING}
    for action in todo:
        if action.id not in pending_actions:
            fired = [config.hours.local_day(r.fired_at) for r in rows if r.action_id == action.id and r.fired_at]
            wanted.append(action_reminder(case.id, action, max(fired, default=None), config))
    by_key = {r.dedupe_key: r for r in rows}
    for reminder in wanted:
        existing = by_key.get(reminder.dedupe_key)
        if existing is None:
            insert_once(session, reminder)
        elif existing.status == CANCELLED:
            # Booked again at the same time after being moved away: the same reminder is wanted again.
            existing.status, existing.due_at = PENDING, reminder.due_at
    session.flush()


# --- What the tick asks ---------------------------------------------------------------------------------


def cases_missing_reminders(session: Session) -> list[int]:
    """Cases with a booked callback or an action to do and no reminder for it: the safety sweep's work."""
    callback_known = (
        sa.select(col(Reminder.id))
        .where(col(Reminder.case_id) == M3Case.id, col(Reminder.kind) == CALLBACK_RETURN,
               col(Reminder.ref_at) == M3Case.callback_at, col(Reminder.status).in_((PENDING, FIRED)))
        .exists()
    )
    callbacks = sa.select(col(M3Case.id)).where(
        col(M3Case.state) == State.scheduled_callback.value, col(M3Case.callback_at).is_not(None), ~callback_known
    )
    # A cancelled reminder of an action still to do is one its client's consent barred: not missing.
    action_known = (
        sa.select(col(Reminder.id))
        .where(col(Reminder.action_id) == ActionRow.id, col(Reminder.status).in_((PENDING, CANCELLED)))
        .exists()
    )
    actions = sa.select(col(ActionRow.case_id)).where(col(ActionRow.status) == ActionStatus.todo.value, ~action_known)
    found = session.execute(sa.union(callbacks, actions)).scalars()
    return sorted(set(found))


def ensure_mornings(session: Session, now: datetime, config: ReminderConfig) -> None:
    """Today's morning (when today is a business day) and the next business day's exist."""
    hours = config.hours
    today = hours.local_day(now)
    days = [today] if hours.is_business_day(today) else []
    days.append(hours.next_business_day(today))
    for day in days:
        insert_once(session, morning_reminder(day, config))


def claim_due(session: Session, now: datetime, *, open_now: bool, skip: Collection[int] = ()) -> Reminder | None:
    """The earliest due reminder no other process holds, locked for this transaction (SKIP LOCKED on
    PostgreSQL; SQLite has no row locks: its BEGIN IMMEDIATE serialises writers, one process only)."""
    query = select(Reminder).where(Reminder.status == PENDING, Reminder.due_at <= now)
    if not open_now:
        query = query.where(col(Reminder.kind).in_(CALLBACK_KINDS))
    if skip:
        query = query.where(col(Reminder.id).not_in(list(skip)))
    return session.exec(query.order_by(col(Reminder.due_at), col(Reminder.id)).limit(1).with_for_update(skip_locked=True)).first()


def superseded(session: Session, morning: Reminder, now: datetime) -> bool:
    """Mornings missed while the bot was down: only the latest due one does their work, once; the older
    ones never fire."""
    later = select(Reminder.id).where(
        Reminder.kind == MORNING, Reminder.status == PENDING, Reminder.due_at > morning.due_at, Reminder.due_at <= now
    )
    return session.exec(later.limit(1)).first() is not None


def mark(reminder: Reminder, status: str, now: datetime, worker: str) -> None:
    reminder.status = status
    if status == FIRED:
        reminder.fired_at, reminder.fired_by = now, worker

