"""Closing: a completed call with its dated plan, or an early end (unreachable, refusal, duplicate…)."""

from __future__ import annotations

from flows import commands as cmd
from flows import workflow
from flows.case import Attempt, AttemptOutcome, Case, CloseReason
from flows.steps.common import Context, Fact, Refused, free_text
from flows.steps.consent import commercial_refusal
from flows.steps.progress import active_actions


def close(case: Case, ctx: Context) -> list[Fact]:
    move = workflow.allow(case, ctx)
    # Without the client's agreement the call ends as "rebond refusé", not as a completed rebound.
    reason = CloseReason.completed if commercial_refusal(case, ctx.today) is None else CloseReason.rebound_refused
    facts = move.apply()
    case.close_reason = reason
    case.closed_at = ctx.now
    plan = [{"kind": a.kind.value, "due_on": a.due_on.isoformat(), "owner": a.owner} for a in active_actions(case)]
    return [Fact("case_closed", {"reason": reason.value, "plan": plan}), *facts]


def close_early(case: Case, command: cmd.CloseEarly, ctx: Context) -> list[Fact]:
    if command.reason in (CloseReason.completed, CloseReason.rebound_refused):
        raise Refused("close_completed_needs_plan")
    if command.reason is CloseReason.rgpd_erased:
        raise Refused("close_rgpd_erased_reserved")  # only the erase itself closes a case so
    move = workflow.allow(case, ctx)
    note = free_text(command.note)
    if command.reason is CloseReason.out_of_time:
        if case.out_of_time_at is None or case.opened_at is not None:
            raise Refused("not_out_of_time")
        if not note:
            raise Refused("out_of_time_reason_missing")
    facts = move.apply()
    case.close_reason = command.reason
    case.close_note = note
    case.closed_at = ctx.now
    if command.reason is CloseReason.refused:
        # The client refused during the call: recorded as a refusal so the 60-day quiet period applies to
        # every agent. It also counts as an attempt, which errs on the side of calling him less.
        case.client_attempts.append(Attempt(at=ctx.now, by=ctx.actor, outcome=AttemptOutcome.refused, case_id=case.id))
    return [Fact("case_closed", {"reason": command.reason.value, "note": note}), *facts]
