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
    ActionKind,
    ActionStatus,
    Agreement,
    Aim,
    Attempt,
    AttemptOutcome,
    Case,
    ClientFile,
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
from flows.validation import Invalid, is_tns, normalize_field, normalize_naf, normalize_postcode, postcode_from_address

MAX_FREE_TEXT = 1000
BILAN_GLOBAL = "bilan_global"


class Refused(Exception):
    """The command breaks a rule of the guide or the law; `reason` is French, shown to the agent as is, and
    `code` (when the rule has one) is its key in `flows/texts/reasons.yml`, stable for callers and tests."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Fact:
    """One thing that happened, as the audit trail records it (`data` is JSON-serialisable)."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


def _refuse(key: str, **values: Any) -> Refused:
    return Refused(texts.t(f"reasons.{key}", **values), key)


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


def _rebound_incomplete(case: Case, ctx: _Context) -> str | None:
    if client_commercial_bar(case.client, ctx.today) is not None:
        return None  # opposition or quiet period: there is no rebound to hold, the plan stays administrative
    if case.agreement is None:
        return texts.t("reasons.agreement_missing")
    if not case.agreement.given:
        return None  # the client declined the rebound: the plan may hold the administrative follow-ups
    missing = [code for code in structuring_protections(case) if code not in case.protections]
    if missing:
        labels = ", ".join(_protection_label(code) for code in missing)
        return texts.t("reasons.protections_unanswered", protections=labels)
    return None


def _plan_missing(case: Case, ctx: _Context) -> str | None:
    if not active_actions(case) and commercial_refusal(case, ctx.today) is None:
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
    # Consent gates the commercial answers (`_require_consent`), checked after the state.
    {"trigger": "withdraw_agreement", "source": [State.commercial_rebound, State.action_plan], "dest": None},
    {"trigger": "answer_protection", "source": State.commercial_rebound, "dest": None},
    {"trigger": "set_priority", "source": State.commercial_rebound, "dest": None},
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
    # An opposition is the client's, not the case's: set or lifted from any case, closed ones included.
    {"trigger": "set_opposition", "source": [s.value for s in State], "dest": None},
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


_ADMIN_FIRST = {"record_agreement", "withdraw_agreement", "answer_protection", "set_priority", "finish_rebound",
                "record_need", "add_action", "remove_action", "close"}
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
    if isinstance(command, cmd.SetOpposition) and not command.opposed and not is_lead:
        raise _refuse("opposition_lift_lead_only")
    if is_lead:
        return
    if actor is None or actor not in {case.agent, case.seller}:
        raise _refuse("not_your_case")


def listing_scope(actor: str | None, *, is_lead: bool) -> str | None:
    """Whose cases a user may see in any list (command, modal, Home): None means every case (a lead); an
    agent's e-mail means the cases assigned to or sold by him, those `authorize` lets him act on; anyone
    else (a workspace member who is neither) is refused and sees none."""
    if is_lead:
        return None
    if actor is None:
        raise _refuse("lists_for_agents")
    return actor


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
    if case.agreement is None or case.agreement.given:
        steps += [code in case.protections for code in structuring]
    return sum(steps), len(steps)


# --- Consent: what may be recorded for the commercial part ------------------------------------------------


def client_commercial_bar(client: ClientFile, today: date) -> Refused | None:
    """Why no commercial rebound may even be asked of this client today: his opposition, or the quiet period
    after he declined one; None when the consent question may be put."""
    if client.opposition_at is not None:
        return _refuse("opposition", since=client.opposition_at.strftime("%d/%m/%Y"))
    if client.no_commercial_until is not None and today < client.no_commercial_until:
        return _refuse("rebound_quiet_period", until=client.no_commercial_until.strftime("%d/%m/%Y"))
    return None


def commercial_refusal(case: Case, today: date) -> Refused | None:
    """Why nothing commercial (protection, priority, need, commercial action) may be recorded on this case
    today, or None when the client's agreement is given and holds. Views use it to offer the buttons."""
    agreement = case.agreement
    if (bar := client_commercial_bar(case.client, today)) is not None and (agreement is None or agreement.given):
        return bar
    if agreement is None:
        return _refuse("agreement_missing")
    if agreement.withdrawn_at is not None:
        return _refuse("agreement_withdrawn", when=agreement.withdrawn_at.strftime("%d/%m/%Y %H:%M"))
    if not agreement.agreed:
        return _refuse("agreement_declined")
    return None


def action_aim(kind: ActionKind, purpose: str | None, aim: Aim) -> Aim:
    """A devis and the global review are commercial whatever the agent says; a relance or an RDV is what
    he says it is (a missing piece, documents to bring: administrative)."""
    return Aim.commercial if kind is ActionKind.devis or purpose == BILAN_GLOBAL else aim


