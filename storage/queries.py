"""Read models for the command line and dashboards, and the opening of due cases.

Opening a case keeps it in `preparation`: it sets `opened_at` (which makes it visible to agents) and writes
an audit entry. The claim is a conditional UPDATE, so a case opens once even when two runs overlap.
A case the catch-up rule sets aside (`out_of_time_at`) is opened only by hand, by a lead (`open_by_hand`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from flows.case import State
from flows.opening import CallerRule, DueStatus, caller_for, due_status, opening_refusal
from storage import audit
from storage import tables as rows
from storage.audit import jsonable
from storage.repository import load_case


@dataclass(frozen=True)
class CaseSummary:
    id: int
    state: str
    m3_date: date
    client_number: str
    client_name: str
    agent: str | None
    opened_at: datetime | None
    closed_at: datetime | None
    out_of_time_at: datetime | None = None


@dataclass(frozen=True)
class DueCases:
    due: list[int]
    out_of_time: list[int]



# Filters of `list_cases` besides the workflow states: cases not opened yet, set aside as out of time by
# the catch-up rule, or waiting for an M+3 date still to come.
OUT_OF_TIME, NOT_DUE = "out_of_time", "not_due"
WAITING_FILTERS = (OUT_OF_TIME, NOT_DUE)


def _unopened() -> Any:
    return sa.and_(rows.M3Case.opened_at.is_(None), rows.M3Case.state != State.closed.value)


def list_cases(
    session: Session, state: str | None = None, agent: str | None = None, *, today: date | None = None
) -> list[CaseSummary]:
    """The cases, opened ones first, each group by M+3 date; `state` is a workflow state or one of
    `WAITING_FILTERS` (`not_due` needs `today`)."""
    query = (
        select(rows.M3Case, rows.Client)
        .join(rows.Client, rows.Client.id == rows.M3Case.client_id)
        # Opened cases first: the ones being worked on; then those still to open, by M+3 date.
        .order_by(rows.M3Case.opened_at.is_(None), rows.M3Case.m3_date, rows.M3Case.id)
    )
    if state == OUT_OF_TIME:
        query = query.where(_unopened(), rows.M3Case.out_of_time_at.is_not(None))
    elif state == NOT_DUE:
        if today is None:
            raise ValueError("the not_due filter needs today")
        query = query.where(_unopened(), rows.M3Case.out_of_time_at.is_(None), rows.M3Case.m3_date > today)
    elif state is not None:
        query = query.where(rows.M3Case.state == state)
    if agent is not None:
        query = query.where(rows.M3Case.agent == agent)
    return [
        CaseSummary(
            id=case.id,
            state=case.state,
            m3_date=case.m3_date,
            client_number=client.number,
            client_name=" ".join(p for p in (client.first_name, client.last_name) if p),
            agent=case.agent,
            opened_at=case.opened_at,
            closed_at=case.closed_at,
            out_of_time_at=case.out_of_time_at,
        )
        for case, client in session.exec(query)
    ]


def case_trace(session: Session, case_id: int) -> dict[str, Any]:
    """Everything about one case, JSON-able: the aggregate, every attempt and the audit trail in time order.

    Raises `storage.repository.CaseNotFound`.
    """
    case = load_case(session, case_id, lock=False)
    case_row = session.get(rows.M3Case, case_id)
    aggregate = {k: v for k, v in dataclasses.asdict(case).items() if k != "client_attempts"}
    aggregate |= {"out_of_time_at": case_row.out_of_time_at, "version": case_row.version}
    attempts = session.exec(
        select(rows.CallAttempt).where(rows.CallAttempt.case_id == case_id).order_by(rows.CallAttempt.at)
    )
    entries = session.exec(
        select(rows.AuditEntry)
        .where(
            sa.or_(
                rows.AuditEntry.case_id == case_id,
                # Client-level entries (import of the client, fields completed) belong to his cases too.
                sa.and_(rows.AuditEntry.case_id.is_(None), rows.AuditEntry.client_id == case_row.client_id),
            )
        )
        .order_by(rows.AuditEntry.at, rows.AuditEntry.id)
    )
    return jsonable(
        {
            "case": aggregate,
            "attempts": [a.model_dump(exclude={"id", "client_id"}) for a in attempts],
            "timeline": [e.model_dump(include={"at", "actor", "event", "data"}) for e in entries],
        }
    )


def is_first_run(session: Session) -> bool:
    """No case was ever opened or set aside as out of time: this is the agency's first opening run."""
    seen = select(rows.M3Case.id).where(
        sa.or_(rows.M3Case.opened_at.is_not(None), rows.M3Case.out_of_time_at.is_not(None))
    )
    return session.exec(seen.limit(1)).first() is None


def first_seen(created_at: datetime, today: date, first_run: bool) -> date:
    """The day the bot first saw a case, for the catch-up rule: its import (UTC day: a day more or less
    does not matter against `CATCH_UP_DAYS`), or today on the agency's first opening run, which is when
    the cases imported before it come into view."""
    return today if first_run else created_at.date()


