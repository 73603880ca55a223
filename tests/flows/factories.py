"""Builders of domain cases for the flows tests: a particulier with one contract unless told otherwise."""

from __future__ import annotations

from datetime import date, datetime, timezone

from flows.case import Case, ClientFile, ClientType, Contract, Origin

SELLER = "vendeur@agence.fr"
AGENT = "agent@agence.fr"
COLLEAGUE = "collegue@agence.fr"
# Tuesday 1 December 2026, 10:30 in Paris: inside the legal calling slots.
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)


def make_case(client_type: ClientType = ClientType.particulier, contracts: int = 1, **client: object) -> Case:
    file = ClientFile(
        number="C001",
        client_type=client_type,
        last_name="Martin",
        first_name="Claire",
        civility="Mme",
        email="claire.martin@example.fr",
        phone="+33612345678",
        address="12 rue des Lilas 69003 Lyon",
        postcode="69003",
        **client,
    )
    deals = [
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
    return Case(client=file, contracts=deals, m3_date=date(2026, 12, 1), seller=SELLER, agent=AGENT, id=1,
                opened_at=NOW)
