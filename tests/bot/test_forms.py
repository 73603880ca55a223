"""Modal submissions: valid input becomes the right command, invalid or hostile input the right error under
the right field, never an exception."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from bot import forms
from bot.payloads import BadPayload
from bot.views import ids
from flows.case import (
    ActionKind,
    Aim,
    AttemptOutcome,
    ClientType,
    CloseReason,
    ContractAnswer,
    ProfileAnswer,
    ProtectionAnswer,
    State,
)
from flows.commands import (
    AddAction,
    AnswerContract,
    AnswerProfile,
    AnswerProtection,
    CloseEarly,
    Reassign,
    RecordAttempt,
    RecordNeed,
    SetPriority,
)
from tests.flows.factories import AGENT, NOW, TODAY, case_at

EMAILS = {"U_AGENT": AGENT}


def text(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def option(value: str | None) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value, "text": {"type": "plain_text", "text": "x"}}
            if value is not None else None}


def checked(*values: str) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [{"value": v} for v in values]}


def values(**inputs: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values` as Slack sends it: block_id -> action_id -> state."""
    return {block: {block: state} for block, state in inputs.items()}


# --- Profile ------------------------------------------------------------------------------------------------


def test_a_changed_phone_is_normalised() -> None:
    case = case_at(state=State.admin_profile_update)
    result = forms.parse_profile_change(values(value=text("06 98 76 54 32")), case, "phone", TODAY)
    assert result == AnswerProfile("phone", ProfileAnswer.modified, "+33698765432")


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [("siren", "732829321", "clé de contrôle"), ("email", "pas-un-mail", "e-mail"), ("phone", "12", "téléphone"),
     ("naf", "ABC", "NAF"), ("activity", "   ", "obligatoire")],
)
def test_a_bad_value_is_shown_under_the_field(field: str, typed: str, message: str) -> None:
    case = case_at(ClientType.tns, state=State.admin_profile_update)
    result = forms.parse_profile_change(values(value=text(typed)), case, field, TODAY)
    assert list(result) == [ids.INPUT_VALUE] and message in result[ids.INPUT_VALUE]


def test_a_pro_field_is_normalised() -> None:
    case = case_at(ClientType.professionnel, state=State.admin_profile_update)
    assert forms.parse_profile_change(values(value=text("6201z")), case, "naf", TODAY).new_value == "62.01Z"
    assert forms.parse_profile_change(values(value=text("732 829 320")), case, "siren", TODAY).new_value == "732829320"


def test_situations_come_from_the_catalogue() -> None:
    case = case_at(state=State.admin_profile_update)
    ok = forms.parse_profile_change(values(value=option("artisan")), case, "professional_status", TODAY)
    assert ok == AnswerProfile("professional_status", ProfileAnswer.modified, "artisan")
    bad = forms.parse_profile_change(values(value=option("empereur")), case, "professional_status", TODAY)
    assert ids.INPUT_VALUE in bad
    assert ids.INPUT_VALUE in forms.parse_profile_change(values(), case, "marital_status", TODAY)


def test_a_forged_field_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload):
        forms.parse_profile_change(values(value=text("1")), case_at(), "siren", TODAY)  # particulier: no SIREN


@pytest.mark.parametrize("garbage", [None, "x", [], {"value": 3}, {"value": {"value": []}},
                                     {"value": {"value": {"selected_option": "x", "value": 12}}}])
def test_garbage_is_an_error_not_an_exception(garbage: Any) -> None:
    case = case_at(ClientType.tns, state=State.admin_profile_update)
    for field in ("siren", "marital_status"):
        assert ids.INPUT_VALUE in forms.parse_profile_change(garbage, case, field, TODAY)


def test_huge_text_is_refused() -> None:
    case = case_at(state=State.admin_profile_update)
    result = forms.parse_profile_change(values(value=text("x" * 100_000)), case, "address", TODAY)
    assert "trop long" in result[ids.INPUT_VALUE]
    assert "trop long" in forms.parse_need(values(need=text("x" * 100_000)))[ids.INPUT_NEED]


# --- Contracts and rebound ----------------------------------------------------------------------------------


def test_missing_piece_from_catalogue_or_typed() -> None:
    case = case_at(ClientType.particulier, 2, State.admin_contract_validation)
    chosen = forms.parse_missing_piece(values(piece=option("permis"), recovery=option("email")), case, "AUTO-1")
    assert chosen == AnswerContract("AUTO-1", ContractAnswer.missing_piece, piece="permis", recovery="email")
    typed = forms.parse_missing_piece(values(piece_other=text("Carte grise du 2e véhicule"), recovery=option("agence")),
                                      case, "AUTO-1")
    assert typed.piece == "Carte grise du 2e véhicule"
    # A piece of another family is not offered for this contract.
    assert ids.INPUT_PIECE in forms.parse_missing_piece(
        values(piece=option("justificatif_domicile"), recovery=option("email")), case, "AUTO-1")
    neither = forms.parse_missing_piece(values(), case, "AUTO-1")
    assert set(neither) == {ids.INPUT_PIECE, ids.INPUT_RECOVERY}
    with pytest.raises(BadPayload):
        forms.parse_missing_piece(values(), case, "OTHER")


