"""Reads of client data that the access trail keeps (who listed, showed or exported what, a lead opening
another agent's case), and the caller rule put in force: small use cases the entry points call after they
read, each in its own unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flows.opening import CallerRule
from service.unit_of_work import UnitOfWork
from storage import access_trail
from storage.queries import apply_caller_rule


@dataclass(frozen=True)
class RecordAccess:
    event: str  # one of `storage.access_trail`'s events
    data: dict[str, Any] = field(default_factory=dict)
    case_id: int | None = None


def record_access(command: RecordAccess, uow: UnitOfWork) -> None:
    with uow:
        access_trail.record(uow.session, command.event, command.data, actor=uow.actor, case_id=command.case_id)


@dataclass(frozen=True)
class NoteLeadAccess:
    """A lead acted in a case (`how`: the kind of request): a read of client data when it is another agent's."""

    case_id: int
    lead_email: str | None
    how: str


def note_lead_access(command: NoteLeadAccess, uow: UnitOfWork) -> bool:
    """True when recorded (the case is another agent's)."""
    with uow:
        return access_trail.lead_opened(uow.session, command.case_id, actor=uow.actor, lead_email=command.lead_email,
                                        how=command.how)


@dataclass(frozen=True)
class PutCallerRule:
    """Who calls (`M3_CALLER`) for the cases still to open, recorded when it changes."""

    rule: CallerRule


def put_caller_rule(command: PutCallerRule, uow: UnitOfWork) -> int | None:
    """How many cases still to open changed caller, None when the rule did not change."""
    with uow:
        return apply_caller_rule(uow.session, command.rule, actor=uow.actor)
