"""The guide's workflow (section 5): its states, the transitions between them and the guards that hold a step
until its checklist is complete. `TRANSITIONS` is the one place a trigger is named; the rest is derived.

`python -m flows.workflow --mermaid` prints the diagram drawn from the table (docs/architecture.md holds it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, cast

from transitions import EventData, Machine
from transitions.extensions import GraphMachine

from flows import texts
from flows.case import AttemptOutcome, Case, CloseReason, State
from flows.steps.common import Context, Fact, Refused
from flows.steps.consent import client_commercial_bar, commercial_refusal
from flows.steps.progress import active_actions, protection_label, structuring_protections, unanswered_attempts

# A guard says why its transition may not happen yet (the refusal shown to the agent), or None when it may.
Guard = Callable[[Case, Context], Refused | None]


# --- Guards, named as the guide's rules -------------------------------------------------------------------


def profile_complete(case: Case, _ctx: Context) -> Refused | None:
    """Guide 4.3: every field of the client file has an answer before the contracts."""
    missing = [name for name in case.client.profile_fields() if name not in case.profile]
    if missing:
        labels = ", ".join(texts.t(f"labels.field.{name}") for name in missing)
        return Refused("profile_incomplete", fields=labels)
    return None


def contracts_complete(case: Case, _ctx: Context) -> Refused | None:
    """Guide 4.4 and 7: every contract is checked before any commercial proposal."""
    missing = [c.number for c in case.contracts if c.number not in case.contract_checks]
    if missing:
        return Refused("contracts_incomplete", contracts=", ".join(missing))
    return None


def rebound_complete(case: Case, ctx: Context) -> Refused | None:
    """Guide 4.5: the consent question is answered and, when the client agreed, the structuring protections."""
    if client_commercial_bar(case.client, ctx.today) is not None:
        return None  # opposition or quiet period: there is no rebound to hold, the plan stays administrative
    if case.agreement is None:
        return Refused("agreement_missing")
    if not case.agreement.given:
        return None  # the client declined the rebound: the plan may hold the administrative follow-ups
    missing = [code for code in structuring_protections(case) if code not in case.protections]
    if missing:
        labels = ", ".join(protection_label(code) for code in missing)
        return Refused("protections_unanswered", protections=labels)
    return None


def dated_plan(case: Case, ctx: Context) -> Refused | None:
    """Guide 7: a dated action plan comes out of the call (unless the client declined the rebound)."""
    if not active_actions(case) and commercial_refusal(case, ctx.today) is None:
        return Refused("action_plan_missing")
    return None


def unreachable_proven(case: Case, ctx: Context) -> Refused | None:
    """A case closed as unreachable has had its unanswered attempts (`Rules.unreachable_after`)."""
    # Only `CloseEarly` fires this transition; the commands import this module, so it is read, not imported.
    if getattr(ctx.command, "reason", None) is not CloseReason.unreachable:
        return None
    unanswered = unanswered_attempts(case)
    if unanswered < ctx.rules.unreachable_after:
        return Refused("not_yet_unreachable", attempts=unanswered, needed=ctx.rules.unreachable_after)
    return None


# --- The table: the guide's states and transitions (5.1, 5.2) plus what real calls need --------------------


@dataclass(frozen=True)
class Transition:
    """`trigger` moves a case from `source` to `dest` (None: the state stays) if `guard` holds. `attempt` is
    the outcome of a call attempt (`RecordAttempt`) that fires the trigger."""

    trigger: str
    source: State | tuple[State, ...]
    dest: State | None = None
    guard: Guard | None = None
    attempt: AttemptOutcome | None = None

    @property
    def sources(self) -> tuple[State, ...]:
        return self.source if isinstance(self.source, tuple) else (self.source,)


ANY_STATE = tuple(State)
OPEN_STATES = tuple(s for s in State if s is not State.closed)
# Guide 3: the administrative part first, then the commercial one (the states are in the guide's order).
_REBOUND_AT = ANY_STATE.index(State.commercial_rebound)
ADMINISTRATIVE_PART = ANY_STATE[:_REBOUND_AT]
COMMERCIAL_PART = OPEN_STATES[_REBOUND_AT:]

TRANSITIONS = (
    # The guide's seven key transitions.
    Transition("start_call", State.preparation, State.contact_attempt),
    Transition("client_unavailable", State.contact_attempt, State.scheduled_callback, attempt=AttemptOutcome.callback),
    Transition("client_available", State.contact_attempt, State.admin_profile_update, attempt=AttemptOutcome.available),
    Transition("validate_profile", State.admin_profile_update, State.admin_contract_validation, profile_complete),
    Transition("validate_contracts", State.admin_contract_validation, State.commercial_rebound, contracts_complete),
    Transition("finish_rebound", State.commercial_rebound, State.action_plan, rebound_complete),
    Transition("close", State.action_plan, State.closed, dated_plan),
    # A booked callback that comes due puts the case back in the caller's hands. The agent's "call now" and
    # the scheduler both send it; whichever comes second finds the case in contact_attempt and stays there.
    Transition("callback_due", (State.scheduled_callback, State.contact_attempt), State.contact_attempt),
    # An unanswered attempt (messagerie) keeps the case in contact_attempt: the agent tries again later.
    Transition("no_answer", State.contact_attempt, attempt=AttemptOutcome.no_answer),
    # A client who refuses the call ends the case; the refusal starts the legal quiet period.
    Transition("client_refuses", State.contact_attempt, State.closed, attempt=AttemptOutcome.refused),
    # Answers inside a step do not move the state; the table still says where each is allowed.
    Transition("answer_profile", State.admin_profile_update),
    Transition("answer_contract", State.admin_contract_validation),
    Transition("record_agreement", State.commercial_rebound),
    # Consent gates the commercial answers (`flows.steps.consent`), checked after the state.
    Transition("withdraw_agreement", COMMERCIAL_PART),
    Transition("answer_protection", State.commercial_rebound),
    Transition("set_priority", State.commercial_rebound),
    Transition("record_need", COMMERCIAL_PART),
    Transition("add_action", State.action_plan),
    Transition("remove_action", State.action_plan),
    # Actions outlive the case: a relance is marked done from its reminder, weeks after closing.
    Transition("complete_action", (State.action_plan, State.closed)),
    # Early closing: unreachable after N attempts, refusal, duplicate case; the reason is kept.
    Transition("close_early", OPEN_STATES, State.closed, unreachable_proven),
    Transition("reassign", OPEN_STATES),
    # A lead reopens a closed case; the step it goes back to is the case's own (`reopened_state`).
    Transition("reopen", State.closed),
    # An opposition is the client's, not the case's: set or lifted from any case, closed ones included.
    Transition("set_opposition", ANY_STATE),
)

# What the refusals and the commands need, read off the table rather than listed again.
_ATTEMPT_TRIGGERS = {t.attempt: t.trigger for t in TRANSITIONS if t.attempt is not None}
# Sent in the administrative part, these are told "administrative part first", not "wrong step".
_COMMERCIAL_TRIGGERS = {t.trigger for t in TRANSITIONS if set(t.sources) <= set(COMMERCIAL_PART)}
# Sent to an open case, these are told it is not closed (reopening).
_CLOSED_ONLY_TRIGGERS = {t.trigger for t in TRANSITIONS if t.sources == (State.closed,)}


def attempt_trigger(outcome: AttemptOutcome) -> str:
    """The trigger an attempt that ends with `outcome` fires."""
    return _ATTEMPT_TRIGGERS[outcome]


# --- The machine: one for every case, driven with a model per command -------------------------------------


class _Flow:
    """The model the machine drives for one command: a copy of the case's state (the case itself changes at
    `Move.apply`), and the refusal of the guard that failed, if one did."""

    def __init__(self, case: Case, ctx: Context) -> None:
        self.case = case
        self.ctx = ctx
        self.state = case.state.value
        self.refusal: Refused | None = None


def _condition(guard: Guard) -> Callable[[EventData], bool]:
    """The machine's condition for `guard`, under the guard's name (the diagram shows it)."""

    @wraps(guard)
    def holds(event: EventData) -> bool:
        flow = cast(_Flow, event.model)  # the only kind of model this machine drives
        flow.refusal = guard(flow.case, flow.ctx)
        return flow.refusal is None

    return holds


def _definition() -> dict[str, Any]:
    """The machine's arguments, from the table (states by their stored codes)."""
    return {
        "states": [s.value for s in State],
        "initial": State.preparation.value,
        "transitions": [
            {
                "trigger": t.trigger,
                "source": [s.value for s in t.sources],
                "dest": t.dest.value if t.dest is not None else None,
                "conditions": [_condition(t.guard)] if t.guard is not None else [],
            }
            for t in TRANSITIONS
        ],
        "auto_transitions": False,
        "send_event": True,  # conditions get the event, whose model is the command's `_Flow`
    }


