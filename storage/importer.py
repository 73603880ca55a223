"""Import of the management system's (Lagon) CSV export of new business: one row per contract.

Each row is validated first (through `flows.validation`), then written in its own transaction, so a bad
row is reported with its line number and never half-written while the good rows go in. The client file
is created by its first import; later imports only fill the fields still empty, because the file is
updated during the call and the export may lag behind. Contracts follow the export: the last import wins
and every change goes to the audit trail (actor "import"). The columns `code_postal`, `siren`, `naf` and
`date_resiliation` are optional; without `code_postal` the postcode is read from the address.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from flows import texts
from flows.case import ClientFile, ClientType, Contract, Origin, State
from flows.opening import group_into_cases, m3_date
from flows.validation import (
    Invalid,
    normalize_email,
    normalize_naf,
    normalize_phone,
    normalize_siren,
    postcode_from_address,
)
from storage import audit
from storage import tables as rows
from storage.repository import assign, client_values, contract_to_domain, contract_values, create_case
from storage.tables import utcnow

ACTOR = "import"
REQUIRED_COLUMNS = (
    "numero_client", "civilite", "nom", "prenom", "type_client", "email", "telephone", "adresse",
    "numero_contrat", "produit", "formule", "date_souscription", "origine", "signature",
    "pieces_manquantes", "vendeur_email", "charge_clientele_email",
)
_NOT_EMPTY = ("numero_client", "nom", "type_client", "numero_contrat", "produit", "date_souscription",
              "origine", "signature")
# The export's yes/no and the plural labels of the guide ("Apporteurs", "Leads") are accepted too.
_SIGNATURE = {"oui": True, "non": False}
_ORIGINS = {o.value: o for o in Origin} | {f"{o.value}s": o for o in Origin}


class NotALagonExport(ValueError):
    """The file cannot be read as a Lagon export at all; `reason` is French."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ImportReport:
    file_name: str
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedRow:
    client: ClientFile
    contract: Contract


def load_mapping(path: Path | None) -> dict[str, str]:
    """The agency's column mapping file: `{our_column: their_header}` (YAML)."""
    if path is None:
        return {}
    try:
        mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        mapping = None
    if not isinstance(mapping, dict):
        raise NotALagonExport(texts.t("cli.import.mapping_invalid", path=path))
    return {str(ours): str(theirs) for ours, theirs in mapping.items()}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise NotALagonExport(texts.t("cli.import.encoding")) from None


def _header_key(name: str) -> str:
    return name.strip().lstrip("\ufeff").casefold()


