"""Opening cases, one way for every entry point: the due cases of a day (the scheduler's morning, `m3bot
open-due`, the sandbox's start) and one case by hand (`/m3 ouvrir`, a lead's Home). An opened case's card and
first step go out through the notifier in the opening's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flows.case import Case
from flows.engine import Refused, authorize
from flows.opening import CallerRule
from service.cases import Actor
from service.unit_of_work import UnitOfWork
from storage import access_trail
from storage.queries import apply_caller_rule, due_cases, mark_opened, mark_out_of_time, open_by_hand


@dataclass(frozen=True)
class Opened:
    """The cases an opening run opened, and those it set aside as out of time (their ids)."""

    cases: list[Case]
    out_of_time: list[int]

    @property
    def due(self) -> list[int]:
        return [case.id for case in self.cases if case.id is not None]


@dataclass(frozen=True)
class OpenDue:
    """Open every case whose M+3 date has come by `today` (every day missed included), once; one whose date
    was more than `catch_up_days` old when it came in is set aside as out of time. `caller_rule`, when given,
    is applied first to the cases still to open (a change of `M3_CALLER`)."""

    today: date
    catch_up_days: int
    caller_rule: CallerRule | None = None


def open_due_cases(uow: UnitOfWork, command: OpenDue) -> Opened:
    """Within the caller's unit of work (the morning reminder's fires with its digest)."""
    if command.caller_rule is not None:
        apply_caller_rule(uow.session, command.caller_rule, actor=uow.actor)
    found = due_cases(uow.session, command.today, catch_up_days=command.catch_up_days)
    cases = [uow.load(case_id, lock=False) for case_id in mark_opened(uow.session, found.due, now=uow.now, actor=uow.actor)]
    for case in cases:
        uow.opened(case, bulk=True)  # the morning's work: after what agents wait for
    return Opened(cases, mark_out_of_time(uow.session, found.out_of_time, now=uow.now, actor=uow.actor))


def open_due(command: OpenDue, uow: UnitOfWork) -> Opened:
    """`open_due_cases` in a transaction of its own (`m3bot open-due`, the sandbox)."""
    with uow:
        return open_due_cases(uow, command)


@dataclass(frozen=True)
class OpenByHand:
    case_id: int
    actor: Actor
    today: date
    catch_up_days: int
    request_key: str | None = None


def open_case_by_hand(command: OpenByHand, uow: UnitOfWork) -> None:
    """Open the case now; raises `Refused` (nothing changed) when this user may not: who may open what is
    `flows.opening.opening_refusal`, applied by `storage.queries.open_by_hand`. A lead opening another
    agent's case leaves a line in the access trail."""
    actor = command.actor
    with uow:
        if not uow.claim(command.request_key):
            return
        case = uow.load(command.case_id)
        authorize(case, actor.agent, is_lead=actor.is_lead, command=None)
        refusal = open_by_hand(uow.session, command.case_id, today=command.today, catch_up_days=command.catch_up_days,
                               is_lead=actor.is_lead, now=uow.now, actor=uow.actor)
        if refusal is not None:
            raise Refused(refusal)
        case.opened_at = uow.now  # rendered as it is committed
        uow.opened(case)
        if actor.is_lead:
            access_trail.lead_opened(uow.session, command.case_id, actor=uow.actor, lead_email=actor.agent,
                                     how="open_case")
