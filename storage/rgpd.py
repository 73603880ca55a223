"""The client's RGPD rights and the retention period: access (export), erasure, and the retention purge.

The rows' side of them, in the caller's transaction (the use cases, with their transactions, are
`service.rgpd`):
- `client_data`: everything held on one client, JSON-able (right of access, art. 15 RGPD).
- `erase`: anonymises the client everywhere he is held (art. 17), whatever the length of a value:
  his file, his contracts' numbers and missing pieces, the free texts of his cases (pieces and recoveries,
  needs, reasons, notes, the agreement's wording), the personal values of the audit trail, and the Slack
  payloads stored in the outbox. His cases not closed yet close with their own reason. The audit rows
  stay, with their event, actor and time, so the trail keeps its shape, its hash chains still verify, and
  the anonymous statistics (states, products, dates) still add up: their data becomes the sealed form
  (`storage.chain`), the one change the trail's triggers allow, and the client's HMAC key is destroyed.
- `purge_candidates`: the retention period applied from the client's last activity (the end of his last contract, the
  last event of a call on one of his cases), through the same erasure; a case left open or never opened
  does not keep him for ever, and reading or exporting his data is no activity.

Storage knows nothing of Slack: `on_erased(session, case_id)` lets the caller queue, in the erasure's own
transaction, the re-render of the case's messages (the notifier's `case_erased`). Who asked is recorded in
the trail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, select

from flows.case import ActionStatus, CloseReason, State
from flows.engine import years_before
from storage import audit
from storage import tables as rows
from storage.audit import jsonable
from storage.chain import is_personal
from storage.slack_messages import SlackMessage
from wording import t

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
# Values this short are replaced as whole words only inside other texts (Slack payloads).
_SHORT = 3
_PHONE_LIKE = re.compile(r"\+?[\d .\-()]{8,}")
# Case children whose free texts are erased (insurers' names and codes are not personal: kept).
_FREE_TEXTS: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (rows.ProfileCheck, ("old_value", "new_value")),
    (rows.ContractCheck, ("piece", "recovery")),
    (rows.Agreement, ("wording",)),
    (rows.ProtectionCheck, ("reason",)),
    (rows.Need, ("text",)),
    (rows.Action, ("reason",)),
)
# Typed texts that are kept for the statistics, his values taken out of them.
_SCRUBBED_TEXTS: tuple[tuple[type[SQLModel], tuple[str, ...]], ...] = (
    (rows.ProtectionCheck, ("insurer",)),
    (rows.Action, ("owner",)),
)


class ClientNotFound(LookupError):
    """No client with this number."""


@dataclass(frozen=True)
class Erasure:
    client_id: int
    case_ids: list[int]


# ---- right of access -----------------------------------------------------------------------------------


def _dump(row: SQLModel, exclude: Iterable[str] = ()) -> dict[str, Any]:
    return row.model_dump(exclude=set(exclude))


def find_client(session: Session, number: str) -> rows.Client:
    client = session.exec(select(rows.Client).where(rows.Client.number == number)).one_or_none()
    if client is None:
        raise ClientNotFound(number)
    return client


def case_ids_of(session: Session, client_id: int) -> list[int]:
    return list(session.exec(select(rows.M3Case.id).where(rows.M3Case.client_id == client_id).order_by(rows.M3Case.id)))


def _of_cases(session: Session, model: type[SQLModel], case_ids: list[int]) -> list[Any]:
    if not case_ids:
        return []
    return list(session.exec(select(model).where(model.case_id.in_(case_ids)).order_by(model.id)))


def _audit_condition(client_id: int, case_ids: list[int]) -> Any:
    condition = rows.AuditEntry.client_id == client_id
    return sa.or_(condition, rows.AuditEntry.case_id.in_(case_ids)) if case_ids else condition


def _audit_query(client_id: int, case_ids: list[int]) -> Any:
    return select(rows.AuditEntry).where(_audit_condition(client_id, case_ids)).order_by(
        rows.AuditEntry.at, rows.AuditEntry.id)


def client_case_ids(session: Session, number: str) -> list[int]:
    """The cases of the client `number`. Raises `ClientNotFound`."""
    return case_ids_of(session, find_client(session, number).id)


def client_data(session: Session, number: str) -> dict[str, Any]:
    """Everything held on the client `number`, JSON-able. Raises `ClientNotFound`."""
    client = find_client(session, number)
    case_ids = case_ids_of(session, client.id)
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


# ---- erasure -------------------------------------------------------------------------------------------


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _personal_in(data: Any, event: str) -> Iterable[str]:
    """The strings an audit entry's data holds under its personal keys (`storage.chain`)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if is_personal(key, value, event):
                yield from _strings(value)
            else:
                yield from _personal_in(value, event)
    elif isinstance(data, list):
        for item in data:
            yield from _personal_in(item, event)


