"""Import of the management system's (Lagon) CSV export of new business: one row per contract.

Each row is validated first (through `flows.validation`), then written (`import_row`) in the transaction
the use case (`service.imports`) gives each row, so a bad row is reported with its line number and never
half-written while the good rows go in. Two rows of one
file with the same contract number are both rejected: the file does not say which one is right.
The client file is created by its first import; a later export's values replace the file's (audited,
actor "import"), except a field an agent confirmed or modified in a call since the previous import: the
export may lag behind the call, so the agent's value stays and the conflict is reported with its line.
Contracts follow the export: the last import wins and every change goes to the audit trail. A new case
whose M+3 date is already more than `CATCH_UP_DAYS` old is set aside as out of time (`flows.opening`).
The columns `code_postal`, `siren`, `naf` and `date_resiliation` are optional; without `code_postal` the
postcode is read from the address.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlmodel import Session, select

import wording
from flows.case import ClientFile, ClientType, Contract, Origin, ProfileAnswer, State
from flows.opening import CallerRule, caller_for, due_status, group_into_cases, m3_date
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
from storage.queries import assign_callers, mark_out_of_time
from storage.repository import assign, client_values, contract_to_domain, contract_values, create_case

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
# An agent's answer on a field also vouches for the fields that follow from it.
_VOUCHED_BY = {"postcode": ("address", "postcode"), "naf_version": ("naf",)}
_AGENT_ANSWERS = (ProfileAnswer.confirmed.value, ProfileAnswer.modified.value)


class Rejected(ValueError):
    """What the import refuses, for its report: `reason` is French."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotALagonExport(Rejected):
    """The file cannot be read as a Lagon export at all."""


class RowRejected(Rejected):
    """One row of the export cannot be imported; the reason names its column."""


@dataclass
class ImportReport:
    file_name: str
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # (line, French text): client fields of the export not applied because an agent's answer is newer.
    conflicts: list[tuple[int, str]] = field(default_factory=list)
    out_of_time: int = 0  # new cases set aside by the catch-up rule
    # When a file of exactly these bytes was imported before (its rows then come out unchanged), else None.
    same_file_at: datetime | None = None


@dataclass(frozen=True)
class ImportOptions:
    window_days: int
    months: int
    catch_up_days: int
    now: datetime
    previous_import_at: datetime | None  # agents' answers after it win over the export
    caller_rule: CallerRule = "account_manager"


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
        raise NotALagonExport(wording.t("cli.import.mapping_invalid", path=path))
    return {str(ours): str(theirs) for ours, theirs in mapping.items()}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise NotALagonExport(wording.t("cli.import.encoding")) from None


def _header_key(name: str) -> str:
    return name.strip().lstrip("\ufeff").casefold()


