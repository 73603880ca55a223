from datetime import UTC, date, datetime

import pytest

from flows import texts
from flows.case import (
    PERSONAL_FIELDS,
    PRO_FIELDS,
    ActionKind,
    ActionStatus,
    AttemptOutcome,
    Case,
    ClientType,
    CloseReason,
    Contract,
    ContractAnswer,
    Origin,
    ProfileAnswer,
    ProtectionAnswer,
    ProtectionCheck,
    State,
)
from flows.script import (
    action_plan_script,
    agreement_wording,
    contract_script,
    describe_contract,
    opening_script,
    profile_script,
    protections_for,
    rebound_script,
)
from tests.flows.factories import make_case

SELLER = "marie.durand@agence.fr"
COLLEAGUE = "paul.henry@agence.fr"
NAMES = {SELLER: "Marie Durand", COLLEAGUE: "Paul Henry"}
TODAY = date(2026, 11, 27)


def sold_together(client_type: ClientType = ClientType.particulier, seller: str | None = SELLER) -> Case:
    """Mme Martin, in Paris 11e, with a signed car and an unsigned home contract missing its RIB."""
    contracts = [
        Contract("A1", "AUTO", "TOUS_RISQUES", date(2026, 8, 20), Origin.lead, signed=True),
        Contract("H1", "habitation", "locataire", date(2026, 8, 25), Origin.lead, signed=False, missing_pieces=["rib"]),
    ]
    return make_case(client_type, contracts, m3_date=date(2026, 11, 20), seller=seller, agent=seller, postcode="75011")


def test_seller_calling_recalls_the_contract_sold_together():
    lines = opening_script(sold_together(), SELLER, NAMES, TODAY)
    assert lines[0] == texts.t("script.opening.greeting", client="Mme Martin", caller="Marie Durand")
    assert "avec moi" in lines[1]
    assert "Marie Durand" not in lines[1]


def test_colleague_calling_names_the_seller():
    lines = opening_script(sold_together(), COLLEAGUE, NAMES, TODAY)
    assert lines[1].startswith("Je vous appelle de la part de Marie Durand")
    assert "Paul Henry" in lines[0]


def test_agent_without_display_name_is_named_from_his_email():
    lines = opening_script(sold_together(), COLLEAGUE, None, TODAY)
    assert "paul.henry" in lines[0]
    assert "marie.durand" in lines[1]


def test_unknown_seller_recalls_the_agency():
    lines = opening_script(sold_together(seller=None), COLLEAGUE, NAMES, TODAY)
    assert "à l'agence" in lines[1]


def test_opening_says_how_many_months_ago_in_french():
    assert "3\u00a0mois" in opening_script(sold_together(), SELLER, NAMES, TODAY)[1]
    assert "1\u00a0mois" in opening_script(sold_together(), SELLER, NAMES, date(2026, 9, 25))[1]
    assert "2\u00a0semaines" in opening_script(sold_together(), SELLER, NAMES, date(2026, 9, 5))[1]


def test_opening_rewords_every_contract():
    recall = opening_script(sold_together(), SELLER, NAMES, TODAY)[1]
    assert "votre assurance auto tous risques en zone urbaine et votre assurance habitation formule locataire" in recall


def test_opening_asks_the_guide_authorisation_question_and_gives_both_branches():
    lines = opening_script(sold_together(), SELLER, NAMES, TODAY)
    assert "Est-ce que vous avez 5 minutes pour moi, j’ai besoin de mettre à jour votre dossier client ?" in lines
    assert any(line.startswith("Si oui") for line in lines)
    assert any(line.startswith("Si non") and "rappel" in line for line in lines)
    assert any("resituer la relation" in line for line in lines)


def test_all_risks_car_in_a_city_is_reworded_as_the_guide_says():
    car = Contract("A1", "auto", "tous_risques", date(2026, 8, 20), Origin.lead, signed=True)
    assert describe_contract(car, "75011") == "assurance auto tous risques en zone urbaine"


def test_car_outside_a_city_has_no_zone():
    car = Contract("A1", "AUTO", "TIERS", date(2026, 8, 20), Origin.lead, signed=True)
    assert describe_contract(car, "23000") == "assurance auto au tiers"
    assert describe_contract(car, None) == "assurance auto au tiers"


def test_unknown_product_and_formula_are_shown_readably():
    odd = Contract("X1", "BATEAU", "CONFORT_PLUS", date(2026, 8, 20), Origin.lead, signed=True)
    assert describe_contract(odd, "75011") == "BATEAU formule confort plus"