def _held_values(session: Session, client: rows.Client, case_ids: list[int]) -> set[str]:
    """Every text the database holds about the client, whatever its length: his file, the free texts of his
    cases, the personal values of his audit entries."""
    values = {getattr(client, name) for name in CLIENT_PERSONAL}
    for model, columns in _FREE_TEXTS:
        for row in _of_cases(session, model, case_ids):
            values |= {getattr(row, column) for column in columns}
    for case_id in case_ids:
        values.add(session.get(rows.M3Case, case_id).close_note)
    for contract in session.exec(select(rows.Contract).where(rows.Contract.client_id == client.id)):
        values |= set(contract.missing_pieces or [])
    for entry in session.exec(_audit_query(client.id, case_ids)):
        values |= set(_personal_in(entry.data, entry.event))
    found = {v.strip() for v in values if isinstance(v, str) and v.strip()}
    return found | {variant for v in found for variant in _phone_variants(v)}


def _replacements(session: Session, client: rows.Client, case_ids: list[int]) -> dict[str, str]:
    """Each personal string of the client (as he is now and as the trail remembers him) -> what replaces it."""
    erased = t("rgpd.erased")
    mapping = dict.fromkeys(_held_values(session, client, case_ids), erased)
    # Identifiers keep their shape (one pseudonym each) so what is left still tells contracts apart.
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
    """A function replacing every personal string inside a JSON value (case-insensitive, longest first).
    A short value (a two-letter name) is replaced as a whole word only, not inside other words."""
    keys = sorted((k for k in mapping if k), key=len, reverse=True)
    alternatives = [re.escape(k) if len(k) > _SHORT else rf"(?<!\w){re.escape(k)}(?!\w)" for k in keys]
    pattern = re.compile("|".join(alternatives), re.IGNORECASE) if keys else None
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


def lock_client(session: Session, client_id: int) -> tuple[rows.Client, list[rows.M3Case]]:
    """The client and his cases, locked (PostgreSQL) in the unit of work's order, cases then client, so an
    erasure and an event on one of his cases wait for each other instead of deadlocking."""
    cases = list(session.exec(
        select(rows.M3Case).where(rows.M3Case.client_id == client_id).order_by(rows.M3Case.id).with_for_update()
    ))
    client = session.exec(select(rows.Client).where(rows.Client.id == client_id).with_for_update()).one()
    return client, cases


def _close_cases(session: Session, cases: list[rows.M3Case], client_id: int, *, actor: str, now: datetime) -> None:
    """Every case of the client not closed yet closes with its own reason: opened or not, it must never be
    called again; its pending reminders and planned actions go with it."""
    reason = CloseReason.rgpd_erased.value
    for case in cases:
        if case.state == State.closed.value:
            continue
        before = case.state
        case.state, case.close_reason, case.closed_at, case.callback_at = State.closed.value, reason, now, None
        case.version += 1
        audit.append(session, "state_changed", {"trigger": "rgpd_erase", "from": before, "to": case.state},
                     actor=actor, case_id=case.id, client_id=client_id, at=now)
        audit.append(session, "case_closed", {"reason": reason}, actor=actor, case_id=case.id,
                     client_id=client_id, at=now)
        session.execute(sa.update(rows.Action)
                        .where(rows.Action.case_id == case.id, rows.Action.status == ActionStatus.todo.value)
                        .values(status=ActionStatus.cancelled.value))
        # service.reminders' codes (storage does not import the scheduler).
        session.execute(sa.update(rows.Reminder).where(rows.Reminder.case_id == case.id,
                                                       rows.Reminder.status == "pending").values(status="cancelled"))


def _erase_outbox(session: Session, case_ids: list[int], own: Callable[[Any], Any],
                  foreign: Callable[[Any], Any]) -> None:
    """His cases' Slack calls: delivered ones keep only what delivery needs (ids, method, status), pending
    ones are anonymised; any other stored payload (an App Home listing him) loses his values."""
    query = select(rows.Outbox.id, rows.Outbox.case_id, rows.Outbox.status, rows.Outbox.payload, rows.Outbox.result)
    for row_id, case_id, status, payload, result in session.execute(query.execution_options(yield_per=500)).all():
        if case_id in case_ids and status != "pending":
            kept = {k: v for k, v in (result or {}).items() if k in ("ok", "channel", "ts")}
            values = {"payload": {}, "result": kept or None}
        else:
            scrub = own if case_id in case_ids else foreign
            values = {"payload": scrub(payload), "result": scrub(result)}
        if (values["payload"], values["result"]) != (payload, result):
            session.execute(sa.update(rows.Outbox).where(rows.Outbox.id == row_id).values(**values))
    # A delivered row keeps no content, only a digest of it: a digest of the erased texts goes too.
    session.execute(sa.update(rows.Outbox).where(rows.Outbox.case_id.in_(case_ids)).values(digest=None))


