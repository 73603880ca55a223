"""Action plan (guide 6.2): dated devis, RDV and relances, withdrawn before closing, done from their reminder."""

from __future__ import annotations

from flows import commands as cmd
from flows import workflow
from flows.case import Action, ActionKind, ActionStatus, Aim, Case
from flows.steps.common import Context, Fact, Refused, free_text
from flows.steps.consent import require_consent

BILAN_GLOBAL = "bilan_global"


def action_aim(kind: ActionKind, purpose: str | None, aim: Aim) -> Aim:
    """A devis and the global review are commercial whatever the agent says; a relance or an RDV is what
    he says it is (a missing piece, documents to bring: administrative)."""
    return Aim.commercial if kind is ActionKind.devis or purpose == BILAN_GLOBAL else aim


def add_action(case: Case, command: cmd.AddAction, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    owner = free_text(command.owner)
    if not owner:
        raise Refused("action_owner_missing")
    if command.due_on < ctx.today:
        raise Refused("action_in_past")
    if command.purpose not in (None, BILAN_GLOBAL):
        raise Refused("unknown_purpose")
    aim = action_aim(command.kind, command.purpose, command.aim)
    if aim is Aim.commercial:
        require_consent(case, ctx.today)
    action = Action(kind=command.kind, due_on=command.due_on, owner=owner, created_at=ctx.now,
                    created_by=ctx.actor, purpose=command.purpose, reason=free_text(command.reason), aim=aim)
    case.actions.append(action)
    return [Fact("action_added", {"kind": action.kind.value, "due_on": action.due_on.isoformat(), "owner": owner,
                                  "purpose": action.purpose, "reason": action.reason, "aim": aim.value})]


def _find_action(case: Case, action_id: int) -> Action:
    for action in case.actions:
        if action.id == action_id:
            return action
    raise Refused("unknown_action")


def remove_action(case: Case, command: cmd.RemoveAction, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    action = _find_action(case, command.action_id)
    if action.status is ActionStatus.cancelled:
        return []
    if action.status is not ActionStatus.todo:
        raise Refused("action_not_pending")
    action.status = ActionStatus.cancelled
    return [Fact("action_removed", {"action_id": action.id, "kind": action.kind.value})]


def complete_action(case: Case, command: cmd.CompleteAction, ctx: Context) -> list[Fact]:
    workflow.allow(case, ctx)
    action = _find_action(case, command.action_id)
    if action.status is ActionStatus.done:
        return []  # a second click on "fait" from an old reminder is not an error
    if action.status is ActionStatus.cancelled:
        raise Refused("action_not_pending")
    action.status = ActionStatus.done
    action.done_at = ctx.now
    return [Fact("action_completed", {"action_id": action.id, "kind": action.kind.value})]
