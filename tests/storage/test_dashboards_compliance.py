"""The lead's dashboard gives the share of closed cases whose trail follows the guide, and the deviations
found, each case judged by its verdict (`flows.verdict`) read from the stored trail; built through the real
workflow on both databases."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

from sqlmodel import Session

from bot.views.home import lead_home
from bot.views.stats import definitions_modal, stats_message
from flows import commands as cmd
from flows.case import ActionKind, AttemptOutcome, CloseReason, ContractAnswer, ProtectionAnswer
from storage.dashboards import Dashboard, Figures
from storage.tables import M3Case
from tests.conftest import Factory, client_file, contract
from tests.storage.test_dashboards import AGENT, COLLEAGUE, JUNE, apply, at, june, profile

WORDING = "Pouvons-nous parler de vos autres contrats ?"
STRUCTURING = ("pj", "gav", "prevoyance", "retraite")


def new_case(factory: Factory, number: str, agent: str) -> int:
    return factory.case(client_file(number=number, last_name=f"Client{number}"),
                        [contract(number=f"AUTO-{number}", seller=agent)], agent=agent)


def to_the_plan(engine, case_id: int, agent: str, number: str, *, agreed: bool) -> None:
    """Reached, administrative part done, consent given (protections answered) or declined, rebound ended."""
    apply(engine, case_id, agent, at(16), cmd.StartCall(agent), cmd.RecordAttempt(AttemptOutcome.available))
    profile(engine, case_id, agent, at(16), {})
    apply(engine, case_id, agent, at(16), cmd.AnswerContract(f"AUTO-{number}", ContractAnswer.signed),
          cmd.ValidateContracts(),
          cmd.RecordAgreement(agreed, WORDING))
    if agreed:
        apply(engine, case_id, agent, at(16),
              *(cmd.AnswerProtection(code, ProtectionAnswer.not_covered) for code in STRUCTURING))
    apply(engine, case_id, agent, at(16), cmd.FinishRebound())


def compliance_data_set(engine) -> None:
    factory = Factory(engine)
    compliant = new_case(factory, "C1", AGENT)  # bilan global with its reason
    to_the_plan(engine, compliant, AGENT, "C1", agreed=True)
    apply(engine, compliant, AGENT, at(16), cmd.AddAction(ActionKind.rdv, date(2026, 6, 25), AGENT,
                                                        purpose="bilan_global", reason="GAV absente"), cmd.Close())

    no_reason = new_case(factory, "C2", AGENT)  # two devis without their reason: one deviation, twice
    to_the_plan(engine, no_reason, AGENT, "C2", agreed=True)
    apply(engine, no_reason, AGENT, at(16), *[cmd.AddAction(ActionKind.devis, date(2026, 6, 25), AGENT)] * 2,
          cmd.Close())

    bilan_no_reason = new_case(factory, "C3", COLLEAGUE)  # a devis with its reason, a bilan global without
    to_the_plan(engine, bilan_no_reason, COLLEAGUE, "C3", agreed=True)
    apply(engine, bilan_no_reason, COLLEAGUE, at(16),
          cmd.AddAction(ActionKind.devis, date(2026, 6, 25), COLLEAGUE, reason="voiture neuve"),
          cmd.AddAction(ActionKind.rdv, date(2026, 6, 26), COLLEAGUE, purpose="bilan_global"), cmd.Close())

    refused = new_case(factory, "C4", COLLEAGUE)  # the client refused the call: nothing more was owed
    apply(engine, refused, COLLEAGUE, at(16), cmd.StartCall(COLLEAGUE), cmd.RecordAttempt(AttemptOutcome.available),
          cmd.CloseEarly(CloseReason.refused))

    still_open = new_case(factory, "C5", AGENT)  # not closed: not judged yet
    to_the_plan(engine, still_open, AGENT, "C5", agreed=True)
    apply(engine, still_open, AGENT, at(16), cmd.AddAction(ActionKind.devis, date(2026, 6, 25), AGENT))

    in_may = new_case(factory, "C6", AGENT)  # closed with a deviation, but opened before the period
    to_the_plan(engine, in_may, AGENT, "C6", agreed=True)
    apply(engine, in_may, AGENT, at(16), cmd.AddAction(ActionKind.devis, date(2026, 6, 25), AGENT), cmd.Close())
    with Session(engine) as session, session.begin():
        session.get(M3Case, in_may).opened_at = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)


def test_the_share_of_compliant_closed_cases_counts_each_verdict_from_the_trail(engine):
    compliance_data_set(engine)
    dashboard = june(engine)

    total = dashboard.total
    assert (total["closed",], total["compliant",], total.compliant_rate) == (4, 2, 0.5)
    # The two devis without a reason are two facts of one deviation: their case counts once.
    assert total.deviations == {"proposal_without_reason": 2}
    assert dashboard.by_agent[AGENT].compliant_rate == 0.5 and dashboard.by_agent[COLLEAGUE].compliant_rate == 0.5
    assert dashboard.by_agent[COLLEAGUE].deviations == {"proposal_without_reason": 1}


def test_no_closed_case_gives_no_share_rather_than_zero(engine):
    factory = Factory(engine)
    new_case(factory, "C1", AGENT)
    assert june(engine).total.compliant_rate is None


def test_the_lead_sees_the_share_and_the_deviations_by_name_with_the_definition_a_click_away(engine):
    compliance_data_set(engine)
    text = json.dumps(lead_home(june(engine), {})["blocks"], ensure_ascii=False)
    definitions = json.dumps(definitions_modal(), ensure_ascii=False)

    assert "Conformité du parcours" in text and "*Parcours conformes*\\n2 sur 4 clôturé(s) (50 %)" in text
    assert "*Écarts relevés*\\nproposition sans motif : 2" in text
    assert "dossiers clôturés dont le journal d'audit montre le parcours du guide sans écart" in definitions


def test_the_stats_message_with_the_compliance_figures_stays_under_50_blocks():
    figures = Figures(Counter({("opened",): 3, ("closed",): 2, ("compliant",): 1, ("deviation", "needs_missing"): 1}))
    agents = {f"agent{i}@agence.fr": figures for i in range(40)}
    origins = dict.fromkeys(("chalandise", "recommandation", "apporteur", "lead", None), figures)
    dashboard = Dashboard(JUNE, date(2026, 6, 19), figures, agents, origins)
    assert len(stats_message(dashboard, {}).blocks) <= 50
