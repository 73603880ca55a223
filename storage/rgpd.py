"""The client's RGPD rights and the retention period: access (export), erasure, and the retention purge.

- `export_client`: everything held on one client, JSON-able (right of access, art. 15 RGPD).
- `erase_client`: anonymises the client everywhere he is held (art. 17): his file, his contracts' numbers,
  the free texts of his cases (needs, reasons, notes), the old and new values the audit trail recorded,
  and the Slack payloads stored in the outbox. The audit rows themselves stay, with their event, actor and
  time, so the trail keeps its shape and the anonymous statistics (states, products, dates) still add up.
  Rewriting `audit_entry.data` here is the one exception to the trail being append-only.
- `purge`: applies the retention period to clients whose cases are all closed and none of whose contracts
  is still in force, through the same erasure.

Storage knows nothing of Slack: `on_erased(session, case_id)` lets the caller queue, in the erasure's own
transaction, the re-render of the case's messages (`bot.privacy`). Who asked is recorded in the trail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import phonenumbers
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from flows.case import CloseReason, State
from flows.texts import t
from storage import audit
from storage import tables as rows
from storage.audit import jsonable
from storage.slack_messages import SlackMessage
from storage.tables import utcnow

log = logging.getLogger(__name__)

OnErased = Callable[[Session, int], None]

ERASED_EVENT = "client_erased"
EXPORTED_EVENT = "client_exported"
PURGE_EVENT = "retention_purge"
REQUEST, RETENTION = "request", "retention"

# Client columns that describe the person; client_type stays for the statistics, account_manager is an agent.
CLIENT_PERSONAL = (
    "civility", "first_name", "last_name", "email", "phone", "address", "postcode", "marital_status",
    "professional_status", "siren", "naf", "naf_version", "activity",
)
# Values searched for inside other texts (Slack payloads, free audit data). Short codes (civility, marital
# status, NAF) would match ordinary words: they are erased where they are stored, never searched for.
_SEARCHED = ("first_name", "last_name", "email", "phone", "address", "siren", "activity")
_MIN_SEARCHED = 3
_PHONE_LIKE = re.compile(r"\+?[\d .\-()]{8,}")
# Audit data keys whose value is what the client said or what was typed about him.
_AUDIT_PERSONAL_KEYS = frozenset({"old_value", "new_value", "previous_value", "text", "reason", "note"})
# Case children whose free texts are erased (insurers' names and codes are not personal: kept).
_FREE_TEXTS: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (rows.ProfileCheck, ("old_value", "new_value")),
    (rows.ProtectionCheck, ("reason",)),
    (rows.Need, ("text",)),
    (rows.Action, ("reason",)),
)


class ClientNotFound(LookupError):
    """No client with this number."""


class ClientCaseInProgress(Exception):
    """The client has a case an agent is working on: it must be closed before he is erased."""

    def __init__(self, case_ids: list[int]) -> None:
        super().__init__(case_ids)
        self.case_ids = case_ids


@dataclass(frozen=True)
class Erasure:
    client_id: int
    case_ids: list[int]


# ---- right of access -----------------------------------------------------------------------------------


def _dump(row: SQLModel, exclude: Iterable[str] = ()) -> dict[str, Any]:
    return row.model_dump(exclude=set(exclude))


def _find_client(session: Session, number: str) -> rows.Client:
    client = session.exec(select(rows.Client).where(rows.Client.number == number)).one_or_none()
    if client is None:
        raise ClientNotFound(number)
    return client


def _case_ids(session: Session, client_id: int) -> list[int]:
    return list(session.exec(select(rows.M3Case.id).where(rows.M3Case.client_id == client_id).order_by(rows.M3Case.id)))


def _of_cases(session: Session, model: type[SQLModel], case_ids: list[int]) -> list[Any]:
    if not case_ids:
        return []
    return list(session.exec(select(model).where(model.case_id.in_(case_ids)).order_by(model.id)))


def _audit_query(client_id: int, case_ids: list[int]) -> Any:
    condition = rows.AuditEntry.client_id == client_id
    if case_ids:
        condition = sa.or_(condition, rows.AuditEntry.case_id.in_(case_ids))
    return select(rows.AuditEntry).where(condition).order_by(rows.AuditEntry.at, rows.AuditEntry.id)


def client_case_ids(session: Session, number: str) -> list[int]:
    """The cases of the client `number`. Raises `ClientNotFound`."""
    return _case_ids(session, _find_client(session, number).id)


def client_data(session: Session, number: str) -> dict[str, Any]:
    """Everything held on the client `number`, JSON-able. Raises `ClientNotFound`."""
    client = _find_client(session, number)
    case_ids = _case_ids(session, client.id)
    cases = []
    for case_id in case_ids:
        case = session.get(rows.M3Case, case_id)

        def children(model: type[SQLModel], case_id: int = case_id) -> list[dict[str, Any]]:
            return [_dump(r, ("case_id",)) for r in _of_cases(session, model, [case_id])]

        cases.append(
            _dump(case, ("client_id",))
            | {
                "profile_checks": children(rows.ProfileCheck),
                "contract_checks": children(rows.ContractCheck),
                "agreement": next(iter(children(rows.Agreement)), None),
                "protections": children(rows.ProtectionCheck),
                "needs": children(rows.Need),
                "actions": children(rows.Action),
                "slack_messages": children(SlackMessage),
            }
        )
    attempts = session.exec(
        select(rows.CallAttempt).where(rows.CallAttempt.client_id == client.id).order_by(rows.CallAttempt.at)
    )
    contracts = session.exec(select(rows.Contract).where(rows.Contract.client_id == client.id).order_by(rows.Contract.id))
    return jsonable(
        {
            "client": _dump(client),
            "contracts": [_dump(c, ("client_id",)) for c in contracts],
            "cases": cases,
            "call_attempts": [_dump(a, ("client_id",)) for a in attempts],
            "audit_trail": [_dump(e) for e in session.exec(_audit_query(client.id, case_ids))],
            "slack_payloads": [
                _dump(o, ("locked_until", "last_error")) for o in _of_cases(session, rows.Outbox, case_ids)
            ],
        }
    )


def export_client(engine: Engine, number: str, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """`client_data`, the export itself recorded in the trail (who read the file, when)."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        data = client_data(session, number)
        audit.append(session, EXPORTED_EVENT, {}, actor=actor, client_id=data["client"]["id"], at=now)
    return {"exported_at": now.isoformat(), "exported_by": actor, **data}


