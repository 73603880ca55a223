"""Contact (guide 4.2): starting the call, each attempt's outcome, booked callbacks, and the calling rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from flows import commands as cmd
from flows import workflow
from flows.calling_hours import is_legal_call_time
from flows.case import Attempt, AttemptOutcome, Case, CloseReason, State
from flows.dates import numeric_day
from flows.rules import Rules
from flows.steps.common import Context, Fact, Refused, free_text, iso


def attempts_in_window(moments: Iterable[datetime], now: datetime, rules: Rules) -> list[datetime]:
    """The attempts the legal cap counts at `now`: those of the last `attempts_window_days` days."""
    return [at for at in moments if now - at < timedelta(days=rules.attempts_window_days)]


def contact_limit(attempts: Iterable[tuple[datetime, AttemptOutcome]], now: datetime,
                  rules: Rules) -> tuple[str, datetime] | None:
    """Whether the client's attempts (moment, outcome) forbid a call at `now`: ("refusal_quiet_period" |
    "too_many_attempts", the first moment a call is allowed again), or None. The App Home asks it too."""
    attempts = list(attempts)
    refusals = [at for at, outcome in attempts if outcome is AttemptOutcome.refused]
    if refusals and now - max(refusals) < timedelta(days=rules.refusal_quiet_days):
        return "refusal_quiet_period", max(refusals) + timedelta(days=rules.refusal_quiet_days)
    window = attempts_in_window((at for at, _outcome in attempts), now, rules)
    if len(window) >= rules.max_attempts:
        return "too_many_attempts", min(window) + timedelta(days=rules.attempts_window_days)
    return None


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


def _calling_rules(case: Case, ctx: Context) -> None:
    """Décret 2022-1313 (art. D.223-9 C. conso.): slots, 4 attempts in 30 days, 60 days after a refusal."""
    now, rules = ctx.now, ctx.rules
    limit = contact_limit(((a.at, a.outcome) for a in case.client_attempts), now, rules)
    if limit and limit[0] == "refusal_quiet_period":
        raise Refused("refusal_quiet_period", days=rules.refusal_quiet_days, until=numeric_day(limit[1], rules.agency_timezone))
    if limit:
        raise Refused("too_many_attempts", max=rules.max_attempts, days=rules.attempts_window_days,
                     until=numeric_day(limit[1], rules.agency_timezone))
    if not in_express_window(case, now, rules) and not is_legal_call_time(now, case.client.postcode):
        raise Refused("outside_calling_hours")


def start_call(case: Case, command: cmd.StartCall, ctx: Context) -> list[Fact]:
    caller = free_text(command.caller)
    if not caller:
        raise Refused("caller_missing")
    if case.opened_at is None:  # waiting for its M+3 date, or set aside as out of time: no call yet
        raise Refused("case_not_opened")
    move = workflow.allow(case, ctx)
    _calling_rules(case, ctx)  # warn before the agent dials, not after
    facts = move.apply()
    case.caller = caller
    variant = "seller" if caller == case.seller else "colleague"
    return [Fact("call_started", {"caller": caller, "variant": variant}), *facts]


def record_attempt(case: Case, command: cmd.RecordAttempt, ctx: Context) -> list[Fact]:
    move = workflow.allow(case, ctx)
    _calling_rules(case, ctx)
    wording = None
    booked = command.outcome is AttemptOutcome.callback
    if booked:
        wording = _check_callback(case, command, ctx)
    # Only "Rappeler plus tard" books a time: any other outcome ends the booking (and its exception).
    callback_at = command.callback_at if booked else None
    client_requested = command.client_requested if booked else False
    facts = move.apply()
    attempt = Attempt(at=ctx.now, by=ctx.actor, outcome=command.outcome, callback_at=callback_at,
                      client_requested=client_requested, case_id=case.id)
    case.client_attempts.append(attempt)
    case.callback_at = callback_at
    case.callback_client_requested = client_requested
    if command.outcome is AttemptOutcome.refused:
        case.close_reason = CloseReason.refused
        case.closed_at = ctx.now
    data = {"outcome": command.outcome.value, "channel": attempt.channel,
            "callback_at": iso(callback_at), "client_requested": client_requested}
    facts.insert(0, Fact("attempt_recorded", data))
    if wording is not None:
        facts.append(Fact("express_request_booked", {"callback_at": iso(callback_at), "wording": wording,
                                                     "window_minutes": ctx.rules.express_request_minutes}))
    return facts


def _check_callback(case: Case, command: cmd.RecordAttempt, ctx: Context) -> str | None:
    """Refuse a callback that may not be booked; returns the client's words when he asked for that time."""
    at = command.callback_at
    if at is None:
        raise Refused("callback_time_missing")
    if at.tzinfo is None:
        raise ValueError("callback_at must be timezone-aware")
    if at <= ctx.now:
        raise Refused("callback_in_past")
    if not command.client_requested:
        if not is_legal_call_time(at, case.client.postcode):
            raise Refused("callback_outside_calling_hours")
        return None
    if in_express_window(case, ctx.now, ctx.rules):
        raise Refused("express_from_express")  # an exception may not be chained into the night
    wording = free_text(command.request_wording)
    if not wording:
        raise Refused("express_wording_missing")
    return wording


def callback_due(case: Case, command: cmd.CallbackDue, ctx: Context) -> list[Fact]:
    move = workflow.allow(case, ctx)
    if command.dialling:
        _calling_rules(case, ctx)  # "call now": refused before the agent dials
    if case.state is State.contact_attempt:
        return []
    return [Fact("callback_due", {"callback_at": iso(case.callback_at)}), *move.apply()]
