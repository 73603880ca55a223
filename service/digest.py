"""The leads' morning digest: cases opened this morning, open cases per step, overdue callbacks and
actions, per agent, and the heads of the audit chains that changed in the last day (a reviewer checks a
later copy of the trail against them). Counts, case numbers and hashes only: the digest names no client."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from flows.case import ActionStatus, State
from storage.audit import global_chain
from storage.tables import Action, AuditEntry, M3Case

# A callback whose time has passed while the case still waits for the attempt's outcome is overdue.
_WAITING_FOR_CALLBACK = (State.scheduled_callback.value, State.contact_attempt.value)


@dataclass(frozen=True)
class AgentLoad:
    agent: str | None  # e-mail; None for cases nobody was assigned
    open_cases: int = 0
    overdue_callbacks: int = 0
    overdue_actions: int = 0


@dataclass(frozen=True)
class ChainHead:
    case_id: int | None  # None: the chain of the entries of no case
    count: int
    head: str | None


@dataclass(frozen=True)
class Digest:
    day: date
    opened: list[int]  # case ids opened by this morning's run
    per_state: dict[str, int]  # open cases (opened, not closed) per state code
    overdue_callbacks: int
    overdue_actions: int
    per_agent: list[AgentLoad] = field(default_factory=list)
    heads: list[ChainHead] = field(default_factory=list)  # chains with an entry in the last 24 hours


def chain_heads(session: Session, *, since: datetime) -> list[ChainHead]:
    """The head of every audit chain that got an entry since `since`, the chain of no case first."""
    changed = sa.select(col(AuditEntry.case_id)).where(col(AuditEntry.at) >= since).distinct()
    heads = [ChainHead(case_id, count, head) for case_id, count, head in session.execute(
        sa.select(col(M3Case.id), col(M3Case.audit_count), col(M3Case.audit_head))
        .where(col(M3Case.id).in_(changed)).order_by(col(M3Case.id)))]
    if session.execute(sa.select(col(AuditEntry.id)).where(col(AuditEntry.at) >= since, col(AuditEntry.case_id).is_(None))
                       .limit(1)).first():
        chain = global_chain(session)
        assert chain is not None, "appending an entry of no case creates the global chain's row"
        heads.insert(0, ChainHead(None, chain.count, chain.head))
    return heads


def build_digest(session: Session, *, day: date, now: datetime, opened: list[int]) -> Digest:
    open_cases = session.execute(
        sa.select(col(M3Case.state), col(M3Case.agent))
        .where(col(M3Case.opened_at).is_not(None), col(M3Case.state) != State.closed.value)
    ).all()
    callbacks = session.execute(
        sa.select(col(M3Case.agent)).where(col(M3Case.state).in_(_WAITING_FOR_CALLBACK), col(M3Case.callback_at) < now)
    ).scalars().all()
    # Actions belong to their owner, who may not be the case's agent.
    actions = session.execute(
        sa.select(col(Action.owner)).where(col(Action.status) == ActionStatus.todo.value, col(Action.due_on) < day)
    ).scalars().all()
    per_agent_cases = Counter(agent for _, agent in open_cases)
    per_agent_callbacks, per_agent_actions = Counter(callbacks), Counter(actions)
    agents = sorted(set(per_agent_cases) | set(per_agent_callbacks) | set(per_agent_actions), key=lambda a: (a is None, a or ""))
    return Digest(
        day=day,
        opened=opened,
        per_state=dict(Counter(state for state, _ in open_cases)),
        overdue_callbacks=len(callbacks),
        overdue_actions=len(actions),
        per_agent=[
            AgentLoad(agent, per_agent_cases[agent], per_agent_callbacks[agent], per_agent_actions[agent])
            for agent in agents
        ],
        heads=chain_heads(session, since=now - timedelta(days=1)),
    )
