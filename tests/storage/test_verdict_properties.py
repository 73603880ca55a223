"""Random command sequences, valid and not, driven through the real engine and the unit of work to a closed
case: the verdict read back from the stored trail matches the case as stored, on both databases.

The stored case keeps only the last consent answer and each item's time, not the order in which answers
changed, so the check of the commercial rules against it goes one way where the consent was re-recorded: a
commercial fact the verdict flags always has its witness in the stored case (recorded before the stored
consent, or the stored consent is not given), and a stored case with commercial items but no consent given
always has its deviation.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from flows import commands as cmd
from flows.case import Action, ActionKind, Case, ClientType, CloseReason, State
from flows.engine import Refused, handle
from flows.rules import Rules
from flows.verdict import COMMERCIAL_AIM, COMMERCIAL_KINDS, COMMERCIAL_PURPOSES, TrailFact, Verdict, verdict
from service.unit_of_work import unit_of_work
from storage.compliance import case_verdict
from storage.repository import load_case
from tests.conftest import Factory, client_file, contract
from tests.flows.factories import AGENT, NOW
from tests.flows.test_engine_properties import commands, happy_path

CLIENT_NUMBERS = (f"P{n}" for n in itertools.count())
COMMERCIAL_CODES = {"commercial_before_consent", "commercial_after_refusal", "commercial_under_opposition"}
ADMIN_CODES = {"profile_missing", "profile_late", "contracts_missing", "contracts_late"}

# Besides the engine property test's commands: needs, proposals with or without a purpose and a reason, and
# consent answers with another wording, so that consent is re-recorded, declined then given, and so on.
extra_commands = st.one_of(
    st.builds(cmd.RecordNeed, text=st.sampled_from(["changer de voiture", ""])),
    st.builds(cmd.AddAction, kind=st.sampled_from(list(ActionKind)), due_on=st.just(date(2026, 12, 20)),
              owner=st.just(AGENT), purpose=st.sampled_from([None, "bilan_global"]),
              reason=st.sampled_from([None, "GAV absente"])),
    st.builds(cmd.RecordAgreement, agreed=st.booleans(), wording=st.sampled_from(["Question ?", "Autre question ?"])),
)


def is_proposal(action: Action) -> bool:
    """A devis, a global review, or an action whose aim is commercial (where actions carry an aim)."""
    return (action.kind.value in COMMERCIAL_KINDS or action.purpose in COMMERCIAL_PURPOSES
            or getattr(action, "aim", None) == COMMERCIAL_AIM)


def drive(engine, case_id: int, opening: list, sequence: list) -> list[TrailFact]:
    """`opening` in one unit of work (a quick way to any later state), then each command of `sequence` in its
    own, as a click; a refusal is the engine's answer, not a failure (it leaves the case untouched). Returns
    the facts the engine gave, with the time the unit of work records them at."""
    given: list[TrailFact] = []
    for step, commands_now in enumerate([opening, *([c] for c in sequence)]):
        now = NOW + timedelta(minutes=step)
        with unit_of_work(engine, case_id=case_id, actor=AGENT, now=now) as uow:
            if uow.case.state is State.closed:
                return given
            for command in commands_now:
                try:
                    facts = handle(uow.case, command, actor=AGENT, now=now, rules=Rules())
                except Refused:
                    continue
                uow.record(facts)
                given += [TrailFact(f.name, f.data, now) for f in facts]
    return given


def came_before(step_at: datetime | None, later: list[datetime]) -> bool:
    """Something that must follow the step is stored, and the step is missing or was validated after it."""
    return bool(later) and (step_at is None or step_at > min(later))


def assert_matches(found: Verdict, case: Case) -> None:
    """The verdict from the trail against the case as stored."""
    assert found.steps["profile_validated"] == case.admin_profile_done_at
    assert found.steps["contracts_validated"] == case.admin_contracts_done_at
    if case.agreement is None:
        assert found.consent is None
    else:
        assert (found.consent.agreed, found.consent.wording, found.consent.at) == (
            case.agreement.agreed, case.agreement.wording, case.agreement.at)
    assert found.needs == [n.text for n in case.needs]
    assert found.protections == {code: check.answer.value for code, check in case.protections.items()}
    assert found.priorities == {code: check.reason for code, check in case.protections.items() if check.priority}
    proposals = [a for a in case.actions if is_proposal(a)]
    assert [(p.kind, p.purpose, p.reason, p.at) for p in found.proposals] == [
        (a.kind.value, a.purpose, a.reason, a.created_at) for a in proposals]

    codes = {d.code for d in found.deviations}
    assert ("proposal_without_reason" in codes) == any(a.reason is None for a in proposals)
    assert ("priority_without_reason" in codes) == any(c.priority and not c.reason for c in case.protections.values())
    given = case.agreement is not None and case.agreement.agreed
    assert ("consent_wording_missing" in codes) == (given and not case.agreement.wording)
    completed = case.close_reason is CloseReason.completed
    assert ("consent_missing" in codes) == (completed and case.agreement is None)

    needs_times = [n.at for n in case.needs] + [c.at for c in case.protections.values()]
    commercial_times = needs_times + [a.created_at for a in proposals]
    if commercial_times and not given:
        assert codes & COMMERCIAL_CODES, "commercial items stored without consent given, and no deviation"
    if codes & COMMERCIAL_CODES:
        assert commercial_times and (not given or min(commercial_times) < case.agreement.at)
    # The opening walk runs in one unit of work (one time, the trail's order deciding), every later click at its
    # own minute: a need at the very time of a proposal came before it.
    unsupported = any(not any(t <= a.created_at for t in needs_times) for a in proposals)
    assert ("needs_missing" in codes) == (unsupported or (completed and given and not needs_times))

    after_contracts = [t for t in (case.agreement and case.agreement.at, completed and case.closed_at) if t]
    after_contracts += commercial_times
    after_profile = [t for t in (case.admin_contracts_done_at,) if t] + after_contracts
    admin_wrong = (came_before(case.admin_profile_done_at, after_profile)
                   or came_before(case.admin_contracts_done_at, after_contracts))
    assert bool(codes & ADMIN_CODES) == admin_wrong
    assert found.compliant == (not codes)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    client_type=st.sampled_from(list(ClientType)),
    contracts=st.integers(1, 2),
    # Half the draws start from the rebound or later, where the commercial rules and the proposals are.
    prefix=st.one_of(st.integers(0, 40), st.integers(17, 40)),
    agreed=st.booleans(),
    sequence=st.lists(st.one_of(commands, extra_commands, extra_commands), max_size=25),
)
def test_every_closed_cases_verdict_from_the_stored_trail_matches_the_case_as_stored(
    engine, client_type, contracts, prefix, agreed, sequence
):
    # A new client each example rather than emptied tables (much cheaper on PostgreSQL); the case is its own.
    number = next(CLIENT_NUMBERS)
    case_id = Factory(engine).case(client_file(number=number, client_type=client_type),
                                   [contract(number=f"{number}-{n}") for n in range(1, contracts + 1)])
    with Session(engine) as session:
        walk = happy_path(load_case(session, case_id, lock=False))
    walk = [cmd.RecordAgreement(agreed, c.wording) if isinstance(c, cmd.RecordAgreement) else c for c in walk]
    # Then to a close: the plan's, or early as a duplicate when there is no plan.
    given = drive(engine, case_id, walk[:prefix], [*sequence, cmd.Close(), cmd.CloseEarly(CloseReason.duplicate)])

    with Session(engine) as session:
        case = load_case(session, case_id, lock=False)
        found = case_verdict(session, case_id)
    assert case.state is State.closed
    event(f"closed {case.close_reason.value}")
    for deviation in {d.code for d in found.deviations}:
        event(deviation)  # `pytest --hypothesis-show-statistics` shows which deviations the draws reach
    assert found == verdict(given)  # the stored trail reads as the engine told it
    assert_matches(found, case)


def test_a_devis_without_its_reason_is_found_in_the_stored_trail(engine):
    """One sequence the property covers, spelled out: the whole call, then a devis without its reason."""
    case_id = Factory(engine).case()
    with Session(engine) as session:
        walk = happy_path(load_case(session, case_id, lock=False))
    drive(engine, case_id, walk, [cmd.AddAction(ActionKind.devis, date(2026, 12, 20), AGENT), cmd.Close()])
    with Session(engine) as session:
        case, found = load_case(session, case_id, lock=False), case_verdict(session, case_id)
    assert case.close_reason is CloseReason.completed
    assert_matches(found, case)
    assert [(d.code, d.at) for d in found.deviations] == [("proposal_without_reason", NOW + timedelta(minutes=1))]
