"""Commercial rebound (guide 4.5): the client's agreement, his protections elsewhere or missing, the 2-3
priorities and his needs; his opposition to any commercial call."""

from __future__ import annotations

from datetime import timedelta

from flows import commands as cmd
from flows import workflow
from flows.case import ActionStatus, Agreement, Aim, Case, Need, ProtectionAnswer, ProtectionCheck
from flows.steps.common import Context, Fact, Refused, free_text, iso
from flows.steps.consent import client_commercial_bar, require_consent
from flows.steps.progress import priorities, protection_label


def record_agreement(case: Case, command: cmd.RecordAgreement, ctx: Context) -> list[Fact]:
    """The consent question's answer, recorded once: a given agreement can only be withdrawn afterwards,
    a refusal is final for the case (and starts the quiet period)."""
    workflow.allow(case, ctx)
    wording = free_text(command.wording)
    if not wording:
        raise Refused("agreement_wording_missing")
    previous = case.agreement
    if previous is not None:
        if (previous.agreed, previous.wording) == (command.agreed, wording):
            return []  # a double click
        raise Refused("agreement_already_recorded")
    if (bar := client_commercial_bar(case.client, ctx.today)) is not None:
        raise bar
    case.agreement = Agreement(at=ctx.now, by=ctx.actor, wording=wording, agreed=command.agreed)
    data = {"wording": wording, "at": iso(ctx.now)}
    if command.agreed:
        return [Fact("consent_given", data)]
    _quiet_after_refusal(case, ctx)
    return [Fact("consent_declined", data | {"no_commercial_until": iso(case.client.no_commercial_until)})]


def withdraw_agreement(case: Case, command: cmd.WithdrawAgreement, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    agreement = case.agreement
    if agreement is None or not agreement.agreed:
        raise Refused("agreement_not_given")
    if agreement.withdrawn_at is not None:
        return []  # a double click
    wording = free_text(command.wording)
    agreement.withdrawn_at = ctx.now
    _quiet_after_refusal(case, ctx)
    data = {"wording": wording, "at": iso(ctx.now), "given_at": iso(agreement.at),
            "no_commercial_until": iso(case.client.no_commercial_until)}
    return [Fact("consent_withdrawn", data), *_cancel_commercial_actions(case, "consent_withdrawn")]


def set_opposition(case: Case, command: cmd.SetOpposition, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    client = case.client
    if command.opposed:
        if client.opposition_at is not None:
            return []
        client.opposition_at = ctx.now
        return [Fact("opposition_set", {"at": iso(ctx.now)}), *_cancel_commercial_actions(case, "opposition")]
    if client.opposition_at is None:
        return []
    since, client.opposition_at = client.opposition_at, None
    return [Fact("opposition_lifted", {"at": iso(ctx.now), "set_at": iso(since)})]


def _quiet_after_refusal(case: Case, ctx: Context) -> None:
    """A declined or withdrawn rebound: no commercial call to this client for the quiet period."""
    until = ctx.today + timedelta(days=ctx.rules.refusal_quiet_days)
    if case.client.no_commercial_until is None or case.client.no_commercial_until < until:
        case.client.no_commercial_until = until


def _cancel_commercial_actions(case: Case, cause: str) -> list[Fact]:
    """Consent gone: the commercial actions still to do are withdrawn (kept, cancelled, in the trail)."""
    facts = []
    for action in case.actions:
        if action.aim is Aim.commercial and action.status is ActionStatus.todo:
            action.status = ActionStatus.cancelled
            facts.append(Fact("action_removed", {"action_id": action.id, "kind": action.kind.value, "cause": cause}))
    return facts


def answer_protection(case: Case, command: cmd.AnswerProtection, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    require_consent(case, ctx.today)
    protection_label(command.protection)
    elsewhere = command.answer is ProtectionAnswer.elsewhere
    insurer = free_text(command.insurer) if elsewhere else None
    renewal_on = command.renewal_on if elsewhere else None
    previous = case.protections.get(command.protection)
    if previous is not None and (previous.answer, previous.insurer, previous.renewal_on) == (
        command.answer, insurer, renewal_on
    ):
        return []
    facts = [] if previous is None else [Fact("protection_corrected", {"protection": command.protection,
                                                                       "previous_answer": previous.answer.value})]
    # Only a gap can be a priority: an answer that turns out to be "held elsewhere" drops the priority.
    keep_priority = previous is not None and previous.priority and not elsewhere
    case.protections[command.protection] = ProtectionCheck(
        protection=command.protection, answer=command.answer, at=ctx.now, by=ctx.actor, insurer=insurer,
        renewal_on=renewal_on, priority=keep_priority,
        reason=previous.reason if keep_priority and previous is not None else None,
    )
    facts.append(Fact("protection_answered", {"protection": command.protection, "answer": command.answer.value,
                                              "insurer": insurer, "renewal_on": iso(renewal_on)}))
    return facts


def set_priority(case: Case, command: cmd.SetPriority, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    require_consent(case, ctx.today)
    check = case.protections.get(command.protection)
    if check is None or check.answer is ProtectionAnswer.elsewhere:
        raise Refused("priority_needs_gap")
    reason = free_text(command.reason) if command.priority else None
    if command.priority and not reason:
        raise Refused("priority_reason_missing")
    if (check.priority, check.reason) == (command.priority, reason):
        return []
    others = [p for p in priorities(case) if p.protection != command.protection]
    if command.priority and len(others) >= ctx.rules.max_priorities:
        raise Refused("too_many_priorities", max=ctx.rules.max_priorities)
    check.priority = command.priority
    check.reason = reason
    return [Fact("priority_set", {"protection": command.protection, "priority": command.priority, "reason": reason})]


def record_need(case: Case, command: cmd.RecordNeed, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    require_consent(case, ctx.today)
    text = free_text(command.text)
    if not text:
        raise Refused("need_missing")
    case.needs.append(Need(text=text, at=ctx.now, by=ctx.actor))
    return [Fact("need_recorded", {"text": text})]


def finish_rebound(case: Case, ctx: Context) -> list[Fact]:
    facts = workflow.allow(case, ctx).apply()
    case.rebound_done_at = ctx.now
    answers = case.protections.values()
    summary = {
        "agreed": case.agreement.given if case.agreement else None,
        "elsewhere": sorted(p.protection for p in answers if p.answer is ProtectionAnswer.elsewhere),
        "gaps": sorted(p.protection for p in answers if p.answer is not ProtectionAnswer.elsewhere),
        "priorities": sorted(p.protection for p in priorities(case)),
    }
    return [Fact("rebound_finished", summary), *facts]