def read_rows(data: bytes, mapping: dict[str, str] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {our column: stripped value}) for every non-blank row of the export."""
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise NotALagonExport(texts.t("cli.import.empty_file"))
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    theirs_to_ours = {_header_key(theirs): ours for ours, theirs in (mapping or {}).items()}
    header = [theirs_to_ours.get(_header_key(h), _header_key(h)) for h in next(reader)]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise NotALagonExport(texts.t("cli.import.not_lagon", missing=", ".join(missing)))
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        yield reader.line_num, {name: value.strip() for name, value in zip(header, values, strict=False)}


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.strip().casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _choice(values: dict[str, str], column: str, choices: dict[str, Any]) -> Any:
    found = choices.get(_fold(values[column]))
    if found is None:
        shown = ", ".join(dict.fromkeys(str(c) for c in choices.values()))
        raise Invalid(texts.t("cli.import.choice", column=column, choices=shown))
    return found


def _date(values: dict[str, str], column: str) -> date | None:
    if not values.get(column):
        return None
    try:
        return datetime.strptime(values[column], "%d/%m/%Y").date()
    except ValueError:
        raise Invalid(texts.t("cli.import.date", column=column)) from None


def _checked(values: dict[str, str], column: str, normalizer: Any) -> Any:
    """The normalised value of an optional column (None when empty); a refusal names the column."""
    if not values.get(column):
        return None
    try:
        return normalizer(values[column])
    except Invalid as error:
        raise Invalid(texts.t("cli.import.invalid", column=column, reason=error.reason)) from None


def parse_row(values: dict[str, str], *, today: date) -> ParsedRow:
    """The client and contract of one export row, or `Invalid` with the French reason."""
    for column in _NOT_EMPTY:
        if not values.get(column):
            raise Invalid(texts.t("cli.import.required", column=column))
    client_type = _choice(values, "type_client", {t.value: t for t in ClientType})
    origin = _choice(values, "origine", _ORIGINS)
    signed = _choice(values, "signature", _SIGNATURE)
    subscribed_on = _date(values, "date_souscription")
    terminated_on = _date(values, "date_resiliation")
    address = values.get("adresse") or None
    postcode = values.get("code_postal") or postcode_from_address(address)
    naf = _checked(values, "naf", lambda v: normalize_naf(v, today))
    client = ClientFile(
        number=values["numero_client"],
        client_type=client_type,
        last_name=values["nom"],
        first_name=values.get("prenom", ""),
        civility=values.get("civilite", ""),
        email=_checked(values, "email", normalize_email),
        phone=_checked(values, "telephone", lambda v: normalize_phone(v, postcode)),
        address=address,
        postcode=postcode,
        siren=_checked(values, "siren", normalize_siren),
        naf=naf[0] if naf else None,
        naf_version=naf[1] if naf else None,
        account_manager=_checked(values, "charge_clientele_email", normalize_email),
    )
    contract = Contract(
        number=values["numero_contrat"],
        product=values["produit"],
        formula=values.get("formule", ""),
        subscribed_on=subscribed_on,
        origin=origin,
        signed=signed,
        missing_pieces=[p.strip() for p in values.get("pieces_manquantes", "").split("|") if p.strip()],
        seller=_checked(values, "vendeur_email", normalize_email),
        terminated_on=terminated_on,
    )
    return ParsedRow(client, contract)


def _ensure_agents(session: Session, emails: list[str | None]) -> None:
    for email in {e for e in emails if e}:
        if session.exec(select(rows.Agent.id).where(rows.Agent.email == email)).first() is None:
            session.add(rows.Agent(email=email))


def _unopened_cases(session: Session, client_id: int) -> list[rows.M3Case]:
    return list(
        session.exec(
            select(rows.M3Case).where(
                rows.M3Case.client_id == client_id,
                rows.M3Case.state == State.preparation.value,
                rows.M3Case.opened_at.is_(None),
                rows.M3Case.out_of_time_at.is_(None),
            )
        )
    )


def _case_contracts(session: Session, case_id: int) -> list[rows.Contract]:
    return list(session.exec(select(rows.Contract).where(rows.Contract.case_id == case_id)))


def _refresh_case(session: Session, case_row: rows.M3Case, months: int) -> None:
    """An unopened case's M+3 date and seller follow its earliest contract."""
    first = min(_case_contracts(session, case_row.id), key=lambda c: (c.subscribed_on, c.number))
    assign(case_row, {"m3_date": m3_date(first.subscribed_on, months=months), "seller": first.seller})


def _place_new_contract(
    session: Session,
    client_row: rows.Client,
    contract_row: rows.Contract,
    parsed: ParsedRow,
    *,
    window_days: int,
    months: int,
    now: datetime,
) -> None:
    """Join the client's not-yet-opened case within the window, or open a new case for the contract."""
    case_of: dict[str, int] = {}
    contracts = [parsed.contract]
    for case_row in _unopened_cases(session, client_row.id):
        for row in _case_contracts(session, case_row.id):
            case_of[row.number] = case_row.id
            contracts.append(contract_to_domain(row))
    group = next(g for g in group_into_cases(contracts, window_days) if any(c is parsed.contract for c in g))
    joined = sorted({case_of[c.number] for c in group if c.number in case_of})
    if joined:
        contract_row.case_id = joined[0]
        session.flush()
        case_row = session.get(rows.M3Case, joined[0])
        _refresh_case(session, case_row, months)
        audit.append(session, "contract_joined_case", {"contract": parsed.contract.number},
                     actor=ACTOR, case_id=case_row.id, client_id=client_row.id, at=now)
        return
    seller = parsed.contract.seller
    case_id = create_case(
        session, parsed.client, [parsed.contract],
        m3_date=m3_date(parsed.contract.subscribed_on, months=months),
        seller=seller, agent=seller or client_row.account_manager, now=now,
    )
    audit.append(session, "case_created", {"contracts": [parsed.contract.number]},
                 actor=ACTOR, case_id=case_id, client_id=client_row.id, at=now)