def read_rows(data: bytes, mapping: dict[str, str] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {our column: stripped value}) for every non-blank row of the export."""
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise NotALagonExport(wording.t("cli.import.empty_file"))
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    theirs_to_ours = {_header_key(theirs): ours for ours, theirs in (mapping or {}).items()}
    header = [theirs_to_ours.get(_header_key(h), _header_key(h)) for h in next(reader)]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise NotALagonExport(wording.t("cli.import.not_lagon", missing=", ".join(missing)))
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
        raise RowRejected(wording.t("cli.import.choice", column=column, choices=shown))
    return found


def _date(values: dict[str, str], column: str) -> date | None:
    if not values.get(column):
        return None
    try:
        return datetime.strptime(values[column], "%d/%m/%Y").date()
    except ValueError:
        raise RowRejected(wording.t("cli.import.date", column=column)) from None


def _checked(values: dict[str, str], column: str, normalizer: Any) -> Any:
    """The normalised value of an optional column (None when empty); a refusal names the column."""
    if not values.get(column):
        return None
    try:
        return normalizer(values[column])
    except Invalid as error:
        raise RowRejected(wording.t("cli.import.invalid", column=column, reason=wording.refusal(error))) from None


def parse_row(values: dict[str, str], *, today: date) -> ParsedRow:
    """The client and contract of one export row, or `RowRejected` with the French reason."""
    for column in _NOT_EMPTY:
        if not values.get(column):
            raise RowRejected(wording.t("cli.import.required", column=column))
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
                # A case set aside as out of time still gathers the contracts sold with the first one.
                rows.M3Case.opened_at.is_(None),
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
    session: Session, client_row: rows.Client, contract_row: rows.Contract, parsed: ParsedRow, options: ImportOptions
) -> bool:
    """Join the client's not-yet-opened case within the window, or open a new case for the contract.
    Returns whether the new case was set aside as out of time."""
    now = options.now
    case_of: dict[str, int] = {}
    contracts = [parsed.contract]
    for case_row in _unopened_cases(session, client_row.id):
        for row in _case_contracts(session, case_row.id):
            case_of[row.number] = case_row.id
            contracts.append(contract_to_domain(row))
    group = next(g for g in group_into_cases(contracts, options.window_days)
                 if any(c is parsed.contract for c in g))
    joined = sorted({case_of[c.number] for c in group if c.number in case_of})
    if joined:
        contract_row.case_id = joined[0]
        session.flush()
        case_row = session.get(rows.M3Case, joined[0])
        _refresh_case(session, case_row, options.months)
        audit.append(session, "contract_joined_case", {"contract": parsed.contract.number},
                     actor=ACTOR, case_id=case_row.id, client_id=client_row.id, at=now)
        return False
    seller = parsed.contract.seller
    due_on = m3_date(parsed.contract.subscribed_on, months=options.months)
    case_id = create_case(
        session, parsed.client, [parsed.contract],
        m3_date=due_on, seller=seller, now=now,
        agent=caller_for(options.caller_rule, seller=seller, account_manager=client_row.account_manager),
    )
    audit.append(session, "case_created", {"contracts": [parsed.contract.number]},
                 actor=ACTOR, case_id=case_id, client_id=client_row.id, at=now)
    # The catch-up rule at every import, not only the first: a backlog is listed for the leads at once.
    if due_status(due_on, now.date(), options.catch_up_days, first_seen=now.date()) == "out_of_time":
        return bool(mark_out_of_time(session, [case_id], now=now, actor=ACTOR))
    return False


def _agent_answers(session: Session, client_id: int, since: datetime | None) -> dict[str, rows.ProfileCheck]:
    """The client-file fields an agent confirmed or modified in a call after `since`, latest answer each."""
    query = (
        select(rows.ProfileCheck)
        .join(rows.M3Case, rows.M3Case.id == rows.ProfileCheck.case_id)
        .where(rows.M3Case.client_id == client_id, rows.ProfileCheck.answer.in_(_AGENT_ANSWERS))
        .order_by(rows.ProfileCheck.at)
    )
    if since is not None:
        query = query.where(rows.ProfileCheck.at > since)
    return {check.field: check for check in session.exec(query)}


def _conflict_text(guards: dict[str, rows.ProfileCheck]) -> str:
    fields = ", ".join(
        wording.t("cli.import.conflict_field", field=wording.t(f"labels.field.{name}"), by=check.by,
                date=check.at.strftime("%d/%m/%Y"))
        for name, check in guards.items()
    )
    return wording.t("cli.import.conflict", fields=fields)


def _update_client(
    session: Session, client_row: rows.Client, parsed: ParsedRow, options: ImportOptions
) -> tuple[bool, dict[str, rows.ProfileCheck]]:
    """Apply the export's values that differ from the file (audited), except those an agent's newer answer
    vouches for. Returns (changed, {field: the answer that kept it})."""
    answers = _agent_answers(session, client_row.id, options.previous_import_at)
    wanted: dict[str, Any] = {}
    kept: dict[str, rows.ProfileCheck] = {}
    for name, value in client_values(parsed.client).items():
        current = getattr(client_row, name)
        if value in (None, "") or value == current:
            continue  # an empty export cell never erases what the file holds
        guard = next((answers[f] for f in _VOUCHED_BY.get(name, (name,)) if f in answers), None)
        if guard is not None and current not in (None, ""):
            if name not in _VOUCHED_BY:  # a derived field follows its source silently
                kept[name] = guard
        else:
            wanted[name] = value
    changes = assign(client_row, wanted)
    if changes:
        client_row.updated_at = options.now
        filled = {k: v for k, v in changes.items() if v[0] in (None, "")}
        replaced = {k: v for k, v in changes.items() if k not in filled}
        for event, found in (("client_completed", filled), ("client_updated", replaced)):
            if found:
                audit.append(session, event, {"changes": found}, actor=ACTOR, client_id=client_row.id,
                             at=options.now)
    return bool(changes), kept


def _write_row(
    session: Session, parsed: ParsedRow, options: ImportOptions, line: int, report: ImportReport
) -> tuple[str, int]:
    now = options.now
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
        changed, kept = _update_client(session, client_row, parsed, options)
        if kept:
            audit.append(session, "import_conflict", {"line": line, "fields": sorted(kept)}, actor=ACTOR,
                         client_id=client_row.id, at=now)
            report.conflicts.append((line, _conflict_text(kept)))
    _ensure_agents(session, [parsed.contract.seller, parsed.client.account_manager])
    contract_row = session.exec(
        select(rows.Contract).where(rows.Contract.number == parsed.contract.number)
    ).one_or_none()
    if contract_row is None:
        contract_row = rows.Contract(client_id=client_row.id, updated_at=now, **contract_values(parsed.contract))
        session.add(contract_row)
        session.flush()
        if _place_new_contract(session, client_row, contract_row, parsed, options):
            report.out_of_time += 1
        return "imported", client_row.id
    if contract_row.client_id != client_row.id:
        raise RowRejected(wording.t("cli.import.other_client"))
    if changes := assign(contract_row, contract_values(parsed.contract)):
        contract_row.updated_at = now
        changed = True
        audit.append(session, "contract_updated", {"contract": contract_row.number, "changes": changes},
                     actor=ACTOR, case_id=contract_row.case_id, client_id=client_row.id, at=now)
        case_row = session.get(rows.M3Case, contract_row.case_id) if contract_row.case_id else None
        if case_row is not None and case_row.opened_at is None and case_row.out_of_time_at is None:
            _refresh_case(session, case_row, options.months)
    return ("updated" if changed else "unchanged"), client_row.id


def duplicate_lines(lines: list[tuple[int, dict[str, str]]]) -> dict[int, list[int]]:
    """line -> the other lines of the file carrying the same contract number."""
    by_number: dict[str, list[int]] = defaultdict(list)
    for line, values in lines:
        if number := values.get("numero_contrat"):
            by_number[number].append(line)
    return {line: [o for o in found if o != line] for found in by_number.values() if len(found) > 1 for line in found}


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def same_file_imported_at(session: Session, data: bytes) -> datetime | None:
    """When a file of exactly these bytes was last imported (the runs are recorded by hash), else None."""
    return session.exec(select(sa.func.max(rows.ImportRun.at)).where(rows.ImportRun.file_hash == file_hash(data))).one()


def previous_import_at(session: Session) -> datetime | None:
    return session.exec(select(sa.func.max(rows.ImportRun.at))).one()


def import_row(session: Session, parsed: ParsedRow, options: ImportOptions, line: int, report: ImportReport) -> str:
    """Write one parsed row in the caller's transaction; returns "imported", "updated" or "unchanged"
    (conflicts and cases set aside go to `report`)."""
    outcome, client_id = _write_row(session, parsed, options, line, report)
    if outcome != "unchanged":
        # A seller or an account manager the row brings may change who calls the client's cases still to open.
        assign_callers(session, options.caller_rule, actor=ACTOR, client_ids=[client_id])
    return outcome


def record_run(session: Session, report: ImportReport, data: bytes, now: datetime) -> None:
    session.add(rows.ImportRun(
        file_name=report.file_name, file_hash=file_hash(data), at=now, imported=report.imported,
        updated=report.updated, unchanged=report.unchanged, rejected=len(report.rejected),
    ))
