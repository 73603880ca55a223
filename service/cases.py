"""Use cases on open cases: an agent's or a lead's command on one case, a lead's hand-over of an absent
agent's cases, and a message to the user who acted. Each is a handler taking its command and a unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from flows.case import Case, State
from flows.engine import Refused, authorize, hand_over, handle
from flows.rules import Rules
from service.unit_of_work import UnitOfWork
from storage.audit import last_entry
from storage.tables import M3Case, utcnow
from storage.workspaces import session_for

DOUBLE_CLICK = timedelta(seconds=10)

FieldErrors = dict[str, str]


@dataclass(frozen=True)
class Actor:
    """Who acts: `label` is what the audit trail names, `agent` his agent e-mail (None for a lead who is not an
    agent, or a stranger), `is_lead` whether he is a team lead."""

    label: str
    agent: str | None
    is_lead: bool = False


@dataclass(frozen=True)
class ApplyToCase:
    """Apply the engine command that `parse` builds from the case as it is (a modal's values are checked
    against the case they change), or the field errors it finds."""

    case_id: int
    actor: Actor
    parse: Callable[[Case], Any]
    rules: Rules
    request_key: str | None = None
    respond: dict[str, str] | None = None  # the click's response_url, to replace the clicked message


class _FieldErrors(Exception):
    """A form the case refuses (field by field): raised to roll the unit of work back."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__("form refused")
        self.errors = errors


def apply_to_case(command: ApplyToCase, uow: UnitOfWork) -> Refused | FieldErrors | None:
    """Returns the refusal, the field errors (nothing written either way), or None when done or a repeat."""
    actor = command.actor
    built = None
    try:
        with uow:
            if not uow.claim(command.request_key):
                return None
            case = uow.load(command.case_id)
            authorize(case, actor.agent, is_lead=actor.is_lead, command=None)
            built = command.parse(case)
            if isinstance(built, dict):
                raise _FieldErrors(built)
            authorize(case, actor.agent, is_lead=actor.is_lead, command=built)
            facts = handle(case, built, actor=uow.actor, now=uow.now, rules=command.rules)
            uow.changed(case, facts, respond=command.respond)
            if uow.notifier is not None and any(fact.name == "case_reassigned" for fact in facts):
                uow.flush()  # the case's messages, then the notice to the new agent in its thread
                uow.notifier.case_reassigned(uow.session, case, absent=None, now=uow.now)
    except _FieldErrors as refused:
        return refused.errors
    except Refused as refusal:
        if built is not None and _repeated_transition(uow, command.case_id, built):
            # Remembered as handled, so that Slack's retry of this repeat is a no-op too.
            with UnitOfWork(uow.backend, actor=uow.actor, workspace=uow.workspace) as again:
                again.claim(command.request_key)
            return None
        return refusal
    return None


def _repeated_transition(uow: UnitOfWork, case_id: int, built: Any) -> bool:
    """A double click on a step's button: the first click moved the case on, the second is refused by the
    engine; the agent already sees the new step, so the repeat is absorbed rather than answered."""
    # A read: no unit of work, whose transaction would take SQLite's write lock.
    assert uow.workspace is not None, "set when the unit of work began"
    with session_for(uow.backend.engine, uow.workspace) as session:
        entry = last_entry(session, case_id, "state_changed")
    return (
        entry is not None
        and entry.actor == uow.actor
        and entry.data.get("trigger") == getattr(built, "trigger", None)
        and utcnow() - entry.at <= DOUBLE_CLICK
    )


@dataclass(frozen=True)
class HandOver:
    """A lead hands every open case of `absent` to `colleagues` (spread by workload), with a reason."""

    absent: str
    colleagues: Sequence[str]
    reason: str
    actor: Actor
    rules: Rules
    lead_user: str | None = None  # the lead's Slack user, who gets the summary
    request_key: str | None = None


def open_case_ids(uow: UnitOfWork, agent: str) -> list[int]:
    query = select(col(M3Case.id)).where(M3Case.agent == agent, M3Case.state != State.closed.value).order_by(col(M3Case.id))
    # A stored row's primary key is never None (SQLModel types `id` as optional for rows not yet inserted).
    return [case_id for case_id in uow.session.exec(query) if case_id is not None]


def _workload(uow: UnitOfWork, agents: Sequence[str]) -> dict[str, int]:
    query = (select(col(M3Case.agent), sa.func.count())
             .where(col(M3Case.agent).in_(agents), M3Case.state != State.closed.value)
             .group_by(col(M3Case.agent)))
    # `IN` never matches a NULL agent: every row names one of `agents`.
    return {agent: count for agent, count in uow.session.exec(query).all() if agent is not None}


def hand_over_cases(command: HandOver, uow: UnitOfWork) -> dict[int, str]:
    """In ONE transaction: either every case moves (each its own audited `case_reassigned` fact, with who and
    why) or, on a refusal (`Refused` raised) or any error, none does. The cases are few and locked in id
    order, so two hand-overs, or a hand-over and an agent's click, wait for each other rather than deadlock.
    Returns case id -> new agent."""
    with uow:
        if not uow.claim(command.request_key):
            return {}
        cases = [uow.load(case_id) for case_id in open_case_ids(uow, command.absent)]
        facts = hand_over(cases, command.absent, command.colleagues, command.reason,
                          _workload(uow, command.colleagues), actor=uow.actor, is_lead=command.actor.is_lead,
                          now=uow.now, rules=command.rules)
        given: dict[int, str] = {}
        for case in cases:
            if case.id not in facts:
                continue
            assert case.agent is not None, "a case handed over has its new agent"
            given[case.id] = case.agent
            uow.changed(case, facts[case.id])
            uow.flush()  # each case's messages, then its notice
            if uow.notifier is not None:
                uow.notifier.case_reassigned(uow.session, case, absent=command.absent, now=uow.now)
        if command.lead_user and uow.notifier is not None:
            uow.notifier.handed_over(uow.session, command.lead_user, command.absent, given, now=uow.now)
        return given


@dataclass(frozen=True)
class Tell:
    """A message only `user` sees where he acted (rendered by the entry point); sent once per `key`."""

    channel: str
    user: str | None
    text: str
    thread_ts: str | None = None
    key: str | None = None


def tell(command: Tell, uow: UnitOfWork) -> None:
    with uow:
        if uow.notifier is not None:
            uow.notifier.tell(uow.session, channel=command.channel, user=command.user, text=command.text,
                              thread_ts=command.thread_ts, key=command.key, now=uow.now)
