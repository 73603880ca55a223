"""Recomputes the audit trail's hash chains (`m3bot audit verify`, the compliance PDF).

For each chain, in number order: the numbers run 1, 2, 3… without gap or twin; each entry's hash is the
hash of its content and of the previous entry's hash; its `data` is its sealed form, or seals to it with
the client's secret (a personal value changed shows there); and the last hash and the count are those the
chain's head row kept (entries lost at the end, or added outside the chain, show there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.audit import global_chain
from storage.chain import entry_hash, seal
from storage.tables import AuditEntry, ClientSecret, M3Case
from wording import t

# Problem kinds, each with its French text in wording/fr/audit.yml.
ALTERED, GAP, TWIN, DATA, HEAD = "altered", "gap", "twin", "data", "head"


@dataclass(frozen=True)
class Problem:
    case_id: int | None  # None: the chain of the entries of no case
    kind: str
    seq: int | None = None


def describe_problem(problem: Problem) -> str:
    """The problem in French, without the chain's name."""
    return t(f"audit.cli.problems.{problem.kind}", seq=problem.seq)


@dataclass(frozen=True)
class ChainState:
    head: str | None
    count: int


@dataclass
class Verification:
    chains: int = 0
    entries: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken(self) -> list[int | None]:
        """The chains with a problem (case ids; None for the chain of no case), each once, in order."""
        return list(dict.fromkeys(p.case_id for p in self.problems))


def _check_chain(case_id: int | None, entries: Iterable[AuditEntry], kept: ChainState,
                 secrets: dict[int, str], case_client: int | None) -> tuple[int, list[Problem]]:
    problems: list[Problem] = []
    previous, expected, count, last = None, 1, 0, None
    for entry in entries:
        count += 1
        if entry.seq == expected - 1:
            problems.append(Problem(case_id, TWIN, entry.seq))
        elif entry.seq != expected:
            problems.append(Problem(case_id, GAP, expected))
        expected = entry.seq + 1
        computed = entry_hash(previous, seq=entry.seq, case_id=entry.case_id, client_id=entry.client_id,
                              at=entry.at, actor=entry.actor, event=entry.event, sealed=entry.sealed)
        if computed != entry.hash:
            problems.append(Problem(case_id, ALTERED, entry.seq))
        owner = entry.client_id if entry.client_id is not None else case_client
        if entry.data != entry.sealed and seal(entry.data, secrets.get(owner), entry.event) != entry.sealed:
            problems.append(Problem(case_id, DATA, entry.seq))
        previous, last = entry.hash, entry
    if (last.hash if last else None, last.seq if last else 0) != (kept.head, kept.count):
        problems.append(Problem(case_id, HEAD, kept.count))
    return count, problems


def chain_state(session: Session, case_id: int | None) -> ChainState:
    """What the head row of the chain keeps (case `case_id`, or the chain of no case)."""
    if case_id is None:
        row = global_chain(session)
        return ChainState(row.head, row.count) if row else ChainState(None, 0)
    head, count = session.execute(
        sa.select(M3Case.audit_head, M3Case.audit_count).where(M3Case.id == case_id)).one()
    return ChainState(head, count)


def verify(session: Session, case_id: int | None = None) -> Verification:
    """Check every chain, or only that of case `case_id`."""
    entries = select(AuditEntry).order_by(AuditEntry.case_id, AuditEntry.seq, AuditEntry.id)
    cases = sa.select(M3Case.id, M3Case.client_id, M3Case.audit_head, M3Case.audit_count)
    if case_id is not None:
        entries, cases = entries.where(AuditEntry.case_id == case_id), cases.where(M3Case.id == case_id)
    kept = {row.id: (row.client_id, ChainState(row.audit_head, row.audit_count)) for row in session.execute(cases)}
    if case_id is None:
        kept[None] = (None, chain_state(session, None))
    keys = sa.select(ClientSecret.client_id, ClientSecret.secret)
    if case_id is not None:
        keys = keys.where(ClientSecret.client_id.in_([client for client, _ in kept.values()]))
    secrets = dict(session.execute(keys).all())
    result = Verification()
    seen = set()
    # Streamed: the whole trail is read once, a thousand entries at a time.
    for chain_case, chain in groupby(session.exec(entries.execution_options(yield_per=1000)),
                                     key=lambda e: e.case_id):
        seen.add(chain_case)
        client, state = kept[chain_case]
        count, problems = _check_chain(chain_case, chain, state, secrets, client)
        result.chains += 1
        result.entries += count
        result.problems += problems
    for chain_case, (client, state) in kept.items():  # chains whose head says entries exist, and none does
        if chain_case not in seen and state.count:
            result.chains += 1
            result.problems += _check_chain(chain_case, [], state, secrets, client)[1]
    result.problems.sort(key=lambda p: (p.case_id is not None, p.case_id or 0, p.seq or 0))
    return result
