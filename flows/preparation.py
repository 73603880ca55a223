"""The prioritised checklist "à compléter / à valider" the agent reads before calling (guide 4.1).

Built from the case as imported: what is missing comes first (contact data, signature, pieces, pro data,
situations), then what is present but must be confirmed during the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from babel.lists import format_list

from flows import texts
from flows.case import Case, ClientType
from flows.script import LOCALE, expected_pieces, piece_label, product_name
from flows.validation import is_tns

Kind = Literal["a_completer", "a_valider"]

CONTACT_FIELDS: tuple[str, ...] = ("phone", "email", "address")
STATUS_FIELDS: tuple[str, ...] = ("marital_status", "professional_status")
PRO_DATA_FIELDS: tuple[str, ...] = ("siren", "naf", "activity")

# Lower is more urgent: without a phone number there is no call, without a signature no contract.
PRIORITY_CONTACT = 1
PRIORITY_SIGNATURE = 2
PRIORITY_PIECE = 3
PRIORITY_TNS = 4
PRIORITY_PRO_DATA = 5
PRIORITY_STATUS = 6
PRIORITY_VALIDATE_CONTRACT = 7
PRIORITY_VALIDATE_CONTACT = 8


@dataclass(frozen=True)
class ChecklistItem:
    priority: int
    kind: Kind
    code: str
    text: str
    contract_number: str | None = None
    field: str | None = None


def _field_label(name: str) -> str:
    return texts.t(f"labels.field.{name}")


def _contact_items(case: Case) -> list[ChecklistItem]:
    items = []
    for name in CONTACT_FIELDS:
        if case.client.value(name):
            items.append(
                ChecklistItem(
                    PRIORITY_VALIDATE_CONTACT,
                    "a_valider",
                    "validate_field",
                    texts.t("checklist.validate_field", field=_field_label(name)),
                    field=name,
                )
            )
        else:
            items.append(
                ChecklistItem(
                    PRIORITY_CONTACT,
                    "a_completer",
                    "missing_field",
                    texts.t("checklist.missing_field", field=_field_label(name)),
                    field=name,
                )
            )
    return items


def _contract_items(case: Case) -> list[ChecklistItem]:
    items = []
    for contract in case.contracts:
        product = product_name(contract.product)
        if not contract.signed:
            items.append(
                ChecklistItem(
                    PRIORITY_SIGNATURE,
                    "a_completer",
                    "unsigned_contract",
                    texts.t("checklist.unsigned_contract", number=contract.number, product=product),
                    contract_number=contract.number,
                )
            )
        for piece in contract.missing_pieces:
            items.append(
                ChecklistItem(
                    PRIORITY_PIECE,
                    "a_completer",
                    "missing_piece",
                    texts.t(
                        "checklist.missing_piece", number=contract.number, product=product, piece=piece_label(piece)
                    ),
                    contract_number=contract.number,
                )
            )
        items.append(
            ChecklistItem(
                PRIORITY_VALIDATE_CONTRACT,
                "a_valider",
                "validate_contract",
                texts.t(
                    "checklist.validate_contract",
                    number=contract.number,
                    product=product,
                    pieces=format_list(expected_pieces(contract), locale=LOCALE),
                ),
                contract_number=contract.number,
            )
        )
    return items


def _profile_items(case: Case) -> list[ChecklistItem]:
    client = case.client
    items = []
    # Guide 4.3: a TNS is handled as a pro client even if Lagon only has a personal contract.
    if client.client_type is ClientType.particulier and is_tns(client.professional_status):
        status = next(
            s["label"] for s in texts.data("catalog.professional_statuses") if s["code"] == client.professional_status
        )
        items.append(
            ChecklistItem(
                PRIORITY_TNS,
                "a_completer",
                "tns_detected",
                texts.t("checklist.tns_detected", status=status),
                field="professional_status",
            )
        )
    if client.is_pro or is_tns(client.professional_status):
        items += [
            ChecklistItem(
                PRIORITY_PRO_DATA,
                "a_completer",
                "missing_pro_field",
                texts.t("checklist.missing_pro_field", field=_field_label(name)),
                field=name,
            )
            for name in PRO_DATA_FIELDS
            if not client.value(name)
        ]
    items += [
        ChecklistItem(
            PRIORITY_STATUS,
            "a_completer",
            "unknown_status",
            texts.t("checklist.unknown_status", field=_field_label(name)),
            field=name,
        )
        for name in STATUS_FIELDS
        if not client.value(name)
    ]
    return items


def checklist(case: Case) -> list[ChecklistItem]:
    """Every item to complete or confirm, most urgent first (stable within one priority)."""
    items = _contact_items(case) + _contract_items(case) + _profile_items(case)
    return sorted(items, key=lambda item: item.priority)