# ---- erasure -------------------------------------------------------------------------------------------


def _replacements(session: Session, client: rows.Client, case_ids: list[int]) -> dict[str, str]:
    """Each personal string of the client (as he is now and as the trail remembers him) -> what replaces it."""
    erased = t("rgpd.erased")
    values = {getattr(client, name) for name in _SEARCHED}
    for check in _of_cases(session, rows.ProfileCheck, case_ids):
        if check.field in _SEARCHED:
            values |= {check.old_value, check.new_value}
    for entry in session.exec(_audit_query(client.id, case_ids)):
        changes = entry.data.get("changes")
        if entry.event == "client_completed" and isinstance(changes, dict):
            values |= {v for name, pair in changes.items() if name in _SEARCHED for v in pair}
        if entry.data.get("field") in _SEARCHED:
            values |= {entry.data.get(key) for key in ("old_value", "new_value", "previous_value")}
    found = {v for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_SEARCHED}
    found |= {variant for v in found for variant in _phone_variants(v)}
    mapping = {value: erased for value in found}
    # Identifiers keep their shape (one pseudonym each) so the trail still tells contracts apart.
    mapping[client.number] = pseudonym("client", client.id)
    contracts = session.exec(select(rows.Contract).where(rows.Contract.client_id == client.id))
    mapping |= {c.number: pseudonym("contract", c.id) for c in contracts}
    return mapping


def _phone_variants(value: str) -> set[str]:
    """The ways a phone number is written (E.164, national with or without spaces); none for other text."""
    if not _PHONE_LIKE.fullmatch(value):
        return set()
    try:
        number = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return set()
    if not phonenumbers.is_possible_number(number):
        return set()
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return {national, national.replace(" ", ""), international,
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}


def pseudonym(kind: str, row_id: int) -> str:
    return t(f"rgpd.pseudonym.{kind}", id=row_id)


