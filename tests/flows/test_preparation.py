from datetime import date

from flows.case import Case, ClientType, Contract, Origin
from flows.preparation import ChecklistItem, checklist
from tests.flows.factories import make_case


def complete_case() -> Case:
    """A complete client file with one signed AUTO contract, A1: nothing to complete."""
    contract = Contract("A1", "AUTO", "TOUS_RISQUES", date(2026, 8, 27), Origin.lead, signed=True)
    return make_case(
        contracts=[contract], m3_date=date(2026, 11, 27), marital_status="marie", professional_status="salarie"
    )


def completions(items: list[ChecklistItem]) -> list[ChecklistItem]:
    return [item for item in items if item.kind == "a_completer"]


def test_complete_file_only_has_items_to_validate():
    items = checklist(complete_case())
    assert items
    assert all(item.kind == "a_valider" for item in items)


def test_every_contract_and_present_contact_field_is_to_validate():
    items = checklist(complete_case())
    assert {(i.code, i.contract_number) for i in items if i.code == "validate_contract"} == {("validate_contract", "A1")}
    assert {i.field for i in items if i.code == "validate_field"} == {"phone", "email", "address"}
    contract_item = next(i for i in items if i.code == "validate_contract")
    assert "Certificat d'immatriculation" in contract_item.text
    assert "Mandat SEPA signé" in contract_item.text


def test_missing_phone_comes_first():
    case = complete_case()
    case.client.phone = None
    case.contracts[0].signed = False
    items = checklist(case)
    assert items[0].code == "missing_field"
    assert items[0].field == "phone"
    assert "Téléphone" in items[0].text


def test_items_are_sorted_by_priority():
    case = complete_case()
    case.client.email = None
    case.client.marital_status = None
    case.contracts[0].signed = False
    case.contracts[0].missing_pieces = ["rib"]
    priorities = [item.priority for item in checklist(case)]
    assert priorities == sorted(priorities)


def test_unsigned_contract_comes_before_its_missing_pieces():
    case = complete_case()
    case.contracts[0].signed = False
    case.contracts[0].missing_pieces = ["rib"]
    codes = [item.code for item in completions(checklist(case))]
    assert codes == ["unsigned_contract", "missing_piece"]


def test_each_missing_piece_is_named():
    case = complete_case()
    case.contracts[0].missing_pieces = ["releve_information", "Photo du compteur"]
    texts = [item.text for item in checklist(case) if item.code == "missing_piece"]
    assert len(texts) == 2
    assert "Relevé d'information" in texts[0]
    assert "Photo du compteur" in texts[1]


def test_pro_client_without_siren_naf_and_activity_is_asked_for_them():
    case = complete_case()
    case.client.client_type = ClientType.professionnel
    case.client.naf = "62.01Z"
    missing = {item.field for item in checklist(case) if item.code == "missing_pro_field"}
    assert missing == {"siren", "activity"}


def test_private_client_is_not_asked_for_pro_data():
    assert not [item for item in checklist(complete_case()) if item.code == "missing_pro_field"]


def test_tns_recorded_as_private_client_is_flagged_for_reclassification():
    case = complete_case()
    case.client.professional_status = "artisan"
    items = checklist(case)
    flagged = [item for item in items if item.code == "tns_detected"]
    assert len(flagged) == 1
    assert "Artisan" in flagged[0].text
    assert {item.field for item in items if item.code == "missing_pro_field"} == {"siren", "naf", "activity"}


def test_assimilated_employee_is_not_flagged_as_tns():
    case = complete_case()
    case.client.professional_status = "president_sas"
    assert not [item for item in checklist(case) if item.code == "tns_detected"]


def test_unknown_situations_are_to_complete():
    case = complete_case()
    case.client.marital_status = None
    case.client.professional_status = ""
    fields = {item.field for item in checklist(case) if item.code == "unknown_status"}
    assert fields == {"marital_status", "professional_status"}
