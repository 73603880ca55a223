"""One event, one transaction: load the case locked, let the caller apply a command, save it all at once.

    with unit_of_work(engine, case_id=12, actor="agent@agence.fr", request_key=key) as uow:
        if uow.duplicate:
            return
        uow.record(handle(uow.case, command, actor=..., now=uow.now, rules=rules))
        uow.enqueue("chat.update", {...})

On a clean exit the case, its audit entries, the queued Slack calls and the request key are written and
committed together; any exception (a `Refused` included) rolls everything back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flows.case import Case
from storage import audit, outbox
from storage.repository import load_case, save_case
from storage.tables import M3Case, ProcessedRequest, utcnow


class UnitOfWork:
    def __init__(self, session: Session, *, actor: str, now: datetime) -> None:
        self.session = session
        self.actor = actor
        self.now = now
        self.case: Case | None = None
        self.duplicate = False
        self._facts: list[audit.FactLike] = []
        self._messages: list[dict[str, Any]] = []

    def record(self, facts: Iterable[audit.FactLike]) -> None:
        """Facts to append to the audit trail on commit."""
        self._facts.extend(facts)

    def enqueue(self, method: str, payload: dict[str, Any], dedupe_key: str | None = None,
                priority: int = outbox.NORMAL) -> None:
        """A Slack Web API call to deliver once the transaction committed."""
        self._messages.append({"method": method, "payload": payload, "dedupe_key": dedupe_key, "priority": priority})

    def _flush(self) -> None:
        case_id = self.case.id if self.case else None
        client_id = None
        if self.case is not None:
            save_case(self.session, self.case, now=self.now)
            client_id = self.session.get(M3Case, case_id).client_id
        audit.append_facts(
            self.session, self._facts, actor=self.actor, case_id=case_id, client_id=client_id, at=self.now
        )
        for message in self._messages:
            outbox.enqueue(self.session, message["method"], message["payload"], case_id=case_id,
                           dedupe_key=message["dedupe_key"], now=self.now, priority=message["priority"])


def _claim_request(session: Session, key: str, now: datetime) -> bool:
    """Record `key` as processed; False when it already was (a Slack retry or a double click)."""
    try:
        # A savepoint: on PostgreSQL a failed insert would otherwise poison the whole transaction. A
        # concurrent twin blocks on the key until the first commits, then fails here.
        with session.begin_nested():
            session.add(ProcessedRequest(key=key, at=now))
    except sa.exc.IntegrityError:
        return False
    return True


@contextmanager
def unit_of_work(
    engine: Engine,
    *,
    case_id: int | None,
    actor: str,
    request_key: str | None = None,
    lookback_days: int = 60,
    now: datetime | None = None,
) -> Iterator[UnitOfWork]:
    now = now or utcnow()
    with Session(engine, expire_on_commit=False) as session, session.begin():
        uow = UnitOfWork(session, actor=actor, now=now)
        if request_key is not None and not _claim_request(session, request_key, now):
            uow.duplicate = True
            yield uow
            return
        if case_id is not None:
            uow.case = load_case(session, case_id, lock=True, lookback_days=lookback_days, now=now)
        yield uow
        uow._flush()
