"""The M+3 workflow engine: applies one command to a case, or refuses it with the reason in French.

The `transitions` machine says which event is allowed in which state and moves the state; the guards say
whether the step's checklist is complete. Every check runs before anything is touched: a refused command
leaves the case exactly as it was, so the caller's transaction has nothing to roll back but its own work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from transitions import Machine

from flows import commands as cmd
from flows import texts
from flows.calling_hours import is_legal_call_time
from flows.case import (
    Action,
    ActionStatus,
    Agreement,
    Attempt,
    AttemptOutcome,
    Case,
    ClientType,
    CloseReason,
    ContractAnswer,
    ContractCheck,
    Need,
    ProfileAnswer,
    ProfileCheck,
    ProtectionAnswer,
    ProtectionCheck,
    State,
)
from flows.rules import Rules
from flows.script import protections_for
from flows.validation import Invalid, is_tns, normalize_field, normalize_naf

MAX_FREE_TEXT = 1000
BILAN_GLOBAL = "bilan_global"
# A booked callback the client asked for may be made a little after the booked time and still count as his.
CLIENT_REQUESTED_GRACE = timedelta(hours=2)


class Refused(Exception):
    """The command breaks a rule of the guide or the law; `reason` is French, shown to the agent as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Fact:
    """One thing that happened, as the audit trail records it (`data` is JSON-serialisable)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


def _refuse(key: str, **values: Any) -> Refused:
    return Refused(texts.t(f"reasons.{key}", **values))


# --- Guards: each returns the refusal reason, or None when the step may go on. ---------------------------


def structuring_protections(case: Case) -> list[str]:
    """The protections the rebound must check explicitly for this client (guide 4.5: PJ, GAV, retraite…)."""
    return [code for code, _label in protections_for(case.client.client_type, structuring_only=True)]


def _profile_incomplete(case: Case, _ctx: _Context) -> str | None:
    missing = [name for name in case.client.profile_fields() if name not in case.profile]
    if missing:
        labels = ", ".join(texts.t(f"labels.field.{name}") for name in missing)
        return texts.t("reasons.profile_incomplete", fields=labels)
    return None


def _contracts_incomplete(case: Case, _ctx: _Context) -> str | None:
    missing = [c.number for c in case.contracts if c.number not in case.contract_checks]
    if missing:
        return texts.t("reasons.contracts_incomplete", contracts=", ".join(missing))
    return None


def _agreement_missing(case: Case, _ctx: _Context) -> str | None:
    if case.agreement is None:
        return texts.t("reasons.agreement_missing")
    if not case.agreement.agreed:
        return texts.t("reasons.agreement_declined")
    return None


def _rebound_incomplete(case: Case, _ctx: _Context) -> str | None:
    if case.agreement is None:
        return texts.t("reasons.agreement_missing")
    if not case.agreement.agreed:
        return None  # the client declined the rebound: the plan may hold the administrative follow-ups
    missing = [code for code in structuring_protections(case) if code not in case.protections]
    if missing:
        labels = ", ".join(_protection_label(code) for code in missing)
        return texts.t("reasons.protections_unanswered", protections=labels)
    return None


def _plan_missing(case: Case, _ctx: _Context) -> str | None:
    if not active_actions(case):
        return texts.t("reasons.action_plan_missing")
    return None


def unanswered_attempts(case: Case) -> int:
    """Attempts on this case that ended without an answer (messagerie)."""
    return sum(1 for a in case.client_attempts if a.case_id in (None, case.id) and a.outcome is AttemptOutcome.no_answer)


def _not_unreachable(case: Case, ctx: _Context) -> str | None:
    if ctx.command.reason is not CloseReason.unreachable:
        return None
    unanswered = unanswered_attempts(case)
    if unanswered < ctx.rules.unreachable_after:
        return texts.t("reasons.not_yet_unreachable", attempts=unanswered, needed=ctx.rules.unreachable_after)
    return None


_GUARDS: dict[str, Callable[[Case, _Context], str | None]] = {
    "profile_complete": _profile_incomplete,
    "contracts_complete": _contracts_incomplete,
    "agreement_given": _agreement_missing,
    "rebound_complete": _rebound_incomplete,
    "dated_plan": _plan_missing,
    "unreachable_proven": _not_unreachable,
}


# --- The machine: the guide's states and transitions (5.1, 5.2) plus what real calls need. ---------------

_OPEN_STATES = [s.value for s in State if s is not State.closed]
_TRANSITIONS: list[dict[str, Any]] = [
    # The guide's seven key transitions.
    {"trigger": "start_call", "source": State.preparation, "dest": State.contact_attempt},
    {"trigger": "client_unavailable", "source": State.contact_attempt, "dest": State.scheduled_callback},
    {"trigger": "client_available", "source": State.contact_attempt, "dest": State.admin_profile_update},
    {
        "trigger": "validate_profile",
        "source": State.admin_profile_update,
        "dest": State.admin_contract_validation,
        "conditions": "profile_complete",
    },
    {
        "trigger": "validate_contracts",
        "source": State.admin_contract_validation,
        "dest": State.commercial_rebound,
        "conditions": "contracts_complete",
    },
    {
        "trigger": "finish_rebound",
        "source": State.commercial_rebound,
        "dest": State.action_plan,
        "conditions": "rebound_complete",
    },
    {"trigger": "close", "source": State.action_plan, "dest": State.closed, "conditions": "dated_plan"},
    # A booked callback that comes due puts the case back in the caller's hands. The agent's "call now" and
    # the scheduler both send it; whichever comes second finds the case in contact_attempt and does nothing.
    {"trigger": "callback_due", "source": State.scheduled_callback, "dest": State.contact_attempt},
    {"trigger": "callback_due", "source": State.contact_attempt, "dest": None},
    # An unanswered attempt (messagerie) keeps the case in contact_attempt: the agent tries again later.
    {"trigger": "no_answer", "source": State.contact_attempt, "dest": None},
    # A client who refuses the call ends the case; the refusal starts the legal quiet period.
    {"trigger": "client_refuses", "source": State.contact_attempt, "dest": State.closed},
    # Answers inside a step do not move the state; the machine still says where each is allowed.
    {"trigger": "answer_profile", "source": State.admin_profile_update, "dest": None},
    {"trigger": "answer_contract", "source": State.admin_contract_validation, "dest": None},
    {"trigger": "record_agreement", "source": State.commercial_rebound, "dest": None},
    {
        "trigger": "answer_protection",
        "source": State.commercial_rebound,
        "dest": None,
        "conditions": "agreement_given",
    },
    {"trigger": "set_priority", "source": State.commercial_rebound, "dest": None, "conditions": "agreement_given"},
    {"trigger": "record_need", "source": [State.commercial_rebound, State.action_plan], "dest": None},
    {"trigger": "add_action", "source": State.action_plan, "dest": None},
    {"trigger": "remove_action", "source": State.action_plan, "dest": None},
    # Actions outlive the case: a relance is marked done from its reminder, weeks after closing.
    {"trigger": "complete_action", "source": [State.action_plan, State.closed], "dest": None},
    # Early closing: unreachable after N attempts, refusal, duplicate case; the reason is kept.
    {
        "trigger": "close_early",
        "source": _OPEN_STATES,
        "dest": State.closed,
        "conditions": "unreachable_proven",
    },
    {"trigger": "reassign", "source": _OPEN_STATES, "dest": None},
]


@dataclass
class _Context:
    command: Any
    actor: str
    now: datetime
    rules: Rules

    @property
    def today(self) -> date:
        return self.now.astimezone(ZoneInfo(self.rules.agency_timezone)).date()


class _Flow:
    """The model the machine drives: a case and the command being applied, never a database row."""

    def __init__(self, case: Case, ctx: _Context) -> None:
        self.case = case
        self.ctx = ctx


for _guard_name, _guard in _GUARDS.items():
    setattr(_Flow, _guard_name, lambda self, _g=_guard: _g(self.case, self.ctx) is None)

def _state_names(value: Any) -> Any:
    if value is None:
        return None
    return [State(v).value for v in value] if isinstance(value, list) else State(value).value


# One machine shared by every case (the library's advice for many models); models come and go per event.
_MACHINE = Machine(
    model=None,
    states=[s.value for s in State],
    transitions=[{**t, "source": _state_names(t["source"]), "dest": _state_names(t["dest"])} for t in _TRANSITIONS],
    initial=State.preparation.value,
    auto_transitions=False,
)
_MACHINE_LOCK = threading.Lock()


def _check(case: Case, ctx: _Context) -> None:
    """Refuse unless the machine accepts the command's trigger in the case's state and its guards pass."""
    trigger = ctx.command.trigger
    found = _MACHINE.get_transitions(trigger=trigger, source=case.state.value)
    if not found:
        raise _wrong_step(case, trigger)
    for condition in found[0].conditions:
        if (reason := _GUARDS[condition.func](case, ctx)) is not None:
            raise Refused(reason)


def _move(case: Case, ctx: _Context) -> list[Fact]:
    """Run the trigger `_check` accepted; returns the state change as a fact (none for an answer)."""
    trigger = ctx.command.trigger
    before = case.state
    flow = _Flow(case, ctx)
    with _MACHINE_LOCK:
        _MACHINE.add_model(flow, initial=case.state.value)
    try:
        if not flow.trigger(trigger):
            raise RuntimeError(f"the guards of {trigger} changed their answer between check and move")
    finally:
        with _MACHINE_LOCK:
            _MACHINE.remove_model(flow)
    case.state = State(flow.state)
    if case.state is before:
        return []
    return [Fact("state_changed", {"trigger": trigger, "from": before.value, "to": case.state.value})]


_ADMIN_FIRST = {"record_agreement", "answer_protection", "set_priority", "finish_rebound", "record_need",
                "add_action", "remove_action", "close"}
_ADMIN_STATES = {State.preparation, State.contact_attempt, State.scheduled_callback, State.admin_profile_update,
                 State.admin_contract_validation}


def allowed_triggers(state: State) -> list[str]:
    """The events the machine accepts in a state (before guards), for views and tests."""
    return sorted(_MACHINE.get_triggers(state.value))


def _wrong_step(case: Case, trigger: str) -> Refused:
    if case.state is State.closed:
        return _refuse("case_closed")
    if trigger in _ADMIN_FIRST and case.state in _ADMIN_STATES:
        return _refuse("admin_first", step=texts.t(f"labels.state.{case.state.value}"))
    return _refuse("wrong_step", step=texts.t(f"labels.state.{case.state.value}"))


# --- Public API -------------------------------------------------------------------------------------------


def authorize(case: Case, actor: str | None, *, is_lead: bool, command: Any) -> None:
    """Only the assigned agent, the seller and the leads act on a case; only a lead hands it over."""
    if isinstance(command, cmd.Reassign) and not is_lead:
        raise _refuse("lead_only")
    if isinstance(command, cmd.CloseEarly) and command.reason is CloseReason.out_of_time and not is_lead:
        raise _refuse("out_of_time_lead_only")
    if is_lead:
        return
    if actor is None or actor not in {case.agent, case.seller}:
        raise _refuse("not_your_case")


def active_actions(case: Case) -> list[Action]:
    return [a for a in case.actions if a.status is not ActionStatus.cancelled]


def priorities(case: Case) -> list[ProtectionCheck]:
    return [p for p in case.protections.values() if p.priority]


def checklist_progress(case: Case) -> tuple[int, int]:
    """(done, total) of the call's checklist: profile fields, contracts, agreement, protections, plan."""
    structuring = structuring_protections(case)
    steps = [
        *(name in case.profile for name in case.client.profile_fields()),
        *(c.number in case.contract_checks for c in case.contracts),
        case.agreement is not None,
        bool(active_actions(case)),
    ]
    if case.agreement is None or case.agreement.agreed:
        steps += [code in case.protections for code in structuring]
    return sum(steps), len(steps)


