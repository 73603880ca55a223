"""The programme's figures, checked exactly on a known data set built through the real workflow: every
answer is a `flows.engine.handle` command applied inside `service.unit_of_work`, as the bot does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session

from flows import commands as cmd
from flows.case import ActionKind, Aim, AttemptOutcome, CloseReason, ContractAnswer, Origin, ProfileAnswer, ProtectionAnswer
from flows.engine import confirmable, handle
from flows.rules import Rules
from service.rgpd import EraseClient, erase_client
from service.unit_of_work import UnitOfWork, unit_of_work
from storage.dashboards import Period, agent_today, build_dashboard
from storage.tables import Contract, M3Case
from tests.conftest import Factory, client_file, contract

AGENT = "vendeur@agence.fr"
COLLEAGUE = "collegue@agence.fr"
JUNE = Period(date(2026, 6, 1), date(2026, 6, 30))
TODAY = date(2026, 6, 19)
TZ = "Europe/Paris"


def at(day: int, hour: int = 10) -> datetime:
    """June 2026, `hour` in Paris (UTC+2): weekdays 16 to 19 are legal calling slots."""
    return datetime(2026, 6, day, hour - 2, 30, tzinfo=UTC)


def apply(engine: Engine, case_id: int, actor: str, when: datetime, *commands: object) -> None:
    """Each command in its own unit of work, as `bot.dispatch.apply` does for one click."""
    for command in commands:
        with unit_of_work(engine, case_id=case_id, actor=actor, now=when) as uow:
            uow.record(handle(uow.case, command, actor=actor, now=uow.now, rules=Rules()))


def profile(engine: Engine, case_id: int, actor: str, when: datetime, changes: dict[str, str]) -> None:
    """Answer the client file: `changes` are Modifié with a new value, other fields Confirmé (pro fields of a
    client turned TNS: Non communiqué)."""
    for name in ("last_name", "first_name", "address", "phone", "email", "marital_status", "professional_status"):
        answer = ProfileAnswer.modified if name in changes else ProfileAnswer.confirmed
        with unit_of_work(engine, case_id=case_id, actor="test") as uow:
            if answer is ProfileAnswer.confirmed and not confirmable(uow.case, name):
                answer = ProfileAnswer.not_given  # an empty field cannot be confirmed
        apply(engine, case_id, actor, when, cmd.AnswerProfile(name, answer, changes.get(name)))
    if "professional_status" in changes:  # the TNS statuses used here make the file pro
        for name in ("siren", "naf", "activity"):
            apply(engine, case_id, actor, when, cmd.AnswerProfile(name, ProfileAnswer.not_given))
    apply(engine, case_id, actor, when, cmd.ValidateProfile())


def action_ids(engine: Engine, case_id: int) -> list[int]:
    with unit_of_work(engine, case_id=case_id, actor="test") as uow:
        return [a.id for a in uow.case.actions]


@dataclass(frozen=True)
class DataSet:
    full: int  # chalandise, AGENT: reached, plan, closed completed; already multi-équipé before the call
    tns: int  # recommandation, AGENT: TNS detected, rebound declined, administrative plan open; multi-équipé since
    unreachable: int  # apporteur, COLLEAGUE: 3 unanswered attempts, closed unreachable
    waiting: int  # lead, COLLEAGUE: opened, never called
    refused: int  # chalandise, COLLEAGUE: refuses the call
    may: int  # opened in May: outside the period


def programme_data_set(engine: Engine) -> DataSet:
    factory = Factory(engine)

    def new_case(number: str, origin: Origin, agent: str, product: str = "AUTO") -> int:
        return factory.case(
            client_file(number=number, last_name=f"Client{number}"),
            [contract(number=f"{product}-{number}", product=product, origin=origin, seller=agent)],
            agent=agent,
        )

    full = new_case("C1", Origin.chalandise, AGENT)
    with Session(engine) as session, session.begin():  # a home insurance held since 2025, from an older import
        client_id = session.get(M3Case, full).client_id
        session.add(Contract(number="HAB-C1", client_id=client_id, product="habitation", formula="LOCATAIRE",
                             subscribed_on=date(2025, 1, 10), origin="chalandise", signed=True))
    apply(engine, full, AGENT, at(16), cmd.StartCall(AGENT), cmd.RecordAttempt(AttemptOutcome.available))
    profile(engine, full, AGENT, at(16), {"phone": "06 11 22 33 44"})
    apply(
        engine, full, AGENT, at(16),
        cmd.AnswerContract("AUTO-C1", ContractAnswer.missing_piece, piece="permis", recovery="email"),
        cmd.ValidateContracts(),
        cmd.RecordAgreement(True, "Pouvons-nous parler de vos autres contrats ?"),
        cmd.AnswerProtection("prevoyance", ProtectionAnswer.elsewhere, insurer="MAIF"),
        cmd.AnswerProtection("gav", ProtectionAnswer.not_covered),
        cmd.AnswerProtection("pj", ProtectionAnswer.to_explore),
        cmd.AnswerProtection("retraite", ProtectionAnswer.not_covered),
        cmd.SetPriority("gav", True, "Deux enfants, aucune GAV"),
        cmd.FinishRebound(),
        cmd.AddAction(ActionKind.rdv, date(2026, 6, 20), AGENT, purpose="bilan_global"),
        cmd.AddAction(ActionKind.relance, date(2026, 6, 18), AGENT, reason="permis à recevoir"),
        cmd.Close(),
    )
    relance = action_ids(engine, full)[1]
    apply(engine, full, AGENT, at(18), cmd.CompleteAction(relance))

    tns = new_case("C2", Origin.recommandation, AGENT)
    apply(engine, tns, AGENT, at(16, 11), cmd.StartCall(AGENT), cmd.RecordAttempt(AttemptOutcome.available))
    profile(engine, tns, AGENT, at(16, 11), {"professional_status": "artisan"})
    apply(
        engine, tns, AGENT, at(16, 11),
        cmd.AnswerContract("AUTO-C2", ContractAnswer.signed), cmd.ValidateContracts(),
        cmd.RecordAgreement(False, "Pouvons-nous parler de vos autres contrats ?"), cmd.FinishRebound(),
        # Declined: no devis, only the administrative follow-up (a document the client still has to send).
        cmd.AddAction(ActionKind.relance, date(2026, 6, 17), AGENT, aim=Aim.administrative),
    )
    with Session(engine) as session, session.begin():  # the PJ the client took after the call, imported since
        client_id = session.get(M3Case, tns).client_id
        session.add(Contract(number="PJ-C2", client_id=client_id, product="PJ", formula="", subscribed_on=date(2026, 6, 18),
                             origin="recommandation", signed=True))

    unreachable = new_case("C3", Origin.apporteur, COLLEAGUE)
    apply(engine, unreachable, COLLEAGUE, at(16), cmd.StartCall(COLLEAGUE), cmd.RecordAttempt(AttemptOutcome.no_answer))
    apply(engine, unreachable, COLLEAGUE, at(17), cmd.RecordAttempt(AttemptOutcome.no_answer))
    apply(engine, unreachable, COLLEAGUE, at(18), cmd.RecordAttempt(AttemptOutcome.no_answer),
          cmd.CloseEarly(CloseReason.unreachable))

    waiting = new_case("C4", Origin.lead, COLLEAGUE)
    refused = new_case("C5", Origin.chalandise, COLLEAGUE)
    apply(engine, refused, COLLEAGUE, at(17), cmd.StartCall(COLLEAGUE), cmd.RecordAttempt(AttemptOutcome.refused))

    may = new_case("C6", Origin.chalandise, AGENT)
    with Session(engine) as session, session.begin():
        session.get(M3Case, may).opened_at = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
    return DataSet(full, tns, unreachable, waiting, refused, may)


def june(engine: Engine, today: date = TODAY):
    with Session(engine) as session:
        return build_dashboard(session, JUNE, today=today, timezone=TZ)


def test_funnel_follows_the_cases_opened_in_the_period(engine):
    programme_data_set(engine)
    total = june(engine).total
    assert total.funnel == [("opened", 5), ("reached", 2), ("admin_done", 2), ("rebound_done", 2),
                            ("plan_done", 2), ("closed", 3)]
    assert total["attempted",] == 4
    assert total.reach_rate == 0.5
    assert total.closed_by_reason == {"completed": 1, "unreachable": 1, "refused": 1}


def test_administrative_findings_count_changed_files_tns_and_missing_pieces(engine):
    programme_data_set(engine)
    total = june(engine).total
    assert total["file_changed",] == 2
    assert total.fields_changed == {"phone": 1, "professional_status": 1}
    assert total["tns_detected",] == 1
    assert total.contract_findings == {("missing_piece", "permis"): 1}


def test_commercial_findings_list_contracts_elsewhere_and_gaps(engine):
    programme_data_set(engine)
    total = june(engine).total
    assert total.elsewhere == {("prevoyance", "MAIF"): 1}
    assert total.gaps == {("gav", "not_covered"): 1, ("pj", "to_explore"): 1, ("retraite", "not_covered"): 1}
    assert total.priorities == {"gav": 1}


def test_actions_are_done_due_or_overdue_on_the_day_asked(engine):
    programme_data_set(engine)
    assert june(engine).total.actions == {("rdv", "due"): 1, ("relance", "done"): 1, ("relance", "overdue"): 1}
    assert june(engine, today=date(2026, 6, 16)).total.actions == {("rdv", "due"): 1, ("relance", "done"): 1,
                                                                   ("relance", "due"): 1}


def test_multi_equipment_counts_families_held_at_opening_and_today(engine):
    programme_data_set(engine)
    total = june(engine).total
    assert (total["multi_before",], total["multi_now",]) == (1, 2)
    assert total.rate("multi_now") == 2 / 5


def test_figures_split_per_agent_and_per_origin(engine):
    programme_data_set(engine)
    dashboard = june(engine)
    assert {agent: f.opened for agent, f in dashboard.by_agent.items()} == {AGENT: 2, COLLEAGUE: 3}
    assert dashboard.by_agent[AGENT].reach_rate == 1.0
    assert dashboard.by_agent[COLLEAGUE].reach_rate == 0.0
    assert {origin: f.opened for origin, f in dashboard.by_origin.items()} == {
        "chalandise": 2, "recommandation": 1, "apporteur": 1, "lead": 1}
    assert dashboard.by_origin["recommandation"]["tns_detected",] == 1


def test_an_empty_period_has_no_figures(engine):
    programme_data_set(engine)
    with Session(engine) as session:
        dashboard = build_dashboard(session, Period(date(2026, 7, 1), date(2026, 7, 31)), today=TODAY, timezone=TZ)
    assert dashboard.total.opened == 0 and dashboard.by_agent == {} and dashboard.total.reach_rate is None


def test_insurers_typed_differently_are_one(engine):
    data = programme_data_set(engine)
    apply(engine, data.waiting, COLLEAGUE, at(19), cmd.StartCall(COLLEAGUE), cmd.RecordAttempt(AttemptOutcome.available))
    profile(engine, data.waiting, COLLEAGUE, at(19), {})
    apply(engine, data.waiting, COLLEAGUE, at(19), cmd.AnswerContract("AUTO-C4", ContractAnswer.signed),
          cmd.ValidateContracts(), cmd.RecordAgreement(True, "Pouvons-nous parler de vos autres contrats ?"),
          cmd.AnswerProtection("prevoyance", ProtectionAnswer.elsewhere, insurer="maif"))
    assert june(engine).total.elsewhere == {("prevoyance", "MAIF"): 2}


def test_agent_today_ranks_callbacks_passed_m3_dates_and_due_actions(engine):
    data = programme_data_set(engine)
    callback = Factory(engine).case(client_file(number="C7", last_name="Rappel"),
                                    [contract(number="AUTO-C7", seller=COLLEAGUE)], agent=COLLEAGUE)
    apply(engine, callback, COLLEAGUE, at(17), cmd.StartCall(COLLEAGUE),
          cmd.RecordAttempt(AttemptOutcome.callback, callback_at=at(18, 15)))
    with Session(engine) as session:
        colleague = agent_today(session, COLLEAGUE, now=at(18, 16), timezone=TZ)
        agent = agent_today(session, AGENT, now=at(19), timezone=TZ)
    assert colleague.callbacks_due == {callback}
    assert colleague.m3_passed == {data.waiting, callback}  # not reached yet either
    assert agent.actions_due == {data.tns: date(2026, 6, 17)}
    # Monday 15 June to Friday 19: the colleague's three unanswered attempts, the refusal and the callback
    # booked; the agent's two reached clients, three actions planned, one done, one case closed.
    assert colleague.week["calls"] == 5 and colleague.week["reached"] == 0 and colleague.week["closed"] == 2
    assert agent.week == {"calls": 2, "reached": 2, "admin_done": 2, "rebound_done": 2, "actions_planned": 3,
                          "actions_done": 1, "closed": 1}


def test_a_case_closed_by_an_erase_is_counted_apart_not_as_closed(engine):
    case_id = Factory(engine).case(client_file(number="C9"), [contract(number="AUTO-C9")])
    with Session(engine) as session, session.begin():
        session.get(M3Case, case_id).opened_at = at(16)
    erase_client(EraseClient("C9"), UnitOfWork(engine, actor="dpo", now=at(17)))

    with Session(engine) as session:
        total = build_dashboard(session, JUNE, today=TODAY, timezone=TZ).total
    assert total.closed_by_reason == {CloseReason.rgpd_erased.value: 1}
    assert dict(total.funnel)["opened"] == 1 and dict(total.funnel)["closed"] == 0


def test_a_refused_rebound_is_counted_apart_from_refused_calls_and_completed_ones(engine):
    data = programme_data_set(engine)
    apply(engine, data.tns, AGENT, at(17), cmd.Close())  # the TNS client declined the rebound
    total = june(engine).total
    assert total.closed_by_reason == {"completed": 1, "unreachable": 1, "refused": 1, "rebound_refused": 1}
    assert total.rebound_refused == 1