def due_cases(session: Session, today: date, *, catch_up_days: int, first_run: bool | None = None) -> DueCases:
    """Unopened cases whose M+3 date has come, split into due and out of time (`flows.opening.due_status`)."""
    if first_run is None:
        first_run = is_first_run(session)
    candidates = session.exec(
        select(rows.M3Case.id, rows.M3Case.m3_date, rows.M3Case.created_at)
        .where(
            rows.M3Case.state == State.preparation.value,
            rows.M3Case.opened_at.is_(None),
            rows.M3Case.out_of_time_at.is_(None),
            rows.M3Case.m3_date <= today,
        )
        .order_by(rows.M3Case.m3_date, rows.M3Case.id)
    )
    result = DueCases(due=[], out_of_time=[])
    for case_id, m3, created_at in candidates:
        status = due_status(m3, today, catch_up_days, first_seen(created_at, today, first_run))
        if status != "not_due":
            getattr(result, status).append(case_id)
    return result


def _claim(session: Session, case_ids: list[int], column: str, *, now: datetime, actor: str, event: str) -> list[int]:
    claimed = []
    for case_id in case_ids:
        updated = session.execute(
            sa.update(rows.M3Case)
            .where(rows.M3Case.id == case_id, rows.M3Case.opened_at.is_(None), rows.M3Case.out_of_time_at.is_(None))
            .values({column: now})
        )
        if updated.rowcount == 1:
            client_id = session.exec(select(rows.M3Case.client_id).where(rows.M3Case.id == case_id)).one()
            audit.append(session, event, {}, actor=actor, case_id=case_id, client_id=client_id, at=now)
            claimed.append(case_id)
    return claimed


CALLER_RULE_EVENT = "caller_rule_set"


def assign_callers(
    session: Session, rule: CallerRule, *, actor: str, client_ids: Collection[int] | None = None
) -> int:
    """Give the cases not opened yet (of `client_ids`, or all) to the caller `rule` names (M3_CALLER).
    Opened cases keep their agent: from then on only a lead hands them over. Each change is audited;
    returns how many cases changed hands."""
    query = (
        select(rows.M3Case.id, rows.M3Case.client_id, rows.M3Case.seller, rows.M3Case.agent, rows.Client.account_manager)
        .join(rows.Client, rows.Client.id == rows.M3Case.client_id)
        .where(rows.M3Case.opened_at.is_(None), rows.M3Case.out_of_time_at.is_(None),
               rows.M3Case.state == State.preparation.value)
    )
    if client_ids is not None:
        query = query.where(rows.M3Case.client_id.in_(list(client_ids)))
    changed = 0
    for case_id, client_id, seller, agent, account_manager in session.exec(query).all():
        caller = caller_for(rule, seller=seller, account_manager=account_manager)
        if caller == agent:
            continue
        session.execute(sa.update(rows.M3Case).where(rows.M3Case.id == case_id).values(agent=caller))
        audit.append(session, "case_caller_assigned", {"from": agent, "to": caller, "rule": rule},
                     actor=actor, case_id=case_id, client_id=client_id)
        changed += 1
    return changed


def apply_caller_rule(session: Session, rule: CallerRule, *, actor: str) -> int | None:
    """When M3_CALLER differs from the rule last applied (or none was ever recorded), record the new one and
    give every case still to open to its caller; None when the rule is unchanged."""
    last = session.exec(
        select(rows.AuditEntry.data).where(rows.AuditEntry.event == CALLER_RULE_EVENT, rows.AuditEntry.case_id.is_(None))
        .order_by(rows.AuditEntry.id.desc()).limit(1)
    ).first()
    if last is not None and last.get("rule") == rule:
        return None
    audit.append(session, CALLER_RULE_EVENT, {"rule": rule, "previous": last.get("rule") if last else None},
                 actor=actor)
    return assign_callers(session, rule, actor=actor)


def mark_opened(session: Session, case_ids: list[int], *, now: datetime, actor: str) -> list[int]:
    """Open the cases not opened yet; returns those this call opened."""
    return _claim(session, case_ids, "opened_at", now=now, actor=actor, event="case_opened")


def mark_out_of_time(session: Session, case_ids: list[int], *, now: datetime, actor: str) -> list[int]:
    return _claim(session, case_ids, "out_of_time_at", now=now, actor=actor, event="case_out_of_time")


def opening_status(session: Session, case_id: int, today: date, *, catch_up_days: int) -> DueStatus | None:
    """Where an unopened case stands (`not_due`, `due`, `out_of_time`); None once opened or closed."""
    case = session.get(rows.M3Case, case_id)
    if case is None or case.opened_at is not None or case.state == State.closed.value:
        return None
    if case.out_of_time_at is not None:
        return "out_of_time"
    return due_status(case.m3_date, today, catch_up_days, first_seen(case.created_at, today, is_first_run(session)))


def open_by_hand(
    session: Session, case_id: int, *, today: date, catch_up_days: int, is_lead: bool, now: datetime, actor: str
) -> str | None:
    """Open one case now (`/m3 ouvrir`, a lead's Home), under the rules of `flows.opening.opening_refusal`;
    an out-of-time case a lead opens becomes due now and the trail says so. Returns None once opened, else
    the refusal's reason code."""
    status = opening_status(session, case_id, today, catch_up_days=catch_up_days)
    if status is None:
        return "case_already_open"
    if (code := opening_refusal(status, is_lead=is_lead)) is not None:
        return code
    updated = session.execute(
        sa.update(rows.M3Case).where(rows.M3Case.id == case_id, _unopened()).values(opened_at=now)
    )
    if updated.rowcount != 1:
        return "case_already_open"
    client_id = session.exec(select(rows.M3Case.client_id).where(rows.M3Case.id == case_id)).one()
    data = {"out_of_time": True} if status == "out_of_time" else {}
    audit.append(session, "case_opened", data, actor=actor, case_id=case_id, client_id=client_id, at=now)
    return None
