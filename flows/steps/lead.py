"""A lead's tools: hand a case over (one, or every open case of an absent agent) and reopen a closed one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from flows import commands as cmd
from flows import workflow
from flows.case import ActionStatus, AttemptOutcome, Case, CloseReason, State
from flows.rules import Rules
from flows.steps.common import Context, Fact, Refused, free_text, iso

_LEAD_ONLY = {cmd.Reassign: "lead_only", cmd.Reopen: "reopen_lead_only"}


def require_lead(command: cmd.Command | None, *, is_lead: bool) -> None:
    """Refuse a lead's command to anyone else."""
    if not is_lead and (code := _LEAD_ONLY.get(type(command))) is not None:
        raise Refused(code)


def reassign(case: Case, command: cmd.Reassign, ctx: Context) -> list[Fact]:
    """The case goes to another agent; his reminders follow: the previous agent's call (`caller`) and his
    actions still to do become the new agent's, so the scheduler reminds the one who now holds the case."""
    workflow.allow(case, ctx)
    agent = free_text(command.agent)
    if not agent:
        raise Refused("agent_missing")
    reason = free_text(command.reason)
    if agent == case.agent:
        return []
    previous, case.agent = case.agent, agent
    if previous is not None and case.caller == previous:
        case.caller = agent
    moved = [a for a in case.actions if a.status is ActionStatus.todo and previous is not None and a.owner == previous]
    for action in moved:
        action.owner = agent
    data: dict[str, Any] = {"from": previous, "to": agent}
    if reason:
        data["reason"] = reason
    if moved:
        data["actions"] = len(moved)
    return [Fact("case_reassigned", data)]


def plan_handover(absent: str, colleagues: Sequence[str], reason: str | None, open_cases: Sequence[int],
                  workload: Mapping[str, int]) -> dict[int, str]:
    """Which colleague takes each open case of an absent agent (case id -> e-mail), or `Refused`. Spread:
    each case in id order goes to the colleague with the fewest open cases at that moment (`workload` before
    the hand-over, counted as cases are given), ties to the first one named; one colleague takes them all."""
    if not free_text(reason):
        raise Refused("handover_reason_missing")
    named = list(dict.fromkeys(c.strip() for c in colleagues if c and c.strip()))
    if not named:
        raise Refused("handover_colleague_missing")
    if absent in named:
        raise Refused("handover_to_absent")
    if not open_cases:
        raise Refused("handover_no_open_cases")
    load = {c: workload.get(c, 0) for c in named}
    plan: dict[int, str] = {}
    for case_id in sorted(open_cases):
        chosen = min(named, key=lambda c: (load[c], named.index(c)))
        plan[case_id] = chosen
        load[chosen] += 1
    return plan


def hand_over(cases: Sequence[Case], absent: str, colleagues: Sequence[str], reason: str | None,
              workload: Mapping[str, int], *, actor: str, is_lead: bool, now: datetime,
              rules: Rules) -> dict[int, list[Fact]]:
    """A lead hands every open case of an absent agent (those of `cases` still his and open) to colleagues,
    each case its own `case_reassigned` fact with the reason. Every case is checked before any is touched:
    a refusal leaves all of them as they were, so the caller's one transaction has nothing half-done."""
    require_lead(cmd.Reassign(absent), is_lead=is_lead)
    staged = {_stored_id(case): case for case in cases if case.agent == absent and case.state is not State.closed}
    plan = plan_handover(absent, colleagues, reason, list(staged), workload)
    commands = {case_id: cmd.Reassign(plan[case_id], reason) for case_id in staged}
    for case_id, case in staged.items():
        workflow.require_step(case, commands[case_id].trigger)
    return {case_id: reassign(case, commands[case_id], Context(commands[case_id], actor, now, rules))
            for case_id, case in staged.items()}


def _stored_id(case: Case) -> int:
    """The id of a case handed over: it was loaded from storage, so it has one."""
    if case.id is None:
        raise ValueError("a case handed over must be a stored one")
    return case.id


def reopened_state(case: Case) -> State:
    """The step a reopened case goes back to: the first the case has not completed, as its own answers show
    (the answers are kept, so the agent validates again and goes on)."""
    if case.rebound_done_at is not None:
        return State.action_plan
    if case.admin_contracts_done_at is not None:
        return State.commercial_rebound
    if case.admin_profile_done_at is not None:
        return State.admin_contract_validation
    reached = any(a.case_id == case.id and a.outcome is AttemptOutcome.available for a in case.client_attempts)
    if case.profile or reached:
        return State.admin_profile_update
    return State.contact_attempt if case.caller else State.preparation


def reopen(case: Case, command: cmd.Reopen, ctx: Context) -> list[Fact]:
    """closed -> `reopened_state`: the closing stays in the trail, followed by the reopening and its reason;
    the verdict then judges the case on its last closing (`flows.verdict`)."""
    workflow.allow(case, ctx)
    reason = free_text(command.reason)
    if not reason:
        raise Refused("reopen_reason_missing")
    if case.close_reason is CloseReason.rgpd_erased:
        raise Refused("reopen_erased")
    if case.close_reason is CloseReason.out_of_time:
        raise Refused("reopen_out_of_time")
    if case.closed_at is not None and case.closed_at < years_before(ctx.now, ctx.rules.retention_years):
        raise Refused("reopen_beyond_retention", years=ctx.rules.retention_years)
    closed = {"closed_reason": (case.close_reason or CloseReason.completed).value, "closed_at": iso(case.closed_at)}
    case.state = reopened_state(case)
    case.close_reason, case.close_note, case.closed_at = None, None, None
    return [Fact("case_reopened", {"reason": reason, **closed, "to": case.state.value}),
            Fact("state_changed", {"trigger": command.trigger, "from": State.closed.value, "to": case.state.value})]


def years_before(moment: datetime, years: int) -> datetime:
    """The same moment `years` earlier (the RGPD retention's cut-off; `storage.rgpd` uses it too)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)
