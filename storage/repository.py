"""Loads a `flows.case.Case` aggregate from its rows and writes it back.

Children are matched by their natural key (profile field, contract, protection, ...), so saving the same
aggregate twice writes nothing new; new actions and attempts get their database ids set on the domain
objects.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, select

from flows import case as domain
from storage import tables as rows
from storage.tables import UtcDateTime, utcnow

# The aggregate's dataclasses and the tables share their field names: each side is read into the other by name
# (`to_domain`, `values_of`), never through a hand-kept copy of the fields.
# Opening is storage's own business (`storage.queries.mark_opened`, a guarded UPDATE): saving an aggregate
# loaded before the case opened must not close it again.
_NOT_SAVED = frozenset({"id", "opened_at", "out_of_time_at"})


T = TypeVar("T")


class CaseNotFound(LookupError):
    """No case with this id."""


@dataclasses.dataclass
class _Loaded:
    """The rows a case was loaded from, kept for its save in the same transaction: SQLAlchemy's identity map
    holds rows weakly, so without them saving would select every row again."""

    case: rows.M3Case
    client: rows.Client
    children: dict[type[SQLModel], list[Any]]
    locked: bool


def _loaded(session: Session, case_id: int) -> _Loaded | None:
    transaction, cases = session.info.get("loaded_cases", (None, {}))
    return cases.get(case_id) if transaction is session.get_transaction() else None


def _keep(session: Session, case_id: int, loaded: _Loaded) -> None:
    transaction, cases = session.info.get("loaded_cases", (None, {}))
    if transaction is not session.get_transaction():
        cases = {}
    cases[case_id] = loaded
    session.info["loaded_cases"] = (session.get_transaction(), cases)


def loaded_reminders(session: Session, case_id: int) -> list[rows.Reminder] | None:
    """The case's reminders as this transaction's load read them, handed out once (the caller changes them
    from there on); None when the case was not loaded here or they were handed out already."""
    loaded = _loaded(session, case_id)
    return loaded.children.pop(rows.Reminder, None) if loaded is not None else None


def locked_row(session: Session, case_id: int) -> rows.M3Case | None:
    """The row of case `case_id` when this transaction loaded it locked (`load_case(lock=True)`), else None."""
    loaded = _loaded(session, case_id)
    return loaded.case if loaded is not None and loaded.locked else None


def _plain(value: Any) -> Any:
    # StrEnum members are stored as their code: keeps change detection exact on reloaded rows.
    return value.value if isinstance(value, Enum) else value


def assign(row: SQLModel, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set the values that differ on `row`; returns {column: (old, new)} of what changed."""
    changes = {}
    for name, value in values.items():
        value = _plain(value)
        old = getattr(row, name)
        if old != value:
            changes[name] = (old, value)
            setattr(row, name, value)
    return changes


@functools.cache
def _shape(kind: type) -> tuple[tuple[str, Any], ...]:
    """(field, its enum type or None) of a dataclass of the aggregate, in order."""
    hints = typing.get_type_hints(kind)
    shape = []
    for item in dataclasses.fields(kind):
        enum = next((t for t in (hints[item.name], *typing.get_args(hints[item.name]))
                     if isinstance(t, type) and issubclass(t, Enum)), None)
        shape.append((item.name, enum))
    return tuple(shape)


def _columns(model: type[SQLModel]) -> frozenset[str]:
    return frozenset(model.__table__.columns.keys())  # type: ignore[attr-defined]


def to_domain(kind: type[T], row: SQLModel, **values: Any) -> T:
    """The dataclass `kind` read from `row` by field name (stored codes back to their enums); `values` give the
    fields the row does not hold as such (its children, a number instead of an id)."""
    read = {}
    for name, enum in _shape(kind):
        if name in values or not hasattr(row, name):
            continue
        value = getattr(row, name)
        read[name] = enum(value) if enum is not None and value is not None else value
    return kind(**read, **values)


