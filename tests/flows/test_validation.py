from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wording
from flows.validation import (
    Invalid,
    is_tns,
    normalize_email,
    normalize_field,
    normalize_marital_status,
    normalize_naf,
    normalize_phone,
    normalize_professional_status,
    normalize_siren,
    postcode_from_address,
    region_for_postcode,
)
from tests.support.refusals import refused_with

TODAY = date(2026, 11, 27)


def test_metropolitan_mobile_is_stored_in_e164():
    assert normalize_phone("06 12 34 56 78", "75011") == "+33612345678"


def test_overseas_mobile_is_valid_with_its_own_region():
    assert normalize_phone("0690 12 34 56", "97110") == "+590690123456"


def test_reunion_mobile_gets_the_reunion_country_code():
    assert normalize_phone("0692 12 34 56", "97400") == "+262692123456"


def test_overseas_mobile_of_a_metropolitan_client_is_still_recognised():
    assert normalize_phone("0696 12 34 56", "69001") == "+596696123456"


def test_international_form_is_kept_whatever_the_postcode():
    assert normalize_phone("+33 6 12 34 56 78", "97400") == "+33612345678"


def test_invalid_phone_is_refused_without_repeating_it():
    with pytest.raises(Invalid) as refused:
        normalize_phone("0612", "75011")
    assert "0612" not in wording.refusal(refused.value)
    assert "France métropolitaine" in wording.refusal(refused.value)


@given(
    prefix=st.sampled_from(["06", "07", "01", "0690", "0696", "0694", "0692", "0639", "0590"]),
    rest=st.text(alphabet="0123456789", min_size=8, max_size=8),
    postcode=st.sampled_from([None, "75011", "97110", "97133", "97200", "97300", "97400", "97600", "67000"]),
)
def test_phone_normalisation_is_idempotent(prefix, rest, postcode):
    raw = (prefix + rest)[:10]
    try:
        once = normalize_phone(raw, postcode)
    except Invalid:
        return
    assert once.startswith("+")
    assert normalize_phone(once, postcode) == once
    assert normalize_phone(once, None) == once


@pytest.mark.parametrize(
    ("postcode", "region"),
    [
        ("75011", "FR"),
        ("20000", "FR"),
        ("97110", "GP"),
        ("97133", "BL"),
        ("97150", "MF"),
        ("97200", "MQ"),
        ("97300", "GF"),
        ("97400", "RE"),
        ("97600", "YT"),
        (None, "FR"),
    ],
)
def test_postcode_gives_the_overseas_region(postcode, region):
    assert region_for_postcode(postcode) == region


def test_postcode_is_found_at_the_end_of_an_address():
    assert postcode_from_address("12 rue de la Paix, 75002 Paris") == "75002"
    assert postcode_from_address("BP 12345, 97110 Pointe-à-Pitre") == "97110"


def test_address_without_postcode_has_none():
    assert postcode_from_address("12 rue de la Paix") is None
    assert postcode_from_address(None) is None


def test_email_domain_is_lower_cased():
    assert normalize_email("  Jean.Dupont@Example.FR ") == "Jean.Dupont@example.fr"


def test_malformed_email_is_refused():
    with pytest.raises(Invalid):
        normalize_email("jean.dupont@")


def test_siren_with_spaces_is_stored_as_nine_digits():
    assert normalize_siren("732 829 320") == "732829320"


def test_siret_typed_as_siren_is_refused_with_a_hint():
    with refused_with("SIRET", Invalid):
        normalize_siren("732 829 320 00074")


def test_siren_with_a_wrong_check_digit_is_refused():
    with refused_with("clé de contrôle", Invalid):
        normalize_siren("732829321")


def test_siren_of_the_wrong_length_is_refused():
    with refused_with("9 chiffres", Invalid):
        normalize_siren("7328293")


def test_naf_without_dot_is_stored_with_a_dot():
    assert normalize_naf("6201Z", TODAY) == ("62.01Z", "NAF rév. 2")


def test_naf_in_lower_case_is_upper_cased():
    assert normalize_naf(" 62.01z ", TODAY)[0] == "62.01Z"


def test_naf_2025_applies_from_january_2027():
    assert normalize_naf("62.01Z", date(2026, 12, 31))[1] == "NAF rév. 2"
    assert normalize_naf("62.01Z", date(2027, 1, 1))[1] == "NAF 2025"


@pytest.mark.parametrize("value", ["620Z", "62.01", "ABCDE", "62.011"])
def test_malformed_naf_is_refused(value):
    with pytest.raises(Invalid):
        normalize_naf(value, TODAY)


def test_marital_status_is_accepted_by_label_without_accents():
    assert normalize_marital_status("pacse(e)") == "pacse"
    assert normalize_marital_status("Marié(e)") == "marie"


def test_unknown_marital_status_lists_the_choices():
    with refused_with("Célibataire", Invalid):
        normalize_marital_status("fiancé")


def test_professional_status_code_is_kept():
    assert normalize_professional_status("gerant_majoritaire") == "gerant_majoritaire"


@pytest.mark.parametrize(
    ("status", "tns"),
    [
        ("artisan", True),
        ("gerant_majoritaire", True),
        ("micro_entrepreneur", True),
        ("conjoint_collaborateur", True),
        ("president_sas", False),
        ("gerant_minoritaire", False),
        ("salarie", False),
        (None, False),
    ],
)
def test_only_non_salaried_statuses_are_tns(status, tns):
    assert is_tns(status) is tns


def test_name_field_is_stripped():
    assert normalize_field("last_name", "  Le   Goff ", postcode=None, on=TODAY) == "Le Goff"


def test_empty_field_is_refused():
    with refused_with("Prénom", Invalid):
        normalize_field("first_name", "   ", postcode=None, on=TODAY)


def test_phone_field_is_read_with_the_client_postcode():
    assert normalize_field("phone", "0690123456", postcode="97110", on=TODAY) == "+590690123456"


def test_naf_field_stores_the_code_only():
    assert normalize_field("naf", "6201z", postcode=None, on=TODAY) == "62.01Z"


@pytest.mark.parametrize("field", ["nir", "health", "client_type"])
def test_fields_outside_the_client_file_are_refused(field):
    with pytest.raises(Invalid):
        normalize_field(field, "x", postcode=None, on=TODAY)
