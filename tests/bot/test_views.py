"""The Block Kit builders: every message and modal, at every state, for particulier, professionnel and TNS
clients with 1 and 5 contracts, passes slack_sdk's validation and Slack's limits, shows the guide's labels
exactly, and shows each answer already given."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.forms import parse_action
from bot.payloads import BadPayload, decode
from bot.views import ids, modals
from bot.views.blocks import Message
from bot.views.card import closing_notice, status_card
from bot.views.help import help_message, refusal
from bot.views.lists import CaseRow, my_cases
from bot.views.steps import (
    action_plan_step,
    contact_step,
    contracts_step,
    preparation_step,
    profile_step,
    rebound_step,
    step_message,
)
from flows import commands as cmd
from flows.case import (
    Action,
    ActionKind,
    AttemptOutcome,
    ClientType,
    ContractAnswer,
    Need,
    ProfileAnswer,
    ProtectionAnswer,
    ProtectionCheck,
    State,
)
from flows.engine import checklist_progress, handle
from flows.rules import Rules
from flows.script import agreement_wording, protections_for
from tests.flows.factories import AGENT, NOW, SELLER, TODAY, case_at

NAMES = {SELLER: "Valérie Vendeuse", AGENT: "Antoine Agent"}
ALL_ACTION_IDS = [
    value for name, value in vars(ids).items() if name.isupper() and not name.startswith(("MODAL_", "INPUT_"))
]


VARIANTS = [(ClientType.particulier, 1), (ClientType.particulier, 5), (ClientType.professionnel, 1),
            (ClientType.professionnel, 5), (ClientType.tns, 1), (ClientType.tns, 5)]
CASES = [(kind, count, state) for kind, count in VARIANTS for state in State]


# --- What every message must respect ------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def assert_valid(message: Message) -> None:
    assert message.text and len(message.text) <= 3000
    assert 0 < len(message.blocks) <= 50
    for block in message.blocks:
        Block.parse(block).validate_json()  # slack_sdk's own checks, on what we send
    action_ids = []
    for node in _walk(message.blocks):
        if node.get("type") == "button":
            assert len(node["text"]["text"]) <= 75
            assert len(node.get("value", "")) <= 2000
            action_ids.append(node["action_id"])
        if node.get("type") == "actions":
            assert len(node["elements"]) <= 25
        if node.get("type") == "section" and "text" in node:
            assert len(node["text"]["text"]) <= 3000
    assert len(action_ids) == len(set(action_ids)), "action_ids must be unique within a message"
    for action_id in action_ids:
        assert len(action_id) <= 255
        assert any(ids.pattern(known).match(action_id) for known in ALL_ACTION_IDS), action_id


def buttons(message: Message) -> dict[str, dict[str, Any]]:
    """Buttons by action_id."""
    return {node["action_id"]: node for node in _walk(message.blocks) if node.get("type") == "button"}


def labels(message: Message) -> list[str]:
    return [node["text"]["text"] for node in buttons(message).values()]


def texts(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def assert_modal(view: dict[str, Any], callback_id: str) -> dict[str, Any]:
    View(**view).validate_json()
    assert view["callback_id"] == callback_id
    assert len(view["title"]["text"]) <= 24
    assert len(view["blocks"]) <= 100
    assert len(view["private_metadata"]) <= 3000
    return view


# --- Every step, every variant ------------------------------------------------------------------------------


@pytest.mark.parametrize(("client_type", "count", "state"), CASES)
def test_every_message_of_every_state_is_valid(client_type: ClientType, count: int, state: State) -> None:
    case = case_at(client_type, count, state)
    assert_valid(status_card(case, NAMES))
    for step_state in State:
        assert_valid(step_message(case, NAMES, TODAY, state=step_state))


def test_the_biggest_rebound_stays_under_50_blocks() -> None:
    case = case_at(ClientType.tns, 5, State.commercial_rebound)
    for code, _ in protections_for(ClientType.tns):
        case.protections.setdefault(code, ProtectionCheck(code, ProtectionAnswer.not_covered, NOW, AGENT))
    case.needs += [Need("x" * 1000, NOW, AGENT) for _ in range(20)]
    assert_valid(rebound_step(case, TODAY))


def test_a_long_action_plan_stays_under_50_blocks() -> None:
    case = case_at(ClientType.particulier, 1, State.action_plan)
    case.actions = [Action(ActionKind.relance, TODAY, AGENT, NOW, AGENT, id=n, reason="r" * 1000) for n in range(60)]
    assert_valid(action_plan_step(case, NAMES, TODAY))
    case.state = State.closed
    assert_valid(status_card(case, NAMES))


# --- The guide's labels, exactly ----------------------------------------------------------------------------


def test_contact_step_has_the_availability_buttons() -> None:
    message = contact_step(case_at(state=State.contact_attempt), NAMES, TODAY)
    assert {"Client disponible", "Rappeler plus tard", "Pas de réponse / messagerie", "Le client refuse"} <= set(
        labels(message)
    )
    value = buttons(message)[ids.suffixed(ids.ATTEMPT, "available")]["value"]
    assert decode(value) == (42, {"o": "available"})


def test_profile_step_has_three_answers_per_field_then_validate() -> None:
    case = case_at(ClientType.professionnel, 1, State.admin_profile_update)
    message = profile_step(case)
    found = labels(message)
    fields = case.client.profile_fields()
    for text in ("Modifié", "Non communiqué"):
        assert found.count(text) == len(fields)
    # An empty field cannot be confirmed: only Modifié and Non communiqué are offered for it.
    assert found.count("Confirmé") == sum(1 for f in fields if case.client.value(f))
    assert "Valider la fiche" in found
    assert "SIREN" in texts(message) and "Code NAF" in texts(message)


def test_particulier_profile_has_no_pro_fields() -> None:
    assert "SIREN" not in texts(profile_step(case_at(state=State.admin_profile_update)))


def test_contract_step_rewords_each_contract_with_its_buttons() -> None:
    case = case_at(ClientType.particulier, 5, State.admin_contract_validation)
    message = contracts_step(case)
    for text in ("Signé", "Pièce manquante", "À relancer"):
        assert labels(message).count(text) == 5
    assert "assurance auto tous risques" in texts(message)
    assert "Valider les contrats" in labels(message)


def test_rebound_step_has_the_protection_buttons_once_agreed() -> None:
    message = rebound_step(case_at(ClientType.particulier, 1, State.commercial_rebound), TODAY)
    for text in ("Contrat ailleurs", "Pas couvert", "À approfondir"):
        assert text in labels(message)
    assert "Terminer le rebond" in labels(message)


@pytest.mark.parametrize("client_type", list(ClientType))
def test_rebound_lists_each_structuring_protection(client_type: ClientType) -> None:
    case = case_at(client_type, 1, State.commercial_rebound)
    case.protections.clear()
    content = texts(rebound_step(case, TODAY))
    structuring = protections_for(client_type, structuring_only=True)
    assert structuring
    for _, name in structuring:
        assert f"*{name}*" in content


def test_rebound_asks_the_agreement_first() -> None:
    case = case_at(ClientType.particulier, 1, State.commercial_rebound)
    case.agreement = None
    case.protections.clear()
    message = rebound_step(case, TODAY)
    assert "Contrat ailleurs" not in labels(message)
    assert {"Le client accepte", "Le client refuse"} <= set(labels(message))
    assert "Acceptez-vous" in texts(message)


def test_action_plan_step_has_the_closing_buttons() -> None:
    message = action_plan_step(case_at(state=State.action_plan), NAMES, TODAY)
    assert {"Créer devis", "Planifier RDV", "Programmer relance", "Clôturer le dossier"} <= set(labels(message))
    assert decode(buttons(message)[ids.suffixed(ids.ACTION_REMOVE, 1)]["value"]) == (42, {"i": 1})


# --- Answers shown beside their rows ------------------------------------------------------------------------


def _row_after(message: Message, title: str) -> str:
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b]
    return next(text for text in sections if text.startswith(title))


def test_an_answered_profile_row_shows_its_answer_and_new_value() -> None:
    message = profile_step(case_at(state=State.admin_profile_update))
    row = _row_after(message, "*Téléphone*")
    assert "✓ *Modifié*" in row and "+33698765432" in row and "~+33612345678~" in row
    assert buttons(message)[ids.suffixed(ids.PROFILE_ANSWER, 3, "modified")].get("style") == "primary"
    assert "style" not in buttons(message)[ids.suffixed(ids.PROFILE_ANSWER, 3, "confirmed")]
    assert "✓" not in _row_after(message, "*E-mail*")


def test_situations_show_their_catalogue_label() -> None:
    case = case_at(state=State.admin_contract_validation)
    assert "Marié(e)" in _row_after(profile_step(case), "*Situation matrimoniale*")


def test_an_answered_contract_shows_the_missing_piece() -> None:
    message = contracts_step(case_at(ClientType.particulier, 5, State.action_plan))
    row = _row_after(message, "*Contrat n° SANTE-3*")
    assert "✓ *Pièce manquante*" in row and "RIB" in row and "Par e-mail" in row
    assert not buttons(message), "a past step is a read-only record"


def test_rebound_rows_show_insurer_and_priority() -> None:
    message = rebound_step(case_at(ClientType.particulier, 1, State.commercial_rebound), TODAY)
    assert "MAAF" in _row_after(message, "*Protection juridique*")
    gav = _row_after(message, "*Garantie des accidents de la vie (GAV)*")
    assert "✓ *Pas couvert*" in gav and "Enfants en bas âge" in gav
    assert "Retirer des priorités" in labels(message)


def test_preparation_shows_the_checklist_and_start_button() -> None:
    case = case_at(ClientType.particulier, 5, State.preparation)
    message = preparation_step(case, NAMES, TODAY)
    assert "À compléter" in texts(message) and "À valider" in texts(message)
    assert "Démarrer l'appel" in labels(message)
    assert "Bonjour" in texts(message)


def test_callback_shows_the_booked_time_without_attempt_buttons() -> None:
    message = contact_step(case_at(state=State.scheduled_callback), NAMES, TODAY)
    assert "à la demande du client" in texts(message)
    assert "Client disponible" not in labels(message)


# --- Card, lists, help --------------------------------------------------------------------------------------


def test_card_names_the_case_and_keeps_personal_data_off() -> None:
    case = case_at(ClientType.particulier, 5, State.admin_profile_update)
    message = status_card(case, NAMES)
    content = texts(message)
    for shown in ("Mme Claire Martin", "AUTO-1", "assurance habitation", "Recommandation", "Valérie Vendeuse",
                  "Antoine Agent", "1 décembre 2026", "Mise à jour fiche client"):
        assert shown in content, shown
    for hidden in ("claire.martin@example.fr", "+336", "rue des Lilas"):
        assert hidden not in content


def test_the_checklist_count_is_on_the_current_steps_message_not_on_the_card() -> None:
    case = case_at(ClientType.particulier, 5, State.admin_profile_update)
    done, total = checklist_progress(case)
    count = f"{done}/{total} points traités"

    assert count in texts(step_message(case, NAMES, TODAY))
    assert count not in texts(status_card(case, NAMES))
    assert count not in texts(step_message(case, NAMES, TODAY, state=State.preparation))  # a step left behind


def test_closed_card_and_notice_carry_the_dated_plan() -> None:
    case = case_at(ClientType.particulier, 1, State.closed)
    for message in (status_card(case, NAMES), closing_notice(case, NAMES)):
        content = texts(message)
        assert "Appel abouti" in content and "11 décembre 2026" in content and "bilan global" in content


def _mrkdwn(message: Message) -> str:
    return "\n".join(node["text"] for node in _walk(message.blocks) if node.get("type") == "mrkdwn") + message.text


@pytest.mark.parametrize("state", [State.preparation, State.admin_profile_update, State.closed])
def test_client_typed_markup_is_escaped(state: State) -> None:
    case = case_at(state=state)
    case.client.last_name = "<!channel> & co"
    for message in (step_message(case, NAMES, TODAY), status_card(case, NAMES)):
        content = _mrkdwn(message)
        assert "<!channel>" not in content and "&lt;!channel&gt; &amp; co" in content


def test_my_cases_lists_the_most_urgent_first() -> None:
    rows = [
        CaseRow(1, "Client B", State.action_plan, TODAY + timedelta(days=2), "https://slack.test/t/1"),
        CaseRow(2, "Client A", State.preparation, TODAY - timedelta(days=1), None),
    ]
    message = my_cases(rows, TODAY)
    assert_valid(message)
    content = texts(message)
    assert content.index("Client A") < content.index("Client B")
    assert "en retard" in content
    assert buttons(message)[ids.suffixed(ids.OPEN_THREAD, 1)]["url"] == "https://slack.test/t/1"
    assert_valid(my_cases([CaseRow(n, f"C{n}", State.preparation, TODAY, "https://x") for n in range(80)], TODAY))
    assert "Aucun dossier" in texts(my_cases([], TODAY))


def test_help_and_refusal() -> None:
    assert "/m3 mes-dossiers" in texts(help_message())
    message = refusal("Étape administrative d'abord <b>")
    assert_valid(message)
    assert "Visible uniquement par vous" in texts(message) and "&lt;b&gt;" in texts(message)


# --- Modals -------------------------------------------------------------------------------------------------


def _inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


@pytest.mark.parametrize(("client_type", "count"), VARIANTS)
def test_every_modal_is_valid(client_type: ClientType, count: int) -> None:
    case = case_at(client_type, count, State.commercial_rebound)
    for field in case.client.profile_fields():
        view = assert_modal(modals.profile_field_modal(case, field), ids.MODAL_PROFILE_FIELD)
        assert decode(view["private_metadata"]) == (42, {"f": field})
    for contract in case.contracts:
        assert_modal(modals.missing_piece_modal(case, contract.number), ids.MODAL_MISSING_PIECE)
    assert_modal(modals.elsewhere_modal(case, "pj"), ids.MODAL_ELSEWHERE)
    assert_modal(modals.elsewhere_modal(case, None), ids.MODAL_ELSEWHERE)
    for kind in ActionKind:
        for commercial in (True, False):
            assert_modal(modals.action_modal(case, kind, "U_AGENT", commercial=commercial), ids.MODAL_ACTION)
    assert_modal(modals.callback_modal(case, 15), ids.MODAL_CALLBACK)
    assert_modal(modals.close_early_modal(case), ids.MODAL_CLOSE_EARLY)
    assert_modal(modals.need_modal(case), ids.MODAL_NEED)
    assert_modal(modals.priority_modal(case, "gav"), ids.MODAL_PRIORITY)
    assert_modal(modals.reassign_modal(case, None), ids.MODAL_REASSIGN)


def test_profile_modal_selects_situations_and_prefills_text() -> None:
    case = case_at(ClientType.tns, 1, State.admin_profile_update)
    marital = _inputs(modals.profile_field_modal(case, "marital_status"))[ids.INPUT_VALUE]
    assert marital["type"] == "static_select" and marital["initial_option"]["value"] == "marie"
    siren = _inputs(modals.profile_field_modal(case, "siren"))[ids.INPUT_VALUE]
    assert siren["type"] == "plain_text_input" and siren["initial_value"] == "732829320"
    with pytest.raises(BadPayload):
        modals.profile_field_modal(case_at(), "siren")


def test_missing_piece_offers_the_family_pieces() -> None:
    case = case_at(ClientType.particulier, 2, State.admin_contract_validation)
    auto = _inputs(modals.missing_piece_modal(case, "AUTO-1"))[ids.INPUT_PIECE]
    habitation = _inputs(modals.missing_piece_modal(case, "HABITATION-2"))[ids.INPUT_PIECE]
    auto_codes = {o["value"] for o in auto["options"]}
    assert {"rib", "certificat_immatriculation"} <= auto_codes and "justificatif_domicile" not in auto_codes
    assert "justificatif_domicile" in {o["value"] for o in habitation["options"]}
    with pytest.raises(BadPayload):
        modals.missing_piece_modal(case, "NOPE")


def test_action_modal_defaults_to_the_agent_and_kind() -> None:
    view = modals.action_modal(case_at(state=State.action_plan), ActionKind.rdv, "U_AGENT", commercial=True)
    inputs = _inputs(view)
    assert inputs[ids.INPUT_OWNER]["initial_user"] == "U_AGENT"
    assert inputs[ids.INPUT_KIND]["initial_option"]["value"] == "rdv"
    assert inputs[ids.INPUT_DUE]["type"] == "datepicker"


def test_open_case_modal_lists_the_given_clients() -> None:
    view = assert_modal(modals.open_case_modal([("C1", "Mme Martin"), ("C2", "M. Durand")]), ids.MODAL_OPEN_CASE)
    assert [o["value"] for o in _inputs(view)[ids.INPUT_CASE]["options"]] == ["C1", "C2"]
    assert "submit" not in assert_modal(modals.open_case_modal([]), ids.MODAL_OPEN_CASE)
    assert_modal(modals.open_case_modal([(f"C{n}", f"Client {n}") for n in range(150)]), ids.MODAL_OPEN_CASE)


# --- Budget and identifiers ---------------------------------------------------------------------------------


def _command(action_id: str, value: str) -> Any:
    """What the lead's listener does with a click that needs no modal (see bot/views/ids.py)."""
    _, args = decode(value)
    kind = action_id.split(":")[0]
    return {
        ids.START_CALL: lambda: cmd.StartCall(AGENT),
        ids.ATTEMPT: lambda: cmd.RecordAttempt(AttemptOutcome(args["o"])),
        ids.PROFILE_ANSWER: lambda: cmd.AnswerProfile(args["f"], ProfileAnswer(args["a"])),
        ids.PROFILE_VALIDATE: cmd.ValidateProfile,
        ids.CONTRACT_ANSWER: lambda: cmd.AnswerContract(args["n"], ContractAnswer(args["a"])),
        ids.CONTRACTS_VALIDATE: cmd.ValidateContracts,
        ids.AGREEMENT: lambda: cmd.RecordAgreement(args["a"] == "yes", agreement_wording()),
        ids.PROTECTION_ANSWER: lambda: cmd.AnswerProtection(args["p"], ProtectionAnswer(args["a"])),
        ids.REBOUND_FINISH: cmd.FinishRebound,
        ids.CLOSE: cmd.Close,
    }[kind]()


