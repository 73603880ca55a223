"""The M+3 domain's entry: `handle` applies one command to a case, or refuses it with a reason code (`Refused`);
`authorize` says who may. The workflow (`flows.workflow`) says which command is allowed when; the steps
(`flows.steps`) check and record each one. Every check runs before anything is touched: a refused command
leaves the case exactly as it was, so the caller's transaction has nothing to roll back but its own work.
"""

from __future__ import annotations

from datetime import datetime

from flows import commands as cmd
from flows.case import Case, CloseReason
from flows.rules import Rules
from flows.steps import closing, contact, contracts, lead, plan, profile, rebound
from flows.steps.common import MAX_FREE_TEXT, Context, Fact, Refused
from flows.steps.consent import client_commercial_bar, commercial_refusal, reminder_barred
from flows.steps.contact import attempts_in_window, contact_limit
from flows.steps.lead import hand_over, reopened_state, years_before
from flows.steps.plan import BILAN_GLOBAL
from flows.steps.profile import confirmable
from flows.steps.progress import active_actions, checklist_progress, structuring_protections, unanswered_attempts
from flows.workflow import allowed_triggers

# The domain's public names, wherever they live: the outer layers import them from here.
__all__ = [
    "BILAN_GLOBAL", "MAX_FREE_TEXT", "Fact", "Refused", "active_actions", "allowed_triggers", "attempts_in_window",
    "authorize", "checklist_progress", "client_commercial_bar", "commercial_refusal", "confirmable",
    "contact_limit", "hand_over", "handle", "listing_scope", "reminder_barred", "reopened_state",
    "structuring_protections", "unanswered_attempts", "years_before",
]


def handle(case: Case, command: cmd.Command, *, actor: str, now: datetime, rules: Rules) -> list[Fact]:
    """Apply one command to the case in place and return what happened, or raise `Refused`."""
    ctx = Context(command=command, actor=actor, now=now, rules=rules)
    match command:
        case cmd.StartCall():
            return contact.start_call(case, command, ctx)
        case cmd.RecordAttempt():
            return contact.record_attempt(case, command, ctx)
        case cmd.CallbackDue():
            return contact.callback_due(case, command, ctx)
        case cmd.AnswerProfile():
            return profile.answer_profile(case, command, ctx)
        case cmd.ValidateProfile():
            return profile.validate_profile(case, ctx)
        case cmd.AnswerContract():
            return contracts.answer_contract(case, command, ctx)
        case cmd.ValidateContracts():
            return contracts.validate_contracts(case, ctx)
        case cmd.RecordAgreement():
            return rebound.record_agreement(case, command, ctx)
        case cmd.WithdrawAgreement():
            return rebound.withdraw_agreement(case, command, ctx)
        case cmd.SetOpposition():
            return rebound.set_opposition(case, command, ctx)
        case cmd.AnswerProtection():
            return rebound.answer_protection(case, command, ctx)
        case cmd.SetPriority():
            return rebound.set_priority(case, command, ctx)
        case cmd.RecordNeed():
            return rebound.record_need(case, command, ctx)
        case cmd.FinishRebound():
            return rebound.finish_rebound(case, ctx)
        case cmd.AddAction():
            return plan.add_action(case, command, ctx)
        case cmd.RemoveAction():
            return plan.remove_action(case, command, ctx)
        case cmd.CompleteAction():
            return plan.complete_action(case, command, ctx)
        case cmd.Close():
            return closing.close(case, ctx)
        case cmd.CloseEarly():
            return closing.close_early(case, command, ctx)
        case cmd.Reassign():
            return lead.reassign(case, command, ctx)
        case cmd.Reopen():
            return lead.reopen(case, command, ctx)
        case _:
            raise TypeError(f"unknown command {type(command).__name__}")


def authorize(case: Case, actor: str | None, *, is_lead: bool, command: cmd.Command | None) -> None:
    """Only the assigned agent, the seller and the leads act on a case; only a lead hands it over (no
    `command`: may the actor act on the case at all)."""
    lead.require_lead(command, is_lead=is_lead)
    if isinstance(command, cmd.CloseEarly) and command.reason is CloseReason.out_of_time and not is_lead:
        raise Refused("out_of_time_lead_only")
    if isinstance(command, cmd.SetOpposition) and not command.opposed and not is_lead:
        raise Refused("opposition_lift_lead_only")
    if is_lead:
        return
    if actor is None or actor not in {case.agent, case.seller}:
        raise Refused("not_your_case")


def listing_scope(actor: str | None, *, is_lead: bool) -> str | None:
    """Whose cases a user may see in any list (command, modal, Home): None means every case (a lead); an
    agent's e-mail means the cases assigned to or sold by him, those `authorize` lets him act on; anyone
    else (a workspace member who is neither) is refused and sees none."""
    if is_lead:
        return None
    if actor is None:
        raise Refused("lists_for_agents")
    return actor
