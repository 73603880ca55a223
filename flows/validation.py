"""Normalisers for the client-file fields the agent types during the call.

Each returns the canonical form stored in the case or raises `Invalid` with the code of the reason the agent
reads (worded by the interface). Checks are delegated to maintained libraries (phonenumbers, email-validator,
python-stdnum); only the NAF code, which no library knows, is checked by its published format.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

import phonenumbers
import stdnum.exceptions
import stdnum.fr.siren
from email_validator import EmailNotValidError, validate_email

from flows import texts
from flows.case import PERSONAL_FIELDS, PRO_FIELDS
from flows.steps.common import Refused


class Invalid(Refused, ValueError):
    """A value refused by a normaliser: `code` names its wording in the interface's `validation` texts, which
    never repeat the value typed. It is a `Refused`, so an answer the engine normalises is refused with it."""

    section = "validation"


# Postcode prefixes of the overseas territories, longest first: Saint-Barthélemy and Saint-Martin
# share the 971 prefix with Guadeloupe but are collectivities of their own.
_OVERSEAS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("97133", "BL"),
    ("97150", "MF"),
    ("971", "GP"),
    ("972", "MQ"),
    ("973", "GF"),
    ("974", "RE"),
    ("975", "PM"),
    ("976", "YT"),
)
FRENCH_REGIONS: tuple[str, ...] = ("FR",) + tuple(region for _, region in _OVERSEAS_PREFIXES)

_POSTCODE_IN_TEXT = re.compile(r"(?<!\d)(\d{5})(?!\d)")
_NAF = re.compile(r"^(\d{2})\.?(\d{2})([A-Z])$")


def region_for_postcode(postcode: str | None) -> str:
    """The phone and calendar region of a French postcode: FR for metropolitan France (and unknown)."""
    code = (postcode or "").replace(" ", "")
    for prefix, region in _OVERSEAS_PREFIXES:
        if code.startswith(prefix):
            return region
    return "FR"


def postcode_from_address(address: str | None) -> str | None:
    """The postcode of a French postal address: the last standalone group of five digits."""
    found = _POSTCODE_IN_TEXT.findall(address or "")
    return found[-1] if found else None


def normalize_postcode(value: str) -> str:
    """A French postcode: five digits (spaces allowed in what is typed)."""
    compact = value.replace(" ", "")
    if not (len(compact) == 5 and compact.isdigit()):
        raise Invalid("postcode_format")
    return compact


def normalize_phone(value: str, postcode: str | None = None) -> str:
    """E.164 form of a French number, read first with the region of the client's postcode.

    A client may keep a number from another French territory (a metropolitan mobile in Réunion, an
    overseas one in Paris), so the other French regions are tried before refusing.
    """
    own = region_for_postcode(postcode)
    for region in (own, *(r for r in FRENCH_REGIONS if r != own)):
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise Invalid("phone_invalid", region=texts.t(f"catalog.regions.{own}"))


def normalize_email(value: str) -> str:
    # Deliverability would need DNS during the call and says nothing about whose address it is.
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise Invalid("email_invalid") from None


def normalize_siren(value: str) -> str:
    compact = stdnum.fr.siren.compact(value)
    if len(compact) == 14 and compact.isdigit():
        raise Invalid("siren_is_siret")
    if compact.strip("0") == "" and compact:
        raise Invalid("siren_zero")  # passes the Luhn key, yet names no company
    try:
        return stdnum.fr.siren.validate(compact)
    except stdnum.exceptions.InvalidChecksum:
        raise Invalid("siren_checksum") from None
    except stdnum.exceptions.ValidationError:
        raise Invalid("siren_length") from None


def naf_nomenclature(on: date) -> str:
    """The label of the NAF nomenclature in force on a date (NAF 2025 from 1 January 2027)."""
    applicable = [n for n in texts.data("catalog.naf_nomenclatures") if n["since"] <= on]
    return max(applicable, key=lambda n: n["since"])["label"]


def normalize_naf(value: str, on: date) -> tuple[str, str]:
    """`62.01Z`, `6201Z` or `62.01z` -> (`62.01Z`, label of the nomenclature in force on `on`)."""
    match = _NAF.match(value.strip().replace(" ", "").upper())
    if match is None:
        raise Invalid("naf_format")
    division, group, letter = match.groups()
    return f"{division}.{group}{letter}", naf_nomenclature(on)


def _fold(text: str) -> str:
    # Agents type labels with or without accents and case: compare them folded.
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _catalog_code(value: str, catalog_key: str, reason: str) -> str:
    entries: list[dict[str, Any]] = texts.data(catalog_key)
    wanted = _fold(value)
    for entry in entries:
        if wanted in (_fold(entry["code"]), _fold(entry["label"])):
            return entry["code"]
    raise Invalid(reason, choices=", ".join(e["label"] for e in entries))


def normalize_marital_status(code: str) -> str:
    """The catalogue code of a situation matrimoniale, given its code or its label."""
    return _catalog_code(code, "catalog.marital_statuses", "marital_status_unknown")


def normalize_professional_status(code: str) -> str:
    """The catalogue code of a situation professionnelle, given its code or its label."""
    return _catalog_code(code, "catalog.professional_statuses", "professional_status_unknown")


def is_tns(professional_status_code: str | None) -> bool:
    """Whether a professional status makes the client a travailleur non salarié (catalogue's `tns`)."""
    return any(
        entry["code"] == professional_status_code and entry["tns"]
        for entry in texts.data("catalog.professional_statuses")
    )


def _non_empty(field: str, value: str) -> str:
    collapsed = " ".join(value.split())
    if not collapsed:
        raise Invalid("required", field=texts.t(f"labels.field.{field}"))
    return collapsed


def normalize_field(field: str, value: str, *, postcode: str | None, on: date) -> str:
    """The stored form of one profile field (names of `PERSONAL_FIELDS` and `PRO_FIELDS`)."""
    if field not in PERSONAL_FIELDS + PRO_FIELDS:
        raise Invalid("unknown_field")
    value = _non_empty(field, value)
    normalizers: dict[str, Callable[[str], str]] = {
        "phone": lambda v: normalize_phone(v, postcode),
        "email": normalize_email,
        "marital_status": normalize_marital_status,
        "professional_status": normalize_professional_status,
        "siren": normalize_siren,
        "naf": lambda v: normalize_naf(v, on)[0],
    }
    return normalizers.get(field, lambda v: v)(value)
