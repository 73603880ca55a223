"""The call script of the guide (section 4), filled from the case, and the catalogue look-ups it needs.

Every sentence comes from `flows/texts/script.yml`; products, formulas, pieces and protections are
named from `flows/texts/catalog.yml`, so an agency rewords them without touching code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from babel.lists import format_list
from babel.units import format_unit

from flows import texts
from flows.case import Case, ClientType, Contract

LOCALE = "fr_FR"


def _product(code: str) -> dict[str, Any] | None:
    # Lagon exports are inconsistent about case.
    products: dict[str, dict[str, Any]] = texts.data("catalog.products")
    return next((entry for key, entry in products.items() if key.casefold() == code.strip().casefold()), None)


def product_name(code: str) -> str:
    """The product in plain French ("assurance auto"); the raw code when the catalogue lacks it."""
    entry = _product(code)
    return entry["name"] if entry else code


def product_family(code: str) -> str | None:
    entry = _product(code)
    return entry["family"] if entry else None


def _formula_words(entry: dict[str, Any] | None, formula: str) -> str:
    formulas: dict[str, str] = (entry or {}).get("formulas") or {}
    words = next((w for key, w in formulas.items() if key.casefold() == formula.strip().casefold()), None)
    if words is not None:
        return words
    readable = formula.replace("_", " ").strip().lower()
    return texts.t("script.contract.unknown_formula", formula=readable) if readable else ""


def _zone_words(entry: dict[str, Any] | None, postcode: str | None) -> str:
    zone_code = (entry or {}).get("context")
    if not zone_code or not postcode:
        return ""
    zone = texts.data(f"catalog.zones.{zone_code}")
    return zone["label"] if postcode.replace(" ", "").startswith(tuple(zone["postcode_prefixes"])) else ""


def describe_contract(contract: Contract, postcode: str | None) -> str:
    """The contract reworded for the client: "assurance auto tous risques en zone urbaine" (guide 4.4)."""
    entry = _product(contract.product)
    parts = (
        product_name(contract.product),
        _formula_words(entry, contract.formula),
        _zone_words(entry, postcode),
    )
    return " ".join(part for part in parts if part)


def _pieces(group: str) -> list[dict[str, str]]:
    return texts.data("catalog.pieces").get(group, [])


def piece_label(code: str) -> str:
    """The label of a catalogue piece; a piece typed in free text is returned as typed."""
    for group in texts.data("catalog.pieces").values():
        for piece in group:
            if piece["code"] == code:
                return piece["label"]
    return code


def expected_pieces(contract: Contract) -> list[str]:
    """Labels of the pieces any contract needs, then those of its product family."""
    family = product_family(contract.product)
    return [p["label"] for p in _pieces("all") + (_pieces(family) if family else [])]


def recovery_modes() -> list[tuple[str, str]]:
    return [(mode["code"], mode["label"]) for mode in texts.data("catalog.recovery_modes")]


def protections_for(client_type: ClientType, *, structuring_only: bool = False) -> list[tuple[str, str]]:
    """(code, label) of the protections a global review covers for this type of client."""
    return [
        (p["code"], p["label"])
        for p in texts.data("catalog.protections")
        if client_type.value in p["client_types"] and (p["structuring"] or not structuring_only)
    ]


def display_name(email: str | None, names: Mapping[str, str] | None) -> str:
    """An agent's display name from the directory, else the part of his e-mail before the @."""
    if not email:
        return ""
    return (names or {}).get(email) or email.split("@", 1)[0]


def _months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (end.day < start.day)