def values_of(item: Any, model: type[SQLModel], *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The columns of `model` that the dataclass `item` holds, as stored (enums by their code, lists copied)."""
    columns = _columns(model) - skip
    return {name: _stored(getattr(item, name)) for name, _enum in _shape(type(item)) if name in columns}


def _stored(value: Any) -> Any:
    return list(value) if isinstance(value, list) else _plain(value)


def client_values(client: domain.ClientFile) -> dict[str, Any]:
    return values_of(client, rows.Client)


def contract_values(contract: domain.Contract) -> dict[str, Any]:
    return values_of(contract, rows.Contract)


def contract_to_domain(row: rows.Contract) -> domain.Contract:
    return to_domain(domain.Contract, row, missing_pieces=list(row.missing_pieces or []))


def _children(session: Session, model: type[SQLModel], case_id: int) -> list[Any]:
    """The rows of `model` for the case: those it was loaded from in this transaction, else selected."""
    loaded = _loaded(session, case_id)
    if loaded is not None and model in loaded.children:
        return loaded.children[model]
    return list(session.exec(select(model).where(model.case_id == case_id).order_by(model.id)))


# The children of a case, each table's rows as one JSON array in the case's own SELECT (one statement, one
# round trip, instead of one per table), in the order the aggregate keeps them.
_CHILDREN: dict[type[SQLModel], Callable[[Any], Any]] = {
    rows.Contract: lambda c: (c.subscribed_on, c.number),
    rows.CallAttempt: lambda a: (a.at, a.id),
    rows.Agreement: lambda a: a.id,
    rows.ProfileCheck: lambda p: p.id,
    rows.ContractCheck: lambda c: c.id,
    rows.ProtectionCheck: lambda p: p.id,
    rows.Need: lambda n: n.id,
    rows.Action: lambda a: a.id,
    rows.Reminder: lambda r: r.id,  # not the aggregate's: read here for `service.reminders`, which syncs them
}


def _rows_as_json(session: Session, model: type[SQLModel], where: Any) -> Any:
    """A scalar subquery: the rows of `model` matching `where` (correlated to the case's row), as a JSON array
    of objects keyed by column name."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    fields = []
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        # SQLite keeps JSON as text: json() embeds it as JSON rather than as a string.
        fields += [sa.literal(column.name), sa.func.json(column) if sqlite and isinstance(column.type, sa.JSON) else column]
    row = (sa.func.json_object if sqlite else sa.func.json_build_object)(*fields)
    aggregate = sa.func.json_group_array(row) if sqlite else sa.func.json_agg(row)
    return sa.type_coerce(sa.select(aggregate).where(where).scalar_subquery(), sa.JSON)


def _from_json(column: sa.Column[Any], value: Any) -> Any:
    """A column's value as its JSON array gave it, back to what the database driver would have returned."""
    if value is None:
        return None
    if isinstance(column.type, UtcDateTime):
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if isinstance(column.type, sa.Date):
        return date.fromisoformat(value)
    if isinstance(column.type, sa.Boolean):
        return bool(value)
    return value


def _attached(session: Session, model: type[SQLModel], values: dict[str, Any]) -> Any:
    """A row rebuilt from its values, in the session as if it had been selected: saving it writes only what
    changes."""
    row = model(**{column.name: _from_json(column, values[column.name])
                   for column in model.__table__.columns})  # type: ignore[attr-defined]
    make_transient_to_detached(row)
    return session.merge(row, load=False)


def _select_rows(session: Session, case_id: int, *, lock: bool, since: datetime) -> _Loaded:
    """The case's row, its client's and all its children in one statement; `lock` takes the case and client
    rows FOR UPDATE (PostgreSQL)."""
    children = {
        model: _rows_as_json(session, model, model.case_id == rows.M3Case.id)  # type: ignore[attr-defined]
        for model in _CHILDREN if model is not rows.CallAttempt
    }
    # The calling limits count per client across cases: the client's attempts on all his cases.
    children[rows.CallAttempt] = _rows_as_json(
        session, rows.CallAttempt, sa.and_(rows.CallAttempt.client_id == rows.Client.id, rows.CallAttempt.at >= since))
    query = (select(rows.M3Case, rows.Client, *children.values())
             .join(rows.Client, rows.Client.id == rows.M3Case.client_id)
             .where(rows.M3Case.id == case_id))
    # Lock the client too so two cases of one client cannot both pass the calling limits at once.
    found = session.execute(query.with_for_update(of=[rows.M3Case, rows.Client]) if lock else query).one_or_none()
    if found is None:
        raise CaseNotFound(case_id)
    case_row, client_row, *arrays = found
    loaded = _Loaded(case_row, client_row, {
        model: sorted((_attached(session, model, values) for values in array or []), key=_CHILDREN[model])
        for model, array in zip(children, arrays, strict=True)
    }, locked=lock)
    _keep(session, case_id, loaded)
    return loaded


def load_case(
    session: Session, case_id: int, *, lock: bool, lookback_days: int = 60, now: datetime | None = None
) -> domain.Case:
    """The aggregate of case `case_id`; `lock` takes the case and client rows FOR UPDATE (PostgreSQL).

    `client_attempts` holds the client's attempts on all his cases over the last `lookback_days`, the
    longest period the calling rules look back.
    """
    loaded = _loaded(session, case_id)
    if loaded is None or (lock and not loaded.locked):
        loaded = _select_rows(session, case_id, lock=lock, since=(now or utcnow()) - timedelta(days=lookback_days))
    case_row, client_row, children = loaded.case, loaded.client, loaded.children
    contract_rows, attempts = children[rows.Contract], children[rows.CallAttempt]
    numbers = {c.id: c.number for c in contract_rows}
    agreement = children[rows.Agreement]
    return to_domain(
        domain.Case,
        case_row,
        client=to_domain(domain.ClientFile, client_row),
        contracts=[contract_to_domain(c) for c in contract_rows],
        profile={p.field: to_domain(domain.ProfileCheck, p) for p in children[rows.ProfileCheck]},
        contract_checks={
            numbers[c.contract_id]: to_domain(domain.ContractCheck, c, contract_number=numbers[c.contract_id])
            for c in children[rows.ContractCheck]
        },
        agreement=to_domain(domain.Agreement, agreement[0]) if agreement else None,
        protections={p.protection: to_domain(domain.ProtectionCheck, p) for p in children[rows.ProtectionCheck]},
        needs=[to_domain(domain.Need, n) for n in children[rows.Need]],
        actions=[to_domain(domain.Action, a) for a in children[rows.Action]],
        client_attempts=[to_domain(domain.Attempt, a) for a in attempts],
    )


def _sync(
    session: Session,
    model: type[SQLModel],
    existing: list[Any],
    key: tuple[str, ...],
    wanted: Iterable[dict[str, Any]],
    base: dict[str, Any],
) -> None:
    """Make the rows of `model` for one case equal `wanted`, matching rows on the `key` columns; `existing`
    (a list) is kept equal to the rows there are."""
    by_key = {tuple(getattr(row, k) for k in key): row for row in existing}
    for values in wanted:
        values = {name: _plain(value) for name, value in values.items()}
        row = by_key.pop(tuple(values[k] for k in key), None)
        if row is None:
            row = model(**base, **values)
            session.add(row)
            existing.append(row)
        else:
            assign(row, values)
    for row in by_key.values():
        session.delete(row)
        existing.remove(row)


def save_case(session: Session, case: domain.Case, *, now: datetime | None = None) -> None:
    """Write the aggregate back (in the caller's transaction; nothing is committed here)."""
    now = now or utcnow()
    case_row = session.get(rows.M3Case, case.id)
    if case_row is None:
        raise CaseNotFound(case.id)
    if assign(case_row, values_of(case, rows.M3Case, skip=_NOT_SAVED)):
        case_row.version += 1
    client_row = session.get(rows.Client, case_row.client_id)
    if assign(client_row, client_values(case.client)):
        client_row.updated_at = now
    contract_rows = {c.number: c for c in _children(session, rows.Contract, case.id)}
    for contract in case.contracts:
        if assign(contract_rows[contract.number], contract_values(contract)):
            contract_rows[contract.number].updated_at = now
    base = {"case_id": case.id}
    _sync(
        session,
        rows.ProfileCheck,
        _children(session, rows.ProfileCheck, case.id),
        ("field",),
        (dataclasses.asdict(p) for p in case.profile.values()),
        base,
    )
    _sync(
        session,
        rows.ContractCheck,
        _children(session, rows.ContractCheck, case.id),
        ("contract_id",),
        (
            {"contract_id": contract_rows[c.contract_number].id, "answer": c.answer, "at": c.at, "by": c.by,
             "piece": c.piece, "recovery": c.recovery}
            for c in case.contract_checks.values()
        ),
        base,
    )
    _sync(
        session,
        rows.Agreement,
        _children(session, rows.Agreement, case.id),
        ("case_id",),
        [dataclasses.asdict(case.agreement) | base] if case.agreement else [],
        {},
    )
    _sync(
        session,
        rows.ProtectionCheck,
        _children(session, rows.ProtectionCheck, case.id),
        ("protection",),
        (dataclasses.asdict(p) for p in case.protections.values()),
        base,
    )
    _sync(
        session,
        rows.Need,
        _children(session, rows.Need, case.id),
        ("text", "at", "by"),
        (dataclasses.asdict(n) for n in case.needs),
        base,
    )
    _save_actions(session, case)
    _save_attempts(session, case, client_row.id)
    session.flush()


def _save_actions(session: Session, case: domain.Case) -> None:
    kept = _children(session, rows.Action, case.id)
    existing = {a.id: a for a in kept}
    for action in case.actions:
        values = {k: v for k, v in dataclasses.asdict(action).items() if k != "id"}
        if action.id is None:
            row = rows.Action(case_id=case.id, **{k: _plain(v) for k, v in values.items()})
            session.add(row)
            session.flush()
            action.id = row.id
            kept.append(row)
        else:
            assign(existing.pop(action.id), values)
    # Actions withdrawn by RemoveAction (the audit trail keeps the fact).
    for row in existing.values():
        session.delete(row)
        kept.remove(row)


def _save_attempts(session: Session, case: domain.Case, client_id: int) -> None:
    if not case.client_attempts:
        return
    loaded = _loaded(session, case.id)
    if loaded is not None:  # the client's attempts since the loading's look-back, the client row locked since
        stored = loaded.children[rows.CallAttempt]
    else:
        since = min(a.at for a in case.client_attempts)
        stored = list(session.exec(
            select(rows.CallAttempt).where(rows.CallAttempt.client_id == client_id, rows.CallAttempt.at >= since)))
    known = {(a.at, a.by, a.outcome) for a in stored}
    for attempt in case.client_attempts:
        if (attempt.at, attempt.by, _plain(attempt.outcome)) in known:
            continue
        if attempt.case_id is None:
            attempt.case_id = case.id
        values = {k: _plain(v) for k, v in dataclasses.asdict(attempt).items()}
        row = rows.CallAttempt(client_id=client_id, **values)
        session.add(row)
        stored.append(row)
        known.add((row.at, row.by, row.outcome))


def create_case(
    session: Session,
    client: domain.ClientFile,
    contracts: list[domain.Contract],
    *,
    m3_date: date,
    seller: str | None = None,
    agent: str | None = None,
    now: datetime | None = None,
) -> int:
    """Insert (or reuse, by number) the client and contracts, and a new case in `preparation`; its id."""
    now = now or utcnow()
    client_row = session.exec(select(rows.Client).where(rows.Client.number == client.number)).one_or_none()
    if client_row is None:
        client_row = rows.Client(**client_values(client), created_at=now, updated_at=now)
        session.add(client_row)
        session.flush()
    case_row = rows.M3Case(
        state=domain.State.preparation.value,
        client_id=client_row.id,
        m3_date=m3_date,
        seller=seller,
        agent=agent,
        created_at=now,
    )
    session.add(case_row)
    session.flush()
    for contract in contracts:
        row = session.exec(select(rows.Contract).where(rows.Contract.number == contract.number)).one_or_none()
        if row is None:
            row = rows.Contract(client_id=client_row.id, updated_at=now, **contract_values(contract))
            session.add(row)
        row.case_id = case_row.id
    session.flush()
    return case_row.id
