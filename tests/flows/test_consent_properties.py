"""Random command sequences on two cases of one client never record a commercial fact without the client's
agreement given, after he withdrew it, or under his opposition; and never call outside the rules.

Each property reads what happened back from the facts alone, as an auditor reads the trail."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wording
from flows import commands as cmd
from flows.calling_hours import is_legal_call_time
from flows.case import (
    PERSONAL_FIELDS,
    PRO_FIELDS,
    ActionKind,
    Aim,
    AttemptOutcome,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
)
from flows.engine import Refused, handle
from flows.rules import Rules
from tests.flows.factories import AGENT, NOW, make_case

PROTECTIONS = ["pj", "gav", "prevoyance", "retraite"]
FAR = date(2030, 1, 7)
RULES = Rules()

consent_commands = st.one_of(
    st.builds(cmd.RecordAgreement, agreed=st.booleans(), wording=st.just("Puis-je vous parler de vos contrats ?")),
    st.builds(cmd.WithdrawAgreement, wording=st.sampled_from([None, "Je ne veux plus"])),
    st.builds(cmd.SetOpposition, opposed=st.booleans()),
    st.builds(cmd.AnswerProtection, protection=st.sampled_from(PROTECTIONS),
              answer=st.sampled_from(list(ProtectionAnswer)), insurer=st.just("MAIF")),
    st.builds(cmd.SetPriority, protection=st.sampled_from(PROTECTIONS), priority=st.booleans(),
              reason=st.just("besoin")),
    st.builds(cmd.RecordNeed, text=st.just("Une GAV")),
    st.just(cmd.FinishRebound()),
    st.builds(cmd.AddAction, kind=st.sampled_from(list(ActionKind)), due_on=st.just(FAR), owner=st.just(AGENT),
              purpose=st.sampled_from([None, "bilan_global"]), aim=st.sampled_from(list(Aim))),
    st.builds(cmd.RemoveAction, action_id=st.integers(1, 4)),
    st.just(cmd.Close()),
)

# What the rebound records for the commercial part (an action is commercial by its recorded aim).
COMMERCIAL = {"protection_answered", "protection_corrected", "priority_set", "need_recorded"}


def to_rebound(case) -> list:
    return [
        cmd.StartCall(caller=AGENT),
        cmd.RecordAttempt(AttemptOutcome.available),
        *(cmd.AnswerProfile(n, ProfileAnswer.not_given) for n in PERSONAL_FIELDS + PRO_FIELDS),
        cmd.ValidateProfile(),
        *(cmd.AnswerContract(c.number, ContractAnswer.signed) for c in case.contracts),
        cmd.ValidateContracts(),
    ]


def is_commercial(fact) -> bool:
    return fact.name in COMMERCIAL or (fact.name == "action_added" and fact.data["aim"] == Aim.commercial.value)


def check_trail(trail: list[tuple[int, str, dict]]) -> None:
    """Replay the facts of both cases in order: each commercial fact follows a consent given on its own case,
    not withdrawn since, while no opposition of the client stands and no rebound refusal is in its quiet
    period (`consent_given` itself may not be recorded then either)."""
    consent: dict[int, str] = {}  # case -> "given" | "declined" | "withdrawn"
    opposed = False
    quiet = False
    for case_id, name, data in trail:
        if name == "opposition_set":
            opposed = True
        elif name == "opposition_lifted":
            opposed = False
        elif name == "consent_given":
            assert not opposed and not quiet, "consent asked under an opposition or in a quiet period"
            consent[case_id] = "given"
        elif name in ("consent_declined", "consent_withdrawn"):
            consent[case_id] = name.removeprefix("consent_")
            quiet = True  # the whole sequence is shorter than the quiet period
        elif name in COMMERCIAL or (name == "action_added" and data["aim"] == "commercial"):
            assert consent.get(case_id) == "given", f"{name} on case {case_id} without consent given"
            assert not opposed, f"{name} under an opposition"
        if name == "action_added":
            assert data["kind"] != "devis" or data["aim"] == "commercial"


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reach=st.tuples(st.booleans(), st.booleans()),
    sequence=st.lists(st.tuples(st.integers(1, 2), consent_commands), max_size=40),
)
def test_no_sequence_records_a_commercial_fact_without_consent(reach, sequence):
    first = make_case()
    second = make_case()
    second.id = 2
    second.client = first.client  # one client, two cases: the opposition and the quiet period are his
    cases = {1: first, 2: second}
    trail: list[tuple[int, str, dict]] = []
    steps = [(n, c) for n in (1, 2) if reach[n - 1] for c in to_rebound(cases[n])] + sequence
    for step, (number, command) in enumerate(steps):
        case = cases[number]
        before = copy.deepcopy(cases)
        try:
            facts = handle(case, command, actor=AGENT, now=NOW + timedelta(seconds=step), rules=RULES)
        except Refused as refusal:
            assert wording.refusal(refusal)  # every refusal has its wording
            assert cases == before, f"{command} was refused but changed a case"
            continue
        for n, action in enumerate(case.actions, start=1):
            action.id = action.id or n  # as storage would on save
        trail += [(number, f.name, f.data) for f in facts]
        check_trail(trail)
        assert all(not is_commercial(f) for f in facts) or case.agreement is not None


# --- Calling rules ------------------------------------------------------------------------------------

# Tuesday 1 December 2026, 00:00 in Paris; times are drawn on a 5-minute grid across three days.
MIDNIGHT = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
moments = st.integers(0, 3 * 24 * 12).map(lambda n: MIDNIGHT + timedelta(minutes=5 * n))

calling_commands = st.one_of(
    st.builds(cmd.RecordAttempt, outcome=st.sampled_from([AttemptOutcome.no_answer, AttemptOutcome.callback]),
              callback_at=moments, client_requested=st.booleans(),
              request_wording=st.sampled_from([None, "Rappelez-moi à cette heure-là"])),
    st.builds(cmd.CallbackDue, dialling=st.booleans()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(st.tuples(moments, calling_commands), max_size=30))
def test_no_sequence_dials_outside_the_rules(sequence):
    case = make_case()
    handle(case, cmd.StartCall(caller=AGENT), actor=AGENT, now=NOW, rules=RULES)
    window = timedelta(minutes=RULES.express_request_minutes)
    booking: tuple[datetime, bool] | None = None  # the current booking, read from the facts
    express_used: set[datetime] = set()
    attempts: list[datetime] = []
    for now, command in sorted(sequence, key=lambda item: item[0]):
        before = copy.deepcopy(case)
        try:
            facts = handle(case, command, actor=AGENT, now=now, rules=RULES)
        except Refused:
            assert case == before
            continue
        dialled = isinstance(command, cmd.RecordAttempt) or (isinstance(command, cmd.CallbackDue) and command.dialling)
        if not dialled:
            continue
        express = booking is not None and booking[1] and booking[0] <= now <= booking[0] + window
        assert is_legal_call_time(now, case.client.postcode) or express, f"call at {now} out of the slots"
        assert len([a for a in attempts if now - a < timedelta(days=RULES.attempts_window_days)]) < RULES.max_attempts
        if isinstance(command, cmd.RecordAttempt):
            if not is_legal_call_time(now, case.client.postcode):
                assert booking[0] not in express_used, "one attempt only per express request"
                express_used.add(booking[0])
            attempts.append(now)
            booked = next(f for f in facts if f.name == "attempt_recorded").data
            if booked["client_requested"]:
                assert not express, "an express request booked from inside another"
                assert any(f.name == "express_request_booked" and f.data["wording"] for f in facts)
            at = booked["callback_at"]
            booking = (datetime.fromisoformat(at), booked["client_requested"]) if at else None