def _elapsed(since: date, today: date) -> str:
    months = _months_between(since, today)
    if months >= 1:
        return format_unit(months, "duration-month", locale=LOCALE, length="long")
    weeks = max((today - since).days // 7, 1)
    return format_unit(weeks, "duration-week", locale=LOCALE, length="long")


def _join(items: list[str]) -> str:
    return format_list(items, locale=LOCALE) if items else ""


def opening_script(case: Case, caller: str, names: Mapping[str, str] | None, today: date) -> list[str]:
    """The contact step (guide 4.2): introduction, the contract recalled with its seller, the pause,
    the authorisation question and what to do on yes or no."""
    client = " ".join(part for part in (case.client.civility, case.client.last_name) if part)
    contracts = _join(
        [texts.t("script.contract.item", description=describe_contract(c, case.client.postcode)) for c in case.contracts]
    )
    duration = _elapsed(case.first_subscription, today)
    if case.seller is None:
        recall = texts.t("script.opening.agency", contracts=contracts, duration=duration)
    elif case.seller == caller:
        recall = texts.t("script.opening.seller", contracts=contracts, duration=duration)
    else:
        recall = texts.t(
            "script.opening.colleague",
            seller=display_name(case.seller, names),
            contracts=contracts,
            duration=duration,
        )
    return [
        texts.t("script.opening.greeting", client=client, caller=display_name(caller, names)),
        recall,
        texts.t("script.opening.let_client_place"),
        texts.t("script.opening.authorisation"),
        texts.t("script.opening.if_yes"),
        texts.t("script.opening.if_no"),
    ]


def profile_script(case: Case) -> list[str]:
    """The client-file step (guide 4.3); the TNS rule is recalled while the file still says particulier."""
    fields = _join([texts.t(f"labels.field.{name}") for name in case.client.profile_fields()])
    lines = [texts.t("script.profile.intro"), texts.t("script.profile.fields", fields=fields)]
    if case.client.client_type is ClientType.particulier:
        lines.append(texts.t("script.profile.tns_rule"))
    return lines


def contract_script(case: Case) -> list[str]:
    """The contract step (guide 4.4): each contract reworded, then what is missing and how to get it."""
    lines = [texts.t("script.contracts.intro")]
    modes = _join([label for _, label in recovery_modes()])
    for contract in case.contracts:
        lines.append(
            texts.t(
                "script.contracts.reworded",
                number=contract.number,
                description=describe_contract(contract, case.client.postcode),
            )
        )
        if not contract.signed:
            lines.append(texts.t("script.contracts.unsigned", number=contract.number))
        if contract.missing_pieces:
            pieces = _join([piece_label(code) for code in contract.missing_pieces])
            lines.append(texts.t("script.contracts.missing", number=contract.number, pieces=pieces))
            lines.append(texts.t("script.contracts.recovery", modes=modes))
        elif contract.signed:
            lines.append(texts.t("script.contracts.complete", number=contract.number))
    return lines


def agreement_wording() -> str:
    """The exact consent question asked before the rebound; stored with the answer as proof."""
    return texts.t("script.agreement")


def rebound_script(case: Case) -> list[str]:
    """The commercial rebound (guide 4.5), with the structuring protections of this type of client."""
    structuring = _join([label for _, label in protections_for(case.client.client_type, structuring_only=True)])
    return [
        texts.t("script.rebound.thanks"),
        texts.t("script.rebound.pivot"),
        texts.t("script.rebound.silence"),
        texts.t("script.rebound.identify"),
        texts.t("script.rebound.check", protections=structuring),
        texts.t("script.rebound.review"),
    ]


def action_plan_script(case: Case) -> list[str]:
    """The closing step: recap of the priorities retained in the rebound and the dated plan."""
    labels = dict(protections_for(case.client.client_type))
    priorities = [
        labels.get(check.protection, check.protection)
        for check in case.protections.values()
        if check.priority
    ]
    lines = [texts.t("script.action_plan.intro")]
    if priorities:
        lines.append(texts.t("script.action_plan.priorities", priorities=_join(priorities)))
    else:
        lines.append(texts.t("script.action_plan.no_priorities"))
    lines += [texts.t("script.action_plan.review"), texts.t("script.action_plan.closing")]
    return lines