def test_profile_step_lists_pro_fields_only_for_a_pro():
    private = " ".join(profile_script(sold_together()))
    pro = " ".join(profile_script(sold_together(ClientType.tns)))
    assert "SIREN" not in private
    assert "SIREN" in pro and "Code NAF" in pro
    assert "pro/TNS" in private
    assert "pro/TNS" not in pro


def test_contract_step_lists_missing_pieces_and_how_to_send_them():
    lines = contract_script(sold_together())
    assert any("tous risques en zone urbaine" in line for line in lines)
    assert any("H1" in line and "RIB" in line for line in lines)
    assert any("Par e-mail" in line for line in lines)
    assert any("H1" in line and "signé" in line for line in lines)


def test_rebound_asks_the_pivot_question_verbatim_and_checks_structuring_protections():
    lines = rebound_script(sold_together())
    assert "Pour les contrats que vous n’avez pas chez nous, qui sont vos autres assureurs ?" in lines
    checks = next(line for line in lines if line.startswith("(Vérifier explicitement"))
    for label in ("Protection juridique", "GAV", "Retraite", "Prévoyance"):
        assert label in checks
    assert "professionnelle" not in checks


def test_rebound_of_a_pro_also_checks_professional_covers():
    checks = next(line for line in rebound_script(sold_together(ClientType.tns)) if line.startswith("(Vérifier"))
    assert "Responsabilité civile professionnelle" in checks
    assert "Multirisque professionnelle" in checks


def test_pro_protections_are_not_offered_to_a_private_client():
    codes = {code for code, _ in protections_for(ClientType.particulier)}
    assert "rc_pro" not in codes and "pj" in codes
    assert "rc_pro" in {code for code, _ in protections_for(ClientType.professionnel)}


def test_agreement_wording_is_the_recorded_consent_question():
    wording = agreement_wording()
    assert wording == texts.t("script.agreement")
    assert wording.endswith("?")


def test_action_plan_recalls_the_priorities():
    case = sold_together()
    at = datetime(2026, 11, 27, 10, tzinfo=UTC)
    case.protections["pj"] = ProtectionCheck("pj", ProtectionAnswer.not_covered, at, SELLER, priority=True)
    case.protections["gav"] = ProtectionCheck("gav", ProtectionAnswer.not_covered, at, SELLER)
    lines = action_plan_script(case)
    recap = next(line for line in lines if "Protection juridique" in line)
    assert "Garantie des accidents" not in recap


def test_action_plan_without_priority_suggests_at_least_the_review():
    assert any("bilan global" in line for line in action_plan_script(sold_together()))


GUIDE_BUTTONS = {
    "labels.attempt.available": "Client disponible",
    "labels.attempt.callback": "Rappeler plus tard",
    "labels.profile.confirmed": "Confirmé",
    "labels.profile.modified": "Modifié",
    "labels.profile.not_given": "Non communiqué",
    "labels.contract.signed": "Signé",
    "labels.contract.missing_piece": "Pièce manquante",
    "labels.contract.follow_up": "À relancer",
    "labels.protection.elsewhere": "Contrat ailleurs",
    "labels.protection.not_covered": "Pas couvert",
    "labels.protection.to_explore": "À approfondir",
    "labels.action.devis": "Créer devis",
    "labels.action.rdv": "Planifier RDV",
    "labels.action.relance": "Programmer relance",
}


@pytest.mark.parametrize(("key", "label"), GUIDE_BUTTONS.items())
def test_buttons_carry_the_guide_labels(key, label):
    assert texts.t(key) == label


@pytest.mark.parametrize(
    ("prefix", "enum"),
    [
        ("labels.state", State),
        ("labels.attempt", AttemptOutcome),
        ("labels.profile", ProfileAnswer),
        ("labels.contract", ContractAnswer),
        ("labels.protection", ProtectionAnswer),
        ("labels.action", ActionKind),
        ("labels.action_status", ActionStatus),
        ("labels.close_reason", CloseReason),
        ("labels.client_type", ClientType),
        ("labels.origin", Origin),
    ],
)
def test_every_code_has_a_french_label(prefix, enum):
    for member in enum:
        assert texts.t(f"{prefix}.{member.value}")


def test_every_profile_field_has_a_label():
    for name in PERSONAL_FIELDS + PRO_FIELDS:
        assert texts.t(f"labels.field.{name}")


def test_every_product_family_covers_a_known_protection():
    protections = {p["code"] for p in texts.data("catalog.protections")}
    families = texts.data("catalog.families")
    for product in texts.data("catalog.products").values():
        assert families[product["family"]]["protection"] in protections
