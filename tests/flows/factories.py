"""Builders of domain cases for the tests: a particulier with one contract unless told otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from flows.case import (
    Action,
    ActionKind,
    Agreement,
    Attempt,
    AttemptOutcome,
    Case,
    ClientFile,
    ClientType,
    CloseReason,
    Contract,
    ContractAnswer,
    ContractCheck,
    Need,
    Origin,
    ProfileAnswer,
    ProfileCheck,
    ProtectionAnswer,
    ProtectionCheck,
    State,
)
from flows.script import protections_for

SELLER = "vendeur@agence.fr"
AGENT = "agent@agence.fr"
COLLEAGUE = "collegue@agence.fr"
# Tuesday 1 December 2026, 10:30 in Paris: inside the legal calling slots.
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
TODAY = date(2026, 12, 1)
M3_DATE = TODAY
PRODUCTS = ("AUTO", "HABITATION", "SANTE", "GAV", "MRP")  # the contracts of `case_at`, in this order


def make_case(
    client_type: ClientType = ClientType.particulier,
    contracts: int | Sequence[Contract] = 1,
    *,
    m3_date: date = M3_DATE,
    seller: str | None = SELLER,
    agent: str | None = AGENT,
    **client: object,
) -> Case:
    """A case with a complete client file (`client` overrides its fields) and `contracts` (a count of AUTO ones)."""
    fields: dict[str, object] = {
        "number": "C001",
        "last_name": "Martin",
        "first_name": "Claire",
        "civility": "Mme",
        "email": "claire.martin@example.fr",
        "phone": "+33612345678",
        "address": "12 rue des Lilas 69003 Lyon",
        "postcode": "69003",
    }
    file = ClientFile(client_type=client_type, **(fields | client))
    if isinstance(contracts, int):
        contracts = [
            Contract(
                number=f"AUTO-{n}",
                product="AUTO",
                formula="TOUS_RISQUES",
                subscribed_on=date(2026, 9, 1),
                origin=Origin.recommandation,
                signed=True,
                seller=SELLER,
            )
            for n in range(1, contracts + 1)
        ]
    return Case(client=file, contracts=list(contracts), m3_date=m3_date, seller=seller, agent=agent, id=1,
                opened_at=NOW)


def case_at(
    client_type: ClientType = ClientType.particulier, contracts: int = 1, state: State = State.preparation
) -> Case:
    """A case at `state` with every answer the steps before it need, and some answers of that step."""
    pro = client_type is not ClientType.particulier
    deals = [
        Contract(
            number=f"{product}-{n}",
            product=product,
            formula="TOUS_RISQUES" if product == "AUTO" else "CONFORT",
            subscribed_on=date(2026, 9, 1),
            origin=Origin.recommandation,
            signed=n != 2,
            missing_pieces=["rib"] if n == 3 else [],
            seller=SELLER,
        )
        for n, product in enumerate(PRODUCTS[:contracts], start=1)
    ]
    case = make_case(
        client_type,
        deals,
        marital_status="marie",
        professional_status="artisan" if pro else "salarie",
        siren="732829320" if pro else None,
    )
    case = replace(case, id=42, state=state, caller=AGENT)
    order = list(State)
    reached = order.index(state)
    if reached >= order.index(State.contact_attempt):
        case.client_attempts.append(Attempt(at=NOW, by=AGENT, outcome=AttemptOutcome.no_answer, case_id=42))
    if state is State.scheduled_callback:
        case.callback_at = NOW + timedelta(days=1)
        case.callback_client_requested = True
    if reached >= order.index(State.admin_profile_update):
        fields = case.client.profile_fields()
        done = fields if reached > order.index(State.admin_profile_update) else fields[:4]
        for field in done:
            answer = ProfileAnswer.modified if field == "phone" else ProfileAnswer.confirmed
            old = case.client.value(field)
            new = "+33698765432" if field == "phone" else old
            case.profile[field] = ProfileCheck(field, answer, old, new, NOW, AGENT)
            if field == "phone":
                case.client.phone = new
    if reached >= order.index(State.admin_contract_validation):
        past = reached > order.index(State.admin_contract_validation)
        done_contracts = case.contracts if past else case.contracts[:1]
        for contract in done_contracts:
            answer = ContractAnswer.missing_piece if contract.missing_pieces else ContractAnswer.signed
            piece, recovery = ("rib", "email") if contract.missing_pieces else (None, None)
            case.contract_checks[contract.number] = ContractCheck(contract.number, answer, NOW, AGENT, piece, recovery)
    if reached >= order.index(State.commercial_rebound):
        case.agreement = Agreement(at=NOW, by=AGENT, wording="Acceptez-vous…", agreed=True)
        codes = [code for code, _ in protections_for(client_type, structuring_only=True)]
        case.protections["pj"] = ProtectionCheck("pj", ProtectionAnswer.elsewhere, NOW, AGENT, insurer="MAAF",
                                                 renewal_on=date(2027, 3, 1))
        case.protections["gav"] = ProtectionCheck("gav", ProtectionAnswer.not_covered, NOW, AGENT, priority=True,
                                                  reason="Enfants en bas âge")
        if reached > order.index(State.commercial_rebound):
            for code in codes:
                case.protections.setdefault(code, ProtectionCheck(code, ProtectionAnswer.to_explore, NOW, AGENT))
        case.needs.append(Need("Assurer le scooter de son fils", NOW, AGENT))
    if reached >= order.index(State.action_plan):
        case.actions.append(Action(ActionKind.rdv, TODAY + timedelta(days=10), AGENT, NOW, AGENT, id=1,
                                   purpose="bilan_global", reason="Bilan des contrats extérieurs"))
        case.actions.append(Action(ActionKind.devis, TODAY + timedelta(days=3), SELLER, NOW, AGENT, id=2))
    if state is State.closed:
        case.close_reason = CloseReason.completed
        case.closed_at = NOW
    return case