def handle(case: Case, command: Any, *, actor: str, now: datetime, rules: Rules) -> list[Fact]:
    """Apply one command to the case in place and return what happened, or raise `Refused`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ctx = _Context(command=command, actor=actor, now=now, rules=rules)
    try:
        apply = _HANDLERS[type(command)]
    except KeyError:
        raise TypeError(f"unknown command {type(command).__name__}") from None
    return apply(case, ctx)


# --- Contact ----------------------------------------------------------------------------------------------


def contact_limit(attempts: Iterable[tuple[datetime, AttemptOutcome]], now: datetime,
                  rules: Rules) -> tuple[str, datetime] | None:
    """Whether the client's attempts (moment, outcome) forbid a call at `now`: ("refusal_quiet_period" |
    "too_many_attempts", the first moment a call is allowed again), or None. The App Home asks it too."""
    attempts = list(attempts)
    refusals = [at for at, outcome in attempts if outcome is AttemptOutcome.refused]
    if refusals and now - max(refusals) < timedelta(days=rules.refusal_quiet_days):
        return "refusal_quiet_period", max(refusals) + timedelta(days=rules.refusal_quiet_days)
    window = [at for at, _outcome in attempts if now - at < timedelta(days=rules.attempts_window_days)]
    if len(window) >= rules.max_attempts:
        return "too_many_attempts", min(window) + timedelta(days=rules.attempts_window_days)
    return None


def _calling_rules(case: Case, ctx: _Context) -> None:
    """Décret 2022-1313 (art. D.223-9 C. conso.): slots, 4 attempts in 30 days, 60 days after a refusal."""
    now, rules = ctx.now, ctx.rules
    limit = contact_limit(((a.at, a.outcome) for a in case.client_attempts), now, rules)
    if limit and limit[0] == "refusal_quiet_period":
        raise _refuse("refusal_quiet_period", days=rules.refusal_quiet_days, until=_day(limit[1], rules))
    if limit:
        raise _refuse("too_many_attempts", max=rules.max_attempts, days=rules.attempts_window_days,
                      until=_day(limit[1], rules))
    client_asked = (
        case.callback_client_requested
        and case.callback_at is not None
        and abs(now - case.callback_at) <= CLIENT_REQUESTED_GRACE
    )
    if not client_asked and not is_legal_call_time(now, case.client.postcode):
        raise _refuse("outside_calling_hours")


def _day(moment: datetime, rules: Rules) -> str:
    return moment.astimezone(ZoneInfo(rules.agency_timezone)).strftime("%d/%m/%Y")


def _start_call(case: Case, ctx: _Context) -> list[Fact]:
    caller = _text(ctx.command.caller)
    if not caller:
        raise _refuse("caller_missing")
    if case.opened_at is None:  # waiting for its M+3 date, or set aside as out of time: no call yet
        raise _refuse("case_not_opened")
    _check(case, ctx)
    _calling_rules(case, ctx)  # warn before the agent dials, not after
    facts = _move(case, ctx)
    case.caller = caller
    variant = "seller" if caller == case.seller else "colleague"
    return [Fact("call_started", {"caller": caller, "variant": variant}), *facts]


def _record_attempt(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.RecordAttempt = ctx.command
    _check(case, ctx)
    _calling_rules(case, ctx)
    if command.outcome is AttemptOutcome.callback:
        _check_callback(case, ctx)
    facts = _move(case, ctx)
    attempt = Attempt(at=ctx.now, by=ctx.actor, outcome=command.outcome, callback_at=command.callback_at,
                      client_requested=command.client_requested, case_id=case.id)
    case.client_attempts.append(attempt)
    case.callback_at = command.callback_at
    case.callback_client_requested = command.client_requested
    if command.outcome is AttemptOutcome.refused:
        case.close_reason = CloseReason.refused
        case.closed_at = ctx.now
    data = {"outcome": command.outcome.value, "channel": attempt.channel,
            "callback_at": _iso(command.callback_at), "client_requested": command.client_requested}
    return [Fact("attempt_recorded", data), *facts]


def _check_callback(case: Case, ctx: _Context) -> None:
    command: cmd.RecordAttempt = ctx.command
    at = command.callback_at
    if at is None:
        raise _refuse("callback_time_missing")
    if at.tzinfo is None:
        raise ValueError("callback_at must be timezone-aware")
    if at <= ctx.now:
        raise _refuse("callback_in_past")
    if not command.client_requested and not is_legal_call_time(at, case.client.postcode):
        raise _refuse("callback_outside_calling_hours")


def _callback_due(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    if case.state is State.contact_attempt:
        return []
    return [Fact("callback_due", {"callback_at": _iso(case.callback_at)}), *_move(case, ctx)]


# --- Administrative steps ---------------------------------------------------------------------------------


def _answer_profile(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.AnswerProfile = ctx.command
    _check(case, ctx)
    if command.field not in case.client.profile_fields():
        raise _refuse("unknown_field")
    new_value, naf_version = _new_profile_value(case, ctx)
    previous = case.profile.get(command.field)
    if previous is not None and previous.answer is command.answer and (
        command.answer is not ProfileAnswer.modified or previous.new_value == new_value
    ):
        return []  # the same answer again (a double click): nothing happens twice
    facts: list[Fact] = []
    if previous is not None:
        _undo_profile(case, previous)
        facts.append(Fact("profile_corrected", {"field": command.field, "previous_answer": previous.answer.value,
                                                "previous_value": previous.new_value}))
    old_value = case.client.value(command.field)
    if command.answer is not ProfileAnswer.modified:
        new_value = old_value
    case.profile[command.field] = ProfileCheck(field=command.field, answer=command.answer, old_value=old_value,
                                               new_value=new_value, at=ctx.now, by=ctx.actor)
    setattr(case.client, command.field, new_value)
    if naf_version:
        case.client.naf_version = naf_version
    facts.append(Fact("profile_answered", {"field": command.field, "answer": command.answer.value,
                                           "old_value": old_value, "new_value": new_value}))
    if command.field == "professional_status" and command.answer is ProfileAnswer.modified and is_tns(new_value):
        facts += _turn_into_tns(case, ctx)
    return facts


def _new_profile_value(case: Case, ctx: _Context) -> tuple[str | None, str | None]:
    """The normalised new value of a `Modifié` answer (and the NAF nomenclature version), or a refusal."""
    command: cmd.AnswerProfile = ctx.command
    if command.answer is not ProfileAnswer.modified:
        return None, None
    if not (command.new_value or "").strip():
        raise _refuse("new_value_missing", field=texts.t(f"labels.field.{command.field}"))
    try:
        if command.field == "naf":
            return normalize_naf(command.new_value, ctx.today)
        return normalize_field(command.field, command.new_value, postcode=case.client.postcode, on=ctx.today), None
    except Invalid as error:
        raise Refused(str(error)) from error


def _undo_profile(case: Case, previous: ProfileCheck) -> None:
    """A correction starts again from the file as it was before the mistaken answer."""
    setattr(case.client, previous.field, previous.old_value)
    if previous.field == "professional_status":
        for derived in ("client_type", "account_manager"):
            check = case.profile.pop(derived, None)
            if check is not None:
                _set_client(case, derived, check.old_value)


def _set_client(case: Case, name: str, value: str | None) -> None:
    setattr(case.client, name, ClientType(value) if name == "client_type" else value)


def _turn_into_tns(case: Case, ctx: _Context) -> list[Fact]:
    """Guide 4.3: a TNS detected, even with a personal contract only, makes the file "client pro/TNS" and gives
    it the professional account manager; the agent on the call keeps the case."""
    if case.client.client_type is ClientType.tns:
        return []
    facts = [Fact("tns_detected", {"previous_type": case.client.client_type.value})]
    changes = {"client_type": (case.client.client_type.value, ClientType.tns.value)}
    if ctx.rules.pro_account_manager:
        changes["account_manager"] = (case.client.account_manager, ctx.rules.pro_account_manager)
    for name, (old, new) in changes.items():
        case.profile[name] = ProfileCheck(field=name, answer=ProfileAnswer.modified, old_value=old, new_value=new,
                                          at=ctx.now, by=ctx.actor)
        _set_client(case, name, new)
        facts.append(Fact("profile_answered", {"field": name, "answer": "modified", "old_value": old, "new_value": new}))
    return facts


def _validate_profile(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    facts = _move(case, ctx)
    case.admin_profile_done_at = ctx.now
    changed = sorted(f for f, c in case.profile.items() if c.answer is ProfileAnswer.modified)
    return [Fact("profile_validated", {"changed": changed}), *facts]


def _answer_contract(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.AnswerContract = ctx.command
    _check(case, ctx)
    if command.contract_number not in {c.number for c in case.contracts}:
        raise _refuse("unknown_contract")
    keep_details = command.answer is not ContractAnswer.signed
    piece = _text(command.piece) if keep_details else None
    recovery = _text(command.recovery) if keep_details else None
    if command.answer is ContractAnswer.missing_piece and not (piece and recovery):
        raise _refuse("missing_piece_details")
    previous = case.contract_checks.get(command.contract_number)
    if previous is not None and (previous.answer, previous.piece, previous.recovery) == (command.answer, piece, recovery):
        return []
    facts = [] if previous is None else [Fact("contract_corrected", {"contract": command.contract_number,
                                                                     "previous_answer": previous.answer.value})]
    case.contract_checks[command.contract_number] = ContractCheck(
        contract_number=command.contract_number, answer=command.answer, at=ctx.now, by=ctx.actor,
        piece=piece, recovery=recovery,
    )
    facts.append(Fact("contract_answered", {"contract": command.contract_number, "answer": command.answer.value,
                                            "piece": piece, "recovery": recovery}))
    return facts


def _validate_contracts(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    facts = _move(case, ctx)
    case.admin_contracts_done_at = ctx.now
    missing = [{"contract": c.contract_number, "answer": c.answer.value, "piece": c.piece}
               for c in case.contract_checks.values() if c.answer is not ContractAnswer.signed]
    return [Fact("contracts_validated", {"missing": missing}), *facts]


# --- Commercial rebound -----------------------------------------------------------------------------------


def _record_agreement(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.RecordAgreement = ctx.command
    _check(case, ctx)
    wording = _text(command.wording)
    if not wording:
        raise _refuse("agreement_wording_missing")
    if not command.agreed and case.protections:
        raise _refuse("agreement_after_answers")
    previous = case.agreement
    if previous is not None and (previous.agreed, previous.wording) == (command.agreed, wording):
        return []
    facts = [] if previous is None else [Fact("agreement_corrected", {"previous": previous.agreed})]
    case.agreement = Agreement(at=ctx.now, by=ctx.actor, wording=wording, agreed=command.agreed)
    return [*facts, Fact("agreement_recorded", {"agreed": command.agreed, "wording": wording})]


def _protection_label(code: str) -> str:
    for item in texts.data("catalog.protections"):
        if item["code"] == code:
            return item["label"]
    raise _refuse("unknown_protection")


def _answer_protection(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.AnswerProtection = ctx.command
    _check(case, ctx)
    _protection_label(command.protection)
    elsewhere = command.answer is ProtectionAnswer.elsewhere
    insurer = _text(command.insurer) if elsewhere else None
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
        renewal_on=renewal_on, priority=keep_priority, reason=previous.reason if keep_priority else None,
    )
    facts.append(Fact("protection_answered", {"protection": command.protection, "answer": command.answer.value,
                                              "insurer": insurer, "renewal_on": _iso(renewal_on)}))
    return facts


def _set_priority(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.SetPriority = ctx.command
    _check(case, ctx)
    check = case.protections.get(command.protection)
    if check is None or check.answer is ProtectionAnswer.elsewhere:
        raise _refuse("priority_needs_gap")
    reason = _text(command.reason) if command.priority else None
    if command.priority and not reason:
        raise _refuse("priority_reason_missing")
    if (check.priority, check.reason) == (command.priority, reason):
        return []
    others = [p for p in priorities(case) if p.protection != command.protection]
    if command.priority and len(others) >= ctx.rules.max_priorities:
        raise _refuse("too_many_priorities", max=ctx.rules.max_priorities)
    check.priority = command.priority
    check.reason = reason
    return [Fact("priority_set", {"protection": command.protection, "priority": command.priority, "reason": reason})]


def _record_need(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    text = _text(ctx.command.text)
    if not text:
        raise _refuse("need_missing")
    case.needs.append(Need(text=text, at=ctx.now, by=ctx.actor))
    return [Fact("need_recorded", {"text": text})]


def _finish_rebound(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    facts = _move(case, ctx)
    case.rebound_done_at = ctx.now
    answers = case.protections.values()
    summary = {
        "agreed": case.agreement.agreed if case.agreement else None,
        "elsewhere": sorted(p.protection for p in answers if p.answer is ProtectionAnswer.elsewhere),
        "gaps": sorted(p.protection for p in answers if p.answer is not ProtectionAnswer.elsewhere),
        "priorities": sorted(p.protection for p in priorities(case)),
    }
    return [Fact("rebound_finished", summary), *facts]


# --- Action plan and closing ------------------------------------------------------------------------------


def _add_action(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.AddAction = ctx.command
    _check(case, ctx)
    owner = _text(command.owner)
    if not owner:
        raise _refuse("action_owner_missing")
    if command.due_on < ctx.today:
        raise _refuse("action_in_past")
    if command.purpose not in (None, BILAN_GLOBAL):
        raise _refuse("unknown_purpose")
    action = Action(kind=command.kind, due_on=command.due_on, owner=owner, created_at=ctx.now,
                    created_by=ctx.actor, purpose=command.purpose, reason=_text(command.reason))
    case.actions.append(action)
    return [Fact("action_added", {"kind": action.kind.value, "due_on": action.due_on.isoformat(), "owner": owner,
                                  "purpose": action.purpose, "reason": action.reason})]


def _find_action(case: Case, action_id: int) -> Action:
    for action in case.actions:
        if action.id == action_id:
            return action
    raise _refuse("unknown_action")


def _remove_action(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    action = _find_action(case, ctx.command.action_id)
    if action.status is ActionStatus.cancelled:
        return []
    if action.status is not ActionStatus.todo:
        raise _refuse("action_not_pending")
    action.status = ActionStatus.cancelled
    return [Fact("action_removed", {"action_id": action.id, "kind": action.kind.value})]


def _complete_action(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    action = _find_action(case, ctx.command.action_id)
    if action.status is ActionStatus.done:
        return []  # a second click on "fait" from an old reminder is not an error
    if action.status is ActionStatus.cancelled:
        raise _refuse("action_not_pending")
    action.status = ActionStatus.done
    action.done_at = ctx.now
    return [Fact("action_completed", {"action_id": action.id, "kind": action.kind.value})]


def _close(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    facts = _move(case, ctx)
    case.close_reason = CloseReason.completed
    case.closed_at = ctx.now
    plan = [{"kind": a.kind.value, "due_on": a.due_on.isoformat(), "owner": a.owner} for a in active_actions(case)]
    return [Fact("case_closed", {"reason": CloseReason.completed.value, "plan": plan}), *facts]


def _close_early(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.CloseEarly = ctx.command
    if command.reason is CloseReason.completed:
        raise _refuse("close_completed_needs_plan")
    _check(case, ctx)
    note = _text(command.note)
    if command.reason is CloseReason.out_of_time:
        if case.out_of_time_at is None or case.opened_at is not None:
            raise _refuse("not_out_of_time")
        if not note:
            raise _refuse("out_of_time_reason_missing")
    facts = _move(case, ctx)
    case.close_reason = command.reason
    case.close_note = note
    case.closed_at = ctx.now
    if command.reason is CloseReason.refused:
        # The client refused during the call: recorded as a refusal so the 60-day quiet period applies to
        # every agent. It also counts as an attempt, which errs on the side of calling him less.
        case.client_attempts.append(Attempt(at=ctx.now, by=ctx.actor, outcome=AttemptOutcome.refused, case_id=case.id))
    return [Fact("case_closed", {"reason": command.reason.value, "note": note}), *facts]


def _reassign(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    agent = _text(ctx.command.agent)
    if not agent:
        raise _refuse("agent_missing")
    if agent == case.agent:
        return []
    previous, case.agent = case.agent, agent
    return [Fact("case_reassigned", {"from": previous, "to": agent})]


def _text(value: str | None) -> str | None:
    """Free text from the agent: stripped, empty as None, bounded so a pasted page cannot flood the trail."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_FREE_TEXT:
        raise _refuse("text_too_long", max=MAX_FREE_TEXT)
    return value


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_HANDLERS: dict[type, Callable[[Case, _Context], list[Fact]]] = {
    cmd.StartCall: _start_call,
    cmd.RecordAttempt: _record_attempt,
    cmd.CallbackDue: _callback_due,
    cmd.AnswerProfile: _answer_profile,
    cmd.ValidateProfile: _validate_profile,
    cmd.AnswerContract: _answer_contract,
    cmd.ValidateContracts: _validate_contracts,
    cmd.RecordAgreement: _record_agreement,
    cmd.AnswerProtection: _answer_protection,
    cmd.SetPriority: _set_priority,
    cmd.RecordNeed: _record_need,
    cmd.FinishRebound: _finish_rebound,
    cmd.AddAction: _add_action,
    cmd.RemoveAction: _remove_action,
    cmd.CompleteAction: _complete_action,
    cmd.Close: _close,
    cmd.CloseEarly: _close_early,
    cmd.Reassign: _reassign,
}
