"""A test double of `service.notifier.Notifier`: it records each call and writes one outbox row per call
without a dedupe key, so a reminder fired twice would leave two rows."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from config.settings import Settings
from flows.case import Action, Case, State
from service.digest import Digest
from storage import outbox
from storage.tables import utcnow


@dataclass(frozen=True)
class Call:
    event: str
    at: datetime
    case_id: int | None = None
    action_id: int | None = None
    reminder_id: int | None = None
    detail: Any = None


class RecordingNotifier:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def with_settings(self, settings: Settings) -> RecordingNotifier:
        return self  # records what happens whatever the agency's settings

    def _record(self, session: Session, call: Call) -> None:
        with self._lock:
            self.calls.append(call)
        payload = {"case_id": call.case_id, "action_id": call.action_id, "reminder_id": call.reminder_id}
        outbox.enqueue(session, f"test.{call.event}", payload, case_id=call.case_id, now=call.at)

    def case_opened(self, session: Session, case: Case, *, now: datetime, bulk: bool = False) -> None:
        self._record(session, Call("case_opened", now, case.id))

    def case_changed(self, session: Session, case: Case, *, previous: State, now: datetime,
                     respond: dict[str, str] | None = None) -> None:
        self._record(session, Call("case_changed", now, case.id, detail=(previous.value, case.state.value)))

    def case_reassigned(self, session: Session, case: Case, *, absent: str | None, now: datetime) -> None:
        self._record(session, Call("case_reassigned", now, case.id, detail=(case.agent, absent)))

    def handed_over(self, session: Session, lead: str, absent: str, given: dict[int, str], *, now: datetime) -> None:
        self._record(session, Call("handed_over", now, detail=(lead, absent, dict(given))))

    def tell(self, session: Session, *, channel: str, user: str | None, text: str, thread_ts: str | None,
             key: str | None, now: datetime) -> None:
        self._record(session, Call("tell", now, detail=(channel, user, text)))

    def callback_due(self, session: Session, case: Case, *, reminder_id: int, callback_at: datetime,
                     unanswered: int, offer_unreachable: bool, now: datetime) -> None:
        self._record(session, Call("callback_due", now, case.id, reminder_id=reminder_id,
                                   detail=(callback_at, unanswered, offer_unreachable)))

    def action_due(self, session: Session, case: Case, action: Action, *, reminder_id: int, overdue: bool,
                   now: datetime) -> None:
        self._record(session, Call("action_due", now, case.id, action.id, reminder_id, detail=overdue))

    def digest(self, session: Session, digest: Digest, *, reminder_id: int, now: datetime) -> None:
        self._record(session, Call("digest", now, reminder_id=reminder_id, detail=digest))

    def cases_opened(self, session: Session, cases: list[Case], *, reminder_id: int, now: datetime) -> None:
        self._record(session, Call("cases_opened", now, reminder_id=reminder_id,
                                   detail=tuple(case.id for case in cases)))

    def case_erased(self, session: Session, case_id: int) -> None:
        self._record(session, Call("case_erased", utcnow(), case_id))