def _scrubber(mapping: dict[str, str]) -> Callable[[Any], Any]:
    """A function replacing every personal string inside a JSON value (case-insensitive, longest first)."""
    keys = sorted((k for k in mapping if k), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys), re.IGNORECASE) if keys else None
    lowered = {k.lower(): v for k, v in mapping.items()}

    def scrub(value: Any) -> Any:
        if isinstance(value, str) and pattern is not None:
            return pattern.sub(lambda m: lowered[m.group(0).lower()], value)
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return scrub


def _anonymised_data(data: dict[str, Any], scrub: Callable[[Any], Any], event: str) -> dict[str, Any]:
    erased = t("rgpd.erased")
    result = {}
    for key, value in data.items():
        if key in _AUDIT_PERSONAL_KEYS and value not in (None, ""):
            result[key] = erased
        elif key == "changes" and event == "client_completed" and isinstance(value, dict):
            result[key] = {name: [erased, erased] if name in CLIENT_PERSONAL else scrub(pair)
                           for name, pair in value.items()}
        else:
            result[key] = scrub(value)
    return result


def _lock(session: Session, client_id: int) -> tuple[rows.Client, list[rows.M3Case]]:
    """The client and his cases, locked (PostgreSQL) in the unit of work's order, cases then client, so an
    erasure and an event on one of his cases wait for each other instead of deadlocking."""
    cases = list(session.exec(
        select(rows.M3Case).where(rows.M3Case.client_id == client_id).order_by(rows.M3Case.id).with_for_update()
    ))
    client = session.exec(select(rows.Client).where(rows.Client.id == client_id).with_for_update()).one()
    return client, cases


def _check_no_case_in_progress(cases: list[rows.M3Case]) -> None:
    busy = [c.id for c in cases if c.state != State.closed.value and c.opened_at is not None]
    if busy:
        raise ClientCaseInProgress(busy)


def _erase(
    session: Session, client_id: int, *, actor: str, now: datetime, reason: str, on_erased: OnErased | None
) -> Erasure:
    client, cases = _lock(session, client_id)
    _check_no_case_in_progress(cases)
    case_ids = [c.id for c in cases]
    mapping = _replacements(session, client, case_ids)
    scrub = _scrubber(mapping)
    erased = t("rgpd.erased")

    for case in cases:
        if case.close_note:
            case.close_note = erased
        if case.state != State.closed.value:
            # Not opened yet: it must never open on an erased client.
            refused = CloseReason.refused.value
            case.state, case.close_reason, case.closed_at = State.closed.value, refused, now
            audit.append(session, "case_closed", {"reason": refused}, actor=actor, case_id=case.id,
                         client_id=client.id, at=now)
    for model, columns in _FREE_TEXTS:
        for row in _of_cases(session, model, case_ids):
            for column in columns:
                if getattr(row, column) not in (None, ""):
                    setattr(row, column, erased)
    for contract in session.exec(select(rows.Contract).where(rows.Contract.client_id == client.id)):
        contract.number = mapping[contract.number]
        contract.updated_at = now
    client.number = mapping[client.number]
    client.last_name = t("rgpd.anonymous_client")
    for name in CLIENT_PERSONAL:
        if name != "last_name":
            setattr(client, name, "" if name in ("first_name", "civility") else None)
    client.updated_at = now

    # The trail's rows stay; only the personal values they carry are replaced (the product's one UPDATE of
    # audit_entry, see SECURITY.md).
    for entry in list(session.exec(_audit_query(client.id, case_ids))):
        data = _anonymised_data(entry.data, scrub, entry.event)
        if data != entry.data:
            session.execute(sa.update(rows.AuditEntry).where(rows.AuditEntry.id == entry.id).values(data=data))
    for message in _of_cases(session, rows.Outbox, case_ids):
        payload = scrub(message.payload)
        if payload != message.payload:
            session.execute(sa.update(rows.Outbox).where(rows.Outbox.id == message.id).values(payload=payload))
    # A delivered row keeps no content, only a digest of it: a digest of the erased texts goes too.
    session.execute(sa.update(rows.Outbox).where(rows.Outbox.case_id.in_(case_ids)).values(digest=None))

    session.flush()
    for case_id in case_ids:
        if on_erased is not None:
            on_erased(session, case_id)
    audit.append(session, ERASED_EVENT, {"reason": reason, "cases": case_ids}, actor=actor,
                 client_id=client.id, at=now)
    return Erasure(client_id=client.id, case_ids=case_ids)