def reminder_barred(case: Case, action: Action, today: date) -> bool:
    """A commercial action's reminder is not sent once consent is gone (declined, withdrawn, opposition,
    quiet period): no commercial call may come of it."""
    return action.aim is Aim.commercial and commercial_refusal(case, today) is not None


def _require_consent(case: Case, ctx: _Context) -> None:
    if (refusal := commercial_refusal(case, ctx.today)) is not None:
        raise refusal


def _quiet_after_refusal(case: Case, ctx: _Context) -> None:
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
    if not in_express_window(case, now, rules) and not is_legal_call_time(now, case.client.postcode):
        raise _refuse("outside_calling_hours")


def in_express_window(case: Case, now: datetime, rules: Rules) -> bool:
    """Whether `now` is inside the exception of a callback the client asked for at that exact time: from the
    booked time to `express_request_minutes` after it, for this case's booking, until its one attempt is
    recorded (recording it replaces the booking)."""
    at = case.callback_at
    return (
        case.callback_client_requested
        and at is not None
        and at <= now <= at + timedelta(minutes=rules.express_request_minutes)
    )


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
    wording = None
    booked = command.outcome is AttemptOutcome.callback
    if booked:
        wording = _check_callback(case, ctx)
    # Only "Rappeler plus tard" books a time: any other outcome ends the booking (and its exception).
    callback_at = command.callback_at if booked else None
    client_requested = command.client_requested if booked else False
    facts = _move(case, ctx)
    attempt = Attempt(at=ctx.now, by=ctx.actor, outcome=command.outcome, callback_at=callback_at,
                      client_requested=client_requested, case_id=case.id)
    case.client_attempts.append(attempt)
    case.callback_at = callback_at
    case.callback_client_requested = client_requested
    if command.outcome is AttemptOutcome.refused:
        case.close_reason = CloseReason.refused
        case.closed_at = ctx.now
    data = {"outcome": command.outcome.value, "channel": attempt.channel,
            "callback_at": _iso(callback_at), "client_requested": client_requested}
    facts.insert(0, Fact("attempt_recorded", data))
    if wording is not None:
        facts.append(Fact("express_request_booked", {"callback_at": _iso(callback_at), "wording": wording,
                                                     "window_minutes": ctx.rules.express_request_minutes}))
    return facts


def _check_callback(case: Case, ctx: _Context) -> str | None:
    """Refuse a callback that may not be booked; returns the client's words when he asked for that time."""
    command: cmd.RecordAttempt = ctx.command
    at = command.callback_at
    if at is None:
        raise _refuse("callback_time_missing")
    if at.tzinfo is None:
        raise ValueError("callback_at must be timezone-aware")
    if at <= ctx.now:
        raise _refuse("callback_in_past")
    if not command.client_requested:
        if not is_legal_call_time(at, case.client.postcode):
            raise _refuse("callback_outside_calling_hours")
        return None
    if in_express_window(case, ctx.now, ctx.rules):
        raise _refuse("express_from_express")  # an exception may not be chained into the night
    wording = _text(command.request_wording)
    if not wording:
        raise _refuse("express_wording_missing")
    return wording


