"""The catalogue's lists as (code, label) choices: the options modals offer and the codes forms accept.

One place for both sides, so a form never accepts a code its modal did not offer.
"""

from __future__ import annotations

import wording
from flows.case import ClientFile, Contract
from flows.script import product_family, protections_for

Choices = list[tuple[str, str]]

# Profile fields answered by picking from the catalogue rather than typing.
SELECT_FIELDS: dict[str, str] = {
    "marital_status": "catalog.marital_statuses",
    "professional_status": "catalog.professional_statuses",
}


def _catalog(key: str) -> Choices:
    return [(entry["code"], entry["label"]) for entry in wording.data(key)]


def field_choices(field: str) -> Choices | None:
    """The options of a profile field picked from a list; None for a field typed in free text."""
    key = SELECT_FIELDS.get(field)
    return _catalog(key) if key else None


def pieces(contract: Contract) -> Choices:
    """Pieces any contract needs, then those of the contract's product family."""
    groups = wording.data("catalog.pieces")
    family = product_family(contract.product)
    return [(p["code"], p["label"]) for group in ("all", family) if group in groups for p in groups[group]]


def protections(client: ClientFile) -> Choices:
    return protections_for(client.client_type)


def label_of(choices: Choices, code: str | None) -> str | None:
    """The label of a code; a code the catalogue lacks (free text, older catalogue) is shown as stored."""
    return dict(choices).get(code, code) if code else code