def erase_client(
    engine: Engine,
    number: str,
    *,
    actor: str,
    now: datetime | None = None,
    on_erased: OnErased | None = None,
) -> Erasure:
    """Anonymise the client `number` everywhere, in one transaction. Raises `ClientNotFound`, or
    `ClientCaseInProgress` when one of his cases is open (close it first: the agent may be on the phone)."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        client_id = _find_client(session, number).id
        result = _erase(session, client_id, actor=actor, now=now, reason=REQUEST, on_erased=on_erased)
    log.info("client %s erased on request (%d cases)", result.client_id, len(result.case_ids))
    return result


# ---- retention -----------------------------------------------------------------------------------------


def years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def purge_candidates(
    session: Session, *, retention_years: int, now: datetime, client_id: int | None = None
) -> list[int]:
    """Ids of the clients past the retention period (or `[client_id]` if he is): every case closed, every
    contract terminated and the last call made before the cut-off, not erased yet."""
    cutoff = years_before(now, retention_years)
    today = now.date()
    erased = select(rows.AuditEntry.client_id).where(rows.AuditEntry.event == ERASED_EVENT)
    live_case = select(rows.M3Case.id).where(
        rows.M3Case.client_id == rows.Client.id,
        sa.or_(rows.M3Case.state != State.closed.value, rows.M3Case.closed_at >= cutoff),
    )
    live_contract = select(rows.Contract.id).where(
        rows.Contract.client_id == rows.Client.id,
        sa.or_(rows.Contract.terminated_on.is_(None), rows.Contract.terminated_on >= cutoff.date(),
               rows.Contract.terminated_on > today),
    )
    recent_attempt = select(rows.CallAttempt.id).where(
        rows.CallAttempt.client_id == rows.Client.id, rows.CallAttempt.at >= cutoff
    )
    query = (
        select(rows.Client.id)
        .where(~rows.Client.id.in_(erased.where(rows.AuditEntry.client_id.is_not(None))))
        .where(~live_case.exists(), ~live_contract.exists(), ~recent_attempt.exists())
        .order_by(rows.Client.id)
    )
    if client_id is not None:
        query = query.where(rows.Client.id == client_id)
    return list(session.exec(query))


def purge(
    engine: Engine,
    *,
    retention_years: int,
    actor: str,
    now: datetime | None = None,
    dry_run: bool = False,
    on_erased: OnErased | None = None,
) -> list[Erasure]:
    """Erase every client past the retention period, each in his own transaction; `dry_run` only lists them.

    A client who became active again between the listing and his turn (a new case, a new contract) is
    skipped: his candidacy is checked again under lock.
    """
    now = now or utcnow()
    with Session(engine) as session:
        candidates = purge_candidates(session, retention_years=retention_years, now=now)
        if dry_run:
            return [Erasure(client_id, _case_ids(session, client_id)) for client_id in candidates]
    done = []
    for client_id in candidates:
        with Session(engine) as session, session.begin():
            _lock(session, client_id)
            if not purge_candidates(session, retention_years=retention_years, now=now, client_id=client_id):
                continue
            done.append(_erase(session, client_id, actor=actor, now=now, reason=RETENTION, on_erased=on_erased))
    if done:
        with Session(engine) as session, session.begin():
            audit.append(session, PURGE_EVENT, {"retention_years": retention_years, "clients": len(done)},
                         actor=actor, at=now)
    log.info("retention purge: %d client(s) erased, retention %d years", len(done), retention_years)
    return done


class RetentionSettings(Protocol):
    retention_years: int


def purge_job(
    engine: Engine, settings: RetentionSettings, now: datetime, *, on_erased: OnErased | None = None
) -> list[Erasure]:
    """The scheduler's daily purge with the configured retention period (`Settings.retention_years`)."""
    return purge(engine, retention_years=settings.retention_years, actor="scheduler", now=now, on_erased=on_erased)