def test_contract_elsewhere() -> None:
    case = case_at(state=State.commercial_rebound)
    result = forms.parse_elsewhere(
        values(protection=option("pj"), insurer=text(" MAAF "), renewal={"selected_date": "2027-03-01"}), case)
    assert result == AnswerProtection("pj", ProtectionAnswer.elsewhere, insurer="MAAF", renewal_on=date(2027, 3, 1))
    # RC pro is not a particulier's protection; a malformed date is an error too.
    bad = forms.parse_elsewhere(values(protection=option("rc_pro"), renewal={"selected_date": "03/2027"}), case)
    assert set(bad) == {ids.INPUT_PROTECTION, ids.INPUT_INSURER, ids.INPUT_RENEWAL}


def test_priority_and_need() -> None:
    case = case_at(state=State.commercial_rebound)
    assert forms.parse_priority(values(reason=text("Enfants")), case, "gav") == SetPriority("gav", True, "Enfants")
    assert ids.INPUT_REASON in forms.parse_priority(values(), case, "gav")
    with pytest.raises(BadPayload):
        forms.parse_priority(values(reason=text("x")), case, "licorne")
    assert forms.parse_need(values(need=text("Un scooter"))) == RecordNeed("Un scooter")


# --- Action plan, callback, closing -------------------------------------------------------------------------


def _action(due: str, user: str = "U_AGENT", kind: str = "rdv", **more: dict[str, Any]) -> dict[str, Any]:
    return values(kind=option(kind), due={"selected_date": due}, owner={"selected_user": user}, **more)


def test_an_action_becomes_add_action() -> None:
    submitted = _action("2026-12-10", purpose=checked("bilan_global"), reason=text("Bilan des contrats"))
    assert forms.parse_action(submitted, TODAY, EMAILS) == AddAction(
        ActionKind.rdv, date(2026, 12, 10), AGENT, purpose="bilan_global", reason="Bilan des contrats")
    assert forms.parse_action(_action(TODAY.isoformat()), TODAY, EMAILS).purpose is None
    administrative = _action(TODAY.isoformat(), kind="relance", aim=option("administrative"))
    assert forms.parse_action(administrative, TODAY, EMAILS).aim is Aim.administrative
    assert ids.INPUT_AIM in forms.parse_action(_action(TODAY.isoformat(), aim=option("autre")), TODAY, EMAILS)


def test_a_changed_address_needs_its_own_postcode() -> None:
    case = case_at()
    moved = "8 place Bellecour 69002 Lyon"
    kept_old = forms.parse_profile_change(values(value=text(moved), postcode=text("69003")), case, "address", TODAY)
    assert "69002" in kept_old[ids.INPUT_POSTCODE]
    assert ids.INPUT_POSTCODE in forms.parse_profile_change(values(value=text(moved)), case, "address", TODAY)
    assert ids.INPUT_POSTCODE in forms.parse_profile_change(
        values(value=text("Lieu-dit Les Granges"), postcode=text("123")), case, "address", TODAY)
    command = forms.parse_profile_change(values(value=text(moved), postcode=text("69 002")), case, "address", TODAY)
    assert (command.new_value, command.postcode) == (moved, "69002")


def test_an_action_in_the_past_or_for_a_stranger_is_refused() -> None:
    errors = forms.parse_action(_action("2026-11-30", user="U_STRANGER", kind="massage"), TODAY, EMAILS)
    assert "passée" in errors[ids.INPUT_DUE]
    assert set(errors) == {ids.INPUT_DUE, ids.INPUT_OWNER, ids.INPUT_KIND}
    assert ids.INPUT_PURPOSE in forms.parse_action(_action("2026-12-10", purpose=checked("autre")), TODAY, EMAILS)


def test_callback() -> None:
    later = NOW + timedelta(hours=26)
    submitted = values(callback_at={"selected_date_time": int(later.timestamp())}, client_requested=checked("yes"),
                       request_wording=text("Rappelez-moi à 21h, je rentre tard"))
    assert forms.parse_callback(submitted, NOW) == RecordAttempt(
        AttemptOutcome.callback, callback_at=later, client_requested=True,
        request_wording="Rappelez-moi à 21h, je rentre tard")
    unworded = values(callback_at={"selected_date_time": int(later.timestamp())}, client_requested=checked("yes"))
    assert "ses mots" in forms.parse_callback(unworded, NOW)[ids.INPUT_REQUEST_WORDING]
    past = values(callback_at={"selected_date_time": int((NOW - timedelta(minutes=1)).timestamp())})
    assert "passé" in forms.parse_callback(past, NOW)[ids.INPUT_CALLBACK_AT]
    absurd = values(callback_at={"selected_date_time": 10**20})
    assert ids.INPUT_CALLBACK_AT in forms.parse_callback(absurd, NOW)
    unrequested = values(callback_at={"selected_date_time": int(later.timestamp())})
    assert forms.parse_callback(unrequested, NOW).client_requested is False


def test_close_early_and_reassign() -> None:
    submitted = values(close_reason={"type": "radio_buttons", "selected_option": {"value": "duplicate"}},
                       note=text("Doublon de C002"))
    assert forms.parse_close_early(submitted) == CloseEarly(CloseReason.duplicate, "Doublon de C002")
    completed = values(close_reason={"selected_option": {"value": "completed"}})
    assert ids.INPUT_CLOSE_REASON in forms.parse_close_early(completed)
    assert forms.parse_reassign(values(agent={"selected_user": "U_AGENT"}), EMAILS) == Reassign(AGENT)
    assert ids.INPUT_AGENT in forms.parse_reassign(values(agent={"selected_user": "U_X"}), EMAILS)


def test_open_case() -> None:
    assert forms.parse_open_case(values(case=option("C1")), {"C1", "C2"}) == "C1"
    assert ids.INPUT_CASE in forms.parse_open_case(values(case=option("C9")), {"C1"})
