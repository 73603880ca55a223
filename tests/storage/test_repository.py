"""A Case aggregate survives the trip through the tables, and saving it twice writes nothing new."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session, func, select

from flows.case import (
    Action,
    ActionKind,
    ActionStatus,
    Agreement,
    Attempt,
    AttemptOutcome,
    ClientType,
    ContractAnswer,
    ContractCheck,
    Need,
    ProfileAnswer,
    ProfileCheck,
    ProtectionAnswer,
    ProtectionCheck,
    State,
)
from storage import tables
from storage.repository import CaseNotFound, load_case, save_case
from tests.conftest import NOW, client_file, contract

AGENT = "vendeur@agence.fr"


def fill(case) -> None:
    """Answers of a whole call, as the engine would leave them."""
    at = NOW + timedelta(minutes=5)
    case.state = State.action_plan
    case.caller = AGENT
    case.client.client_type = ClientType.tns
    case.client.siren = "732829320"
    case.profile["phone"] = ProfileCheck("phone", ProfileAnswer.modified, "+33612345678", "+33687654321", at, AGENT)
    case.profile["email"] = ProfileCheck("email", ProfileAnswer.confirmed, None, None, at, AGENT)
    case.contract_checks["HAB-1"] = ContractCheck("HAB-1", ContractAnswer.missing_piece, at, AGENT, "RIB", "e-mail")
    case.agreement = Agreement(at, AGENT, "Pouvons-nous parler de vos autres contrats ?")
    case.protections["pj"] = ProtectionCheck(
        "pj", ProtectionAnswer.not_covered, at, AGENT, priority=True, reason="litige"
    )
    case.protections["sante"] = ProtectionCheck("sante", ProtectionAnswer.elsewhere, at, AGENT, insurer="MutX",
                                                renewal_on=date(2027, 1, 1))
    case.needs.append(Need("protéger sa famille", at, AGENT))
    case.actions.append(Action(ActionKind.rdv, date(2026, 7, 1), AGENT, at, AGENT, purpose="bilan_global"))
    case.client_attempts.append(Attempt(at, AGENT, AttemptOutcome.available))
    case.admin_profile_done_at = case.admin_contracts_done_at = case.rebound_done_at = at


def test_case_round_trips_through_save_and_load(engine, factory):
    case_id = factory.case(client_file(), [contract(), contract(number="HAB-1", product="habitation")])
    with Session(engine) as session, session.begin():
        case = load_case(session, case_id, lock=True, now=NOW)
        fill(case)
        save_case(session, case, now=NOW)
    assert case.actions[0].id is not None
    assert case.client_attempts[0].case_id == case_id

    with Session(engine) as session:
        assert load_case(session, case_id, lock=False, now=NOW) == case


def test_saving_an_unchanged_case_again_writes_nothing_new(engine, factory):
    case_id = factory.case(contracts=[contract(), contract(number="HAB-1")])
    with Session(engine) as session, session.begin():
        case = load_case(session, case_id, lock=True, now=NOW)
        fill(case)
        save_case(session, case, now=NOW)
    counts = {}
    for _ in range(2):
        with Session(engine) as session, session.begin():
            save_case(session, load_case(session, case_id, lock=True, now=NOW), now=NOW)
            counts = {
                model.__name__: session.exec(select(func.count()).select_from(model)).one()
                for model in (tables.CallAttempt, tables.Action, tables.Need, tables.ProfileCheck)
            }
            version = session.get(tables.M3Case, case_id).version
    assert counts == {"CallAttempt": 1, "Action": 1, "Need": 1, "ProfileCheck": 2}
    assert version == 1  # only the first save changed the case


def test_correcting_an_answer_updates_its_row_in_place(engine, factory):
    case_id = factory.case()
    with Session(engine) as session, session.begin():
        case = load_case(session, case_id, lock=True, now=NOW)
        case.profile["phone"] = ProfileCheck("phone", ProfileAnswer.confirmed, None, None, NOW, AGENT)
        case.actions.append(Action(ActionKind.devis, date(2026, 7, 1), AGENT, NOW, AGENT))
        save_case(session, case, now=NOW)
    with Session(engine) as session, session.begin():
        case = load_case(session, case_id, lock=True, now=NOW)
        case.profile["phone"] = ProfileCheck("phone", ProfileAnswer.not_given, None, None, NOW, AGENT)
        case.actions[0].status = ActionStatus.done
        save_case(session, case, now=NOW)

    with Session(engine) as session:
        row = session.exec(select(tables.ProfileCheck)).one()
        assert row.answer == "not_given"
        assert session.exec(select(tables.Action.status)).one() == "done"


def test_client_attempts_cover_all_cases_of_the_client_within_the_lookback(engine, factory):
    first = factory.case(contracts=[contract(number="AUTO-1")])
    second = factory.case(contracts=[contract(number="HAB-9")])
    with Session(engine) as session, session.begin():
        for at in (NOW - timedelta(days=70), NOW - timedelta(days=10)):
            case = load_case(session, first, lock=True, now=at)
            case.client_attempts.append(Attempt(at, AGENT, AttemptOutcome.no_answer))
            save_case(session, case)

    with Session(engine) as session:
        attempts = load_case(session, second, lock=False, lookback_days=60, now=NOW).client_attempts
    assert [(a.at, a.case_id) for a in attempts] == [(NOW - timedelta(days=10), first)]


def test_loading_an_unknown_case_raises(engine):
    with Session(engine) as session, pytest.raises(CaseNotFound):
        load_case(session, 999, lock=False)