# Read-only once built: a command's state lives in its own `_Flow`, which is never added to the machine
# (`add_model` would bind the same `events[trigger].trigger` on it), so threads share nothing mutable.
_MACHINE = Machine(model=None, **_definition())


@dataclass(frozen=True)
class Move:
    """A transition the workflow allowed: `apply` moves the case once the step's own checks have passed."""

    case: Case
    trigger: str
    to: State

    def apply(self) -> list[Fact]:
        """Set the case's state; the change as a fact (none when the state stays)."""
        before, self.case.state = self.case.state, self.to
        if self.to is before:
            return []
        return [Fact("state_changed", {"trigger": self.trigger, "from": before.value, "to": self.to.value})]


def require_step(case: Case, trigger: str) -> None:
    """Refuse unless the table allows `trigger` in the case's state (its guard aside)."""
    if _MACHINE.get_transitions(trigger=trigger, source=case.state.value):
        return
    if trigger in _CLOSED_ONLY_TRIGGERS:
        raise Refused("reopen_not_closed")
    if case.state is State.closed:
        raise Refused("case_closed")
    step = texts.t(f"labels.state.{case.state.value}")
    if trigger in _COMMERCIAL_TRIGGERS and case.state in ADMINISTRATIVE_PART:
        raise Refused("admin_first", step=step)
    raise Refused("wrong_step", step=step)


def allow(case: Case, ctx: Context) -> Move:
    """Whether the command's trigger may fire on the case: its step, then its guard, evaluated once by the
    machine. Raises `Refused` (the guard's reason) or returns the move, with the case untouched."""
    trigger = ctx.command.trigger
    require_step(case, trigger)
    flow = _Flow(case, ctx)
    _MACHINE.events[trigger].trigger(flow)
    if flow.refusal is not None:
        raise flow.refusal
    return Move(case, trigger, State(flow.state))


def allowed_triggers(state: State) -> list[str]:
    """The events the machine accepts in a state (before guards), for views and tests."""
    return sorted(_MACHINE.get_triggers(state.value))


# --- The diagram ------------------------------------------------------------------------------------------


def mermaid() -> str:
    """The workflow as a mermaid `stateDiagram-v2`, drawn by `transitions` from the table."""
    graph = GraphMachine(graph_engine="mermaid", title="M+3 workflow", show_conditions=True,
                         **_definition())
    return str(graph.get_combined_graph().draw(None)).strip()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flows.workflow", description=__doc__)
    parser.add_argument("--mermaid", action="store_true", help="print the workflow diagram (mermaid)")
    if parser.parse_args(argv).mermaid:
        print(mermaid())
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