def erase(
    session: Session, client_id: int, *, actor: str, now: datetime, reason: str, on_erased: OnErased | None
) -> Erasure:
    client, cases = lock_client(session, client_id)
    case_ids = [c.id for c in cases]
    mapping = _replacements(session, client, case_ids)
    own = _scrubber(mapping)
    # Civility and postcode are shared with many others: searched for in his own rows only.
    foreign = _scrubber({k: v for k, v in mapping.items() if k not in (client.civility, client.postcode)})
    erased = t("rgpd.erased")

    _close_cases(session, cases, client.id, actor=actor, now=now)
    for case in cases:
        if case.close_note:
            case.close_note = erased
    for model, columns in _FREE_TEXTS:
        for row in _of_cases(session, model, case_ids):
            for column in columns:
                if getattr(row, column) not in (None, ""):
                    setattr(row, column, erased)
    for model, columns in _SCRUBBED_TEXTS:
        for row in _of_cases(session, model, case_ids):
            for column in columns:
                setattr(row, column, own(getattr(row, column)))
    for contract in session.exec(select(rows.Contract).where(rows.Contract.client_id == client.id)):
        contract.number = mapping[contract.number]
        contract.missing_pieces = [erased for _ in contract.missing_pieces or []]
        contract.updated_at = now
    client.number = mapping[client.number]
    client.last_name = t("rgpd.anonymous_client")
    for name in CLIENT_PERSONAL:
        if name != "last_name":
            setattr(client, name, "" if name in ("first_name", "civility") else None)
    client.updated_at = now

    session.flush()
    for case_id in case_ids:
        if on_erased is not None:
            on_erased(session, case_id)  # queues the anonymised messages; it reads the pending ones first
    session.flush()
    _erase_outbox(session, case_ids, own, foreign)
    # The trail keeps its entries; their data becomes the sealed form the chain covers (the one UPDATE the
    # triggers allow, see docs/architecture.md), and the key of his HMACs is destroyed.
    session.execute(sa.update(rows.AuditEntry).where(_audit_condition(client.id, case_ids))
                    .values(data=rows.AuditEntry.sealed))
    session.execute(sa.delete(rows.ClientSecret).where(rows.ClientSecret.client_id == client.id))
    audit.append(session, ERASED_EVENT, {"reason": reason, "cases": case_ids}, actor=actor,
                 client_id=client.id, at=now)
    return Erasure(client_id=client.id, case_ids=case_ids)


# ---- retention -----------------------------------------------------------------------------------------


# Entries of a case that are bookkeeping, not a call: the import creating or updating it, its opening or
# setting aside by the bot. Every other entry of a case (an attempt, an answer, a closing, an action done)
# is an event of the call and counts as the client's activity.
NOT_ACTIVITY = ("case_created", "contract_joined_case", "contract_updated", "case_opened", "case_out_of_time")


def purge_candidates(
    session: Session, *, retention_years: int, now: datetime, client_id: int | None = None
) -> list[int]:
    """Ids of the clients past the retention period (or `[client_id]` if he is), not erased yet: every
    contract terminated, and no call attempt nor event of a call on his cases, before the cut-off."""
    cutoff = years_before(now, retention_years)
    today = now.date()
    erased = select(rows.AuditEntry.client_id).where(rows.AuditEntry.event == ERASED_EVENT)
    recent_call_event = (
        select(rows.AuditEntry.id)
        .join(rows.M3Case, rows.M3Case.id == rows.AuditEntry.case_id)
        .where(rows.M3Case.client_id == rows.Client.id, rows.AuditEntry.at >= cutoff,
               rows.AuditEntry.event.not_in(NOT_ACTIVITY))
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
        .where(~recent_call_event.exists(), ~live_contract.exists(), ~recent_attempt.exists())
        .order_by(rows.Client.id)
    )
    if client_id is not None:
        query = query.where(rows.Client.id == client_id)
    return list(session.exec(query))
