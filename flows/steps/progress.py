"""How far a case's call has got, read without changing anything: the guards, the views and the scheduler ask."""

from __future__ import annotations

from flows import texts
from flows.case import Action, ActionStatus, AttemptOutcome, Case, ProtectionCheck
from flows.script import protections_for
from flows.steps.common import Refused


def structuring_protections(case: Case) -> list[str]:
    """The protections the rebound must check explicitly for this client (guide 4.5: PJ, GAV, retraite…)."""
    return [code for code, _label in protections_for(case.client.client_type, structuring_only=True)]


def protection_label(code: str) -> str:
    """The catalogue's label of a protection; an unknown code is refused."""
    for item in texts.data("catalog.protections"):
        if item["code"] == code:
            return item["label"]
    raise Refused("unknown_protection")


def active_actions(case: Case) -> list[Action]:
    return [a for a in case.actions if a.status is not ActionStatus.cancelled]


def priorities(case: Case) -> list[ProtectionCheck]:
    return [p for p in case.protections.values() if p.priority]


def unanswered_attempts(case: Case) -> int:
    """Attempts on this case that ended without an answer (messagerie)."""
    return sum(1 for a in case.client_attempts if a.case_id in (None, case.id) and a.outcome is AttemptOutcome.no_answer)


def checklist_progress(case: Case) -> tuple[int, int]:
    """(done, total) of the call's checklist: profile fields, contracts, agreement, protections, plan."""
    structuring = structuring_protections(case)
    steps = [
        *(name in case.profile for name in case.client.profile_fields()),
        *(c.number in case.contract_checks for c in case.contracts),
        case.agreement is not None,
        bool(active_actions(case)),
    ]
    if case.agreement is None or case.agreement.given:
        steps += [code in case.protections for code in structuring]
    return sum(steps), len(steps)
