"""One event, one transaction: the unit of work owns the session, the cases it loads (locked), their save,
the audit facts, the Slack messages (outbox) and the reminders, and commits them all at once.

    uow = UnitOfWork(backend, actor="agent@agence.fr")   # built by the entry point, given to a handler
    with uow:
        if not uow.claim(request_key):
            return  # a repeat of a request already handled
        case = uow.load(12)
        uow.changed(case, handle(case, command, actor=..., now=uow.now, rules=...))

On a clean exit each changed case is saved once, its facts appended to the audit trail, its messages
rendered by the notifier into the outbox (it is saved first: a new action's button needs its database id)
and its reminders brought in line; then everything commits. Any exception (a `Refused` included) rolls
everything back, the request key too, so that the user may try again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from config.settings import Settings
from flows.case import Case, State
from service.notifier import Notifier
from service.reminders import sync_reminders
from storage import audit, outbox, workspaces
from storage.db import insert_for
from storage.repository import load_case, locked_row, save_case
from storage.tables import M3Case, ProcessedRequest, utcnow


@dataclass(frozen=True)
class Backend:
    """What a unit of work writes to: the database, and, when a case changes, the notifier that renders its
    Slack messages and the settings its reminders follow (either may be absent: a tool that only records)."""

    engine: Engine
    notifier: Notifier | None = None
    settings: Settings | None = None

    @property
    def lookback_days(self) -> int:
        """How far back a case's load reads the client's attempts: as far as the calling rules look."""
        if self.settings is None:
            return 60
        rules = self.settings.rules()
        return max(rules.attempts_window_days, rules.refusal_quiet_days)


@dataclass
class _Change:
    case: Case
    previous: State | None
    facts: list[audit.FactLike] = field(default_factory=list)
    respond: dict[str, str] | None = None
    notify: bool = False
    sync: bool = False  # its reminders are brought in line on commit
    bulk: bool = False
    save: bool = False  # saved though no fact was recorded (the case a caller changes by hand)


class UnitOfWork:
    session: Session

    def __init__(self, backend: Backend | Engine, *, actor: str, now: datetime | None = None,
                 workspace: int | None = None) -> None:
        self.backend = backend if isinstance(backend, Backend) else Backend(backend)
        # The agency whose rows this unit of work sees and writes; None: the only one (refused when several).
        self.workspace = workspace
        self.notifier = self.backend.notifier
        self.actor = actor
        self.now = now or utcnow()
        self.case: Case | None = None  # the case named when the unit of work began, if any
        self.duplicate = False
        self._changes: dict[int, _Change] = {}
        self._facts: list[audit.FactLike] = []  # facts of no case
        self._messages: list[dict[str, Any]] = []
        self._stack = ExitStack()

    def __enter__(self) -> UnitOfWork:
        self.session = self._stack.enter_context(Session(self.backend.engine, expire_on_commit=False))
        self._stack.enter_context(self.session.begin())
        try:
            if self.workspace is None:
                self.workspace = workspaces.only(self.session)
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        workspaces.scope(self.session, self.workspace)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> bool | None:
        try:
            if kind is None:
                self.flush()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        return self._stack.__exit__(kind, error, trace)

    def claim(self, request_key: str | None) -> bool:
        """Record the request as handled; False when it already was (Slack's retry, a double click): then the
        handler does nothing. No key: nothing to claim."""
        self.duplicate = request_key is not None and not _claim_request(self.session, request_key, self.now)
        return not self.duplicate

    def load(self, case_id: int, *, lock: bool = True) -> Case:
        """The case, locked for this transaction (`lock`): what it was is remembered for its messages."""
        case = load_case(self.session, case_id, lock=lock, lookback_days=self.backend.lookback_days, now=self.now)
        self._changes[case_id] = _Change(case, previous=case.state)
        return case

    def changed(self, case: Case, facts: Iterable[audit.FactLike], *, respond: dict[str, str] | None = None) -> None:
        """`case` changed by `facts`: saved, recorded, shown in Slack (`respond`: the click's response_url)
        and its reminders synced on commit. No facts: nothing changed, nothing is written."""
        change = self._change(case)
        change.facts.extend(facts)
        change.respond = respond or change.respond
        change.notify = change.sync = change.notify or bool(change.facts)

    def opened(self, case: Case, *, bulk: bool = False) -> None:
        """`case` was just opened: its first messages go out (`bulk`: after the work agents wait for, as the
        morning's openings). Nothing to remind yet: no callback booked, no action planned."""
        change = self._change(case)
        change.previous, change.notify, change.bulk = None, True, bulk

    def keep_reminders(self, case: Case) -> None:
        """Bring the case's reminders in line on commit, though nothing else changed (one just fired)."""
        self._change(case).sync = True

    def record(self, facts: Iterable[audit.FactLike]) -> None:
        """Facts of the case the unit of work began with (or of no case) to append on commit."""
        if self.case is not None:
            self.changed(self.case, facts)
        else:
            self._facts.extend(facts)

    def enqueue(self, method: str, payload: dict[str, Any], dedupe_key: str | None = None,
                priority: int = outbox.NORMAL) -> None:
        """A Slack Web API call to deliver once the transaction committed (of the unit of work's case, if any)."""
        self._messages.append({"method": method, "payload": payload, "dedupe_key": dedupe_key, "priority": priority})

    def _change(self, case: Case) -> _Change:
        assert case.id is not None, "a stored case"
        return self._changes.setdefault(case.id, _Change(case, previous=case.state))

    def flush(self) -> None:
        """Write what is pending now, in the transaction (commit does the rest): a handler that sends more
        messages after a case's own (a notice, a summary) flushes first, so they go out in that order."""
        settings = self.backend.settings
        for case_id, change in self._changes.items():
            if change.facts:
                # Before the save: the chain's new head is written with the case's changes, in one UPDATE.
                locked = locked_row(self.session, case_id)
                row = locked or self.session.get(M3Case, case_id)
                assert row is not None, "a case loaded in this transaction"
                audit.append_facts(self.session, change.facts, actor=self.actor, case_id=case_id,
                                   client_id=row.client_id, at=self.now, case_row=locked)
            if change.facts or change.save:
                save_case(self.session, change.case, now=self.now)
            # A case never opened has no thread in Slack (one closed while out of time): nothing to show.
            if change.notify and self.notifier is not None and change.case.opened_at is not None:
                if change.previous is None:
                    self.notifier.case_opened(self.session, change.case, now=self.now, bulk=change.bulk)
                else:
                    self.notifier.case_changed(self.session, change.case, previous=change.previous, now=self.now,
                                               respond=change.respond)
            if change.sync and settings is not None:
                sync_reminders(self.session, change.case, self.now, settings)
        audit.append_facts(self.session, self._facts, actor=self.actor, case_id=None, client_id=None, at=self.now)
        messages_case = self.case.id if self.case is not None else None  # the messages belong to it
        for message in self._messages:
            outbox.enqueue(self.session, message["method"], message["payload"], case_id=messages_case,
                           dedupe_key=message["dedupe_key"], now=self.now, priority=message["priority"])
        self._changes, self._facts, self._messages = {}, [], []


def _claim_request(session: Session, key: str, now: datetime) -> bool:
    """Record `key` as processed; False when it already was (a Slack retry or a double click)."""
    # A concurrent twin waits on the key until the first commits, then inserts nothing.
    insert = insert_for(session)
    # SQLModel sets `__table__` on every table model, but its stubs do not declare it.
    table: Table = ProcessedRequest.__table__  # type: ignore[attr-defined]
    statement = insert(table).values(key=key, at=now).on_conflict_do_nothing().returning(table.c.key)
    return session.execute(statement).first() is not None


@contextmanager
def unit_of_work(
    backend: Backend | Engine,
    *,
    actor: str,
    case_id: int | None = None,
    request_key: str | None = None,
    now: datetime | None = None,
    workspace: int | None = None,
) -> Iterator[UnitOfWork]:
    """A unit of work entered at once: `request_key` claimed (a repeat sets `uow.duplicate` and loads
    nothing), `case_id` loaded locked as `uow.case` and saved on exit, whatever the caller changed in it."""
    with UnitOfWork(backend, actor=actor, now=now, workspace=workspace) as uow:
        if uow.claim(request_key) and case_id is not None:
            uow.case = uow.load(case_id)
            uow._changes[case_id].save = True
        yield uow