def test_a_particulier_with_one_contract_is_called_in_about_25_clicks() -> None:
    """Walk the whole call through the buttons each step message shows, counting the clicks."""
    case = case_at()
    clicks = 0

    def press(button: dict[str, Any]) -> None:
        nonlocal clicks
        handle(case, _command(button["action_id"], button["value"]), actor=AGENT, now=NOW, rules=Rules())
        clicks += 1

    def click(text: str) -> None:
        press(next(b for b in buttons(step_message(case, NAMES, TODAY)).values() if b["text"]["text"] == text))

    def click_all(text: str) -> None:
        """Answer every row not answered yet with the button `text`."""
        while pending := [b for b in _unanswered(step_message(case, NAMES, TODAY)) if b["text"]["text"] == text]:
            press(pending[0])

    click("Démarrer l'appel")
    click("Client disponible")
    click_all("Confirmé")
    click("Valider la fiche")
    click_all("Signé")
    click("Valider les contrats")
    click("Le client accepte")
    click_all("Pas couvert")
    click("Terminer le rebond")
    assert "Planifier RDV" in labels(step_message(case, NAMES, TODAY))
    submitted = {
        ids.INPUT_KIND: {ids.INPUT_KIND: {"selected_option": {"value": "rdv"}}},
        ids.INPUT_DUE: {ids.INPUT_DUE: {"selected_date": "2026-12-10"}},
        ids.INPUT_OWNER: {ids.INPUT_OWNER: {"selected_user": "U_AGENT"}},
    }
    handle(case, parse_action(submitted, TODAY, {"U_AGENT": AGENT}), actor=AGENT, now=NOW, rules=Rules())
    clicks += 3  # Planifier RDV, the due date, Enregistrer
    click("Clôturer le dossier")
    assert case.state is State.closed
    assert clicks <= 25


def _unanswered(message: Message) -> list[dict[str, Any]]:
    """The buttons of the rows not answered yet: no button of their block is styled as the chosen one."""
    rows = [b["elements"] for b in message.blocks if b["type"] == "actions"]
    return [button for row in rows if not any(e.get("style") for e in row) for button in row]


def test_listener_patterns_match_bare_and_suffixed_ids() -> None:
    assert ids.pattern(ids.ATTEMPT).match(ids.ATTEMPT)
    assert ids.pattern(ids.ATTEMPT).match(ids.suffixed(ids.ATTEMPT, "available"))
    assert not ids.pattern(ids.ACTION_DONE).match(ids.ACTION_ADD)
    assert not re.match(ids.pattern(ids.CLOSE), ids.CLOSE_EARLY)