def _import_row(
    session: Session, parsed: ParsedRow, *, window_days: int, months: int, now: datetime
) -> str:
    """Write one parsed row; returns "imported", "updated" or "unchanged"."""
    # The client's cases first, then the client, as a unit of work locks them: an audit entry appended to
    # one of his cases' chains locks that case, and the opposite order could deadlock with an agent's click.
    session.exec(select(rows.M3Case.id).join(rows.Client, rows.Client.id == rows.M3Case.client_id)
                 .where(rows.Client.number == parsed.client.number).order_by(rows.M3Case.id)
                 .with_for_update(of=rows.M3Case)).all()
    client_row = session.exec(
        select(rows.Client).where(rows.Client.number == parsed.client.number).with_for_update()
    ).one_or_none()
    changed = False
    if client_row is None:
        client_row = rows.Client(**client_values(parsed.client), created_at=now, updated_at=now)
        session.add(client_row)
        session.flush()
        audit.append(session, "client_imported", {}, actor=ACTOR, client_id=client_row.id, at=now)
    else:
        empty_filled = {
            name: value for name, value in client_values(parsed.client).items()
            if value not in (None, "") and getattr(client_row, name) in (None, "")
        }
        if changes := assign(client_row, empty_filled):
            client_row.updated_at = now
            changed = True
            audit.append(
                session, "client_completed", {"changes": changes}, actor=ACTOR, client_id=client_row.id, at=now
            )
    _ensure_agents(session, [parsed.contract.seller, parsed.client.account_manager])
    contract_row = session.exec(
        select(rows.Contract).where(rows.Contract.number == parsed.contract.number)
    ).one_or_none()
    if contract_row is None:
        contract_row = rows.Contract(client_id=client_row.id, updated_at=now, **contract_values(parsed.contract))
        session.add(contract_row)
        session.flush()
        _place_new_contract(session, client_row, contract_row, parsed, window_days=window_days, months=months,
                            now=now)
        return "imported"
    if contract_row.client_id != client_row.id:
        raise Invalid(texts.t("cli.import.other_client"))
    if changes := assign(contract_row, contract_values(parsed.contract)):
        contract_row.updated_at = now
        changed = True
        audit.append(session, "contract_updated", {"contract": contract_row.number, "changes": changes},
                     actor=ACTOR, case_id=contract_row.case_id, client_id=client_row.id, at=now)
        case_row = session.get(rows.M3Case, contract_row.case_id) if contract_row.case_id else None
        if case_row is not None and case_row.opened_at is None and case_row.out_of_time_at is None:
            _refresh_case(session, case_row, months)
    return "updated" if changed else "unchanged"


def import_bytes(
    engine: Engine,
    data: bytes,
    file_name: str,
    *,
    window_days: int = 30,
    m3_offset_months: int = 3,
    mapping: dict[str, str] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    now = now or utcnow()
    report = ImportReport(file_name=file_name)
    for line, values in read_rows(data, mapping):
        try:
            parsed = parse_row(values, today=now.date())
            with Session(engine) as session, session.begin():
                outcome = _import_row(session, parsed, window_days=window_days, months=m3_offset_months, now=now)
        except Invalid as error:
            report.rejected.append((line, error.reason))
            continue
        except (sa.exc.IntegrityError, sa.exc.DataError):  # DataError: a value the database refuses (NUL byte)
            report.rejected.append((line, texts.t("cli.import.failed")))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    with Session(engine) as session, session.begin():
        session.add(
            rows.ImportRun(
                file_name=file_name, file_hash=hashlib.sha256(data).hexdigest(), at=now, imported=report.imported,
                updated=report.updated, unchanged=report.unchanged, rejected=len(report.rejected),
            )
        )
    return report


def import_file(engine: Engine, path: Path, **options: Any) -> ImportReport:
    """Import the export at `path` (see `import_bytes` for the options)."""
    return import_bytes(engine, Path(path).read_bytes(), Path(path).name, **options)