def _callback_due(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    if ctx.command.dialling:
        _calling_rules(case, ctx)  # "call now": refused before the agent dials
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
    postcode = _new_postcode(ctx, new_value)
    previous = case.profile.get(command.field)
    if previous is not None and previous.answer is command.answer and (
        command.answer is not ProfileAnswer.modified
        or (previous.new_value == new_value and postcode in (None, case.client.postcode))
    ):
        return []  # the same answer again (a double click): nothing happens twice
    if command.answer is ProfileAnswer.confirmed and not confirmable(case, command.field):
        raise _refuse("confirm_empty", field=texts.t(f"labels.field.{command.field}"))
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
    if postcode is not None and postcode != case.client.postcode:
        # The postcode gives the client's time zone and public holidays: it follows the address.
        case.profile["postcode"] = ProfileCheck(field="postcode", answer=ProfileAnswer.modified,
                                                old_value=case.client.postcode, new_value=postcode,
                                                at=ctx.now, by=ctx.actor)
        facts.append(Fact("postcode_changed", {"old_value": case.client.postcode, "new_value": postcode}))
        case.client.postcode = postcode
    if command.field == "professional_status" and command.answer is ProfileAnswer.modified and is_tns(new_value):
        facts += _turn_into_tns(case, ctx)
    return facts


def confirmable(case: Case, field: str) -> bool:
    """Whether `Confirmé` may answer a field: not when the file holds nothing for it (before this call's
    answers); an empty field is given (Modifié) or recorded as not communicated."""
    previous = case.profile.get(field)
    on_file = previous.old_value if previous is not None else case.client.value(field)
    return bool((on_file or "").strip())


def _new_postcode(ctx: _Context, new_address: str | None) -> str | None:
    """The postcode that comes with a changed address (given, else read from it), or None for any other
    answer; an address without one is refused."""
    command: cmd.AnswerProfile = ctx.command
    if command.field != "address" or command.answer is not ProfileAnswer.modified:
        return None
    given = command.postcode or postcode_from_address(new_address)
    if not (given or "").strip():
        raise _refuse("postcode_missing")
    try:
        return normalize_postcode(given)
    except Invalid as error:
        raise Refused(str(error)) from error


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
    if previous.field == "address" and (check := case.profile.pop("postcode", None)) is not None:
        case.client.postcode = check.old_value
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
    """The consent question's answer, recorded once: a given agreement can only be withdrawn afterwards,
    a refusal is final for the case (and starts the quiet period)."""
    command: cmd.RecordAgreement = ctx.command
    _check(case, ctx)
    wording = _text(command.wording)
    if not wording:
        raise _refuse("agreement_wording_missing")
    previous = case.agreement
    if previous is not None:
        if (previous.agreed, previous.wording) == (command.agreed, wording):
            return []  # a double click
        raise _refuse("agreement_already_recorded")
    if (bar := client_commercial_bar(case.client, ctx.today)) is not None:
        raise bar
    case.agreement = Agreement(at=ctx.now, by=ctx.actor, wording=wording, agreed=command.agreed)
    data = {"wording": wording, "at": _iso(ctx.now)}
    if command.agreed:
        return [Fact("consent_given", data)]
    _quiet_after_refusal(case, ctx)
    return [Fact("consent_declined", data | {"no_commercial_until": _iso(case.client.no_commercial_until)})]


def _withdraw_agreement(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    agreement = case.agreement
    if agreement is None or not agreement.agreed:
        raise _refuse("agreement_not_given")
    if agreement.withdrawn_at is not None:
        return []  # a double click
    wording = _text(ctx.command.wording)
    agreement.withdrawn_at = ctx.now
    _quiet_after_refusal(case, ctx)
    data = {"wording": wording, "at": _iso(ctx.now), "given_at": _iso(agreement.at),
            "no_commercial_until": _iso(case.client.no_commercial_until)}
    return [Fact("consent_withdrawn", data), *_cancel_commercial_actions(case, "consent_withdrawn")]


def _set_opposition(case: Case, ctx: _Context) -> list[Fact]:
    _check(case, ctx)
    client = case.client
    if ctx.command.opposed:
        if client.opposition_at is not None:
            return []
        client.opposition_at = ctx.now
        return [Fact("opposition_set", {"at": _iso(ctx.now)}), *_cancel_commercial_actions(case, "opposition")]
    if client.opposition_at is None:
        return []
    since, client.opposition_at = client.opposition_at, None
    return [Fact("opposition_lifted", {"at": _iso(ctx.now), "set_at": _iso(since)})]


def _protection_label(code: str) -> str:
    for item in texts.data("catalog.protections"):
        if item["code"] == code:
            return item["label"]
    raise _refuse("unknown_protection")


def _answer_protection(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.AnswerProtection = ctx.command
    _check(case, ctx)
    _require_consent(case, ctx)
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
    _require_consent(case, ctx)
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
    _require_consent(case, ctx)
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
        "agreed": case.agreement.given if case.agreement else None,
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
    aim = action_aim(command.kind, command.purpose, command.aim)
    if aim is Aim.commercial:
        _require_consent(case, ctx)
    action = Action(kind=command.kind, due_on=command.due_on, owner=owner, created_at=ctx.now,
                    created_by=ctx.actor, purpose=command.purpose, reason=_text(command.reason), aim=aim)
    case.actions.append(action)
    return [Fact("action_added", {"kind": action.kind.value, "due_on": action.due_on.isoformat(), "owner": owner,
                                  "purpose": action.purpose, "reason": action.reason, "aim": aim.value})]


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
    # Without the client's agreement the call ends as "rebond refusé", not as a completed rebound.
    reason = CloseReason.completed if commercial_refusal(case, ctx.today) is None else CloseReason.rebound_refused
    facts = _move(case, ctx)
    case.close_reason = reason
    case.closed_at = ctx.now
    plan = [{"kind": a.kind.value, "due_on": a.due_on.isoformat(), "owner": a.owner} for a in active_actions(case)]
    return [Fact("case_closed", {"reason": reason.value, "plan": plan}), *facts]


def _close_early(case: Case, ctx: _Context) -> list[Fact]:
    command: cmd.CloseEarly = ctx.command
    if command.reason in (CloseReason.completed, CloseReason.rebound_refused):
        raise _refuse("close_completed_needs_plan")
    if command.reason is CloseReason.rgpd_erased:
        raise _refuse("close_rgpd_erased_reserved")  # only the erase itself closes a case so
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
    cmd.WithdrawAgreement: _withdraw_agreement,
    cmd.SetOpposition: _set_opposition,
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
