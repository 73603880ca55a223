"""The compliance verdicts of stored cases (`flows.verdict`), fed from their audit trails and nothing else.

A case's trail is read in the order it was recorded (time, then insertion: the order `storage.queries.
case_trace` gives), and only the facts the verdict reads are fetched, so that the lead's dashboard can
judge a whole period's closed cases in one statement.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby

import sqlalchemy as sa
from sqlmodel import Session

from flows.verdict import FACT_NAMES, TrailFact, Verdict, verdict
from storage.tables import AuditEntry, M3Case


def verdicts(session: Session, cases: sa.Select | Iterable[int]) -> dict[int, Verdict]:
    """The verdict of each case: `cases` is a SELECT of case ids, or ids; unknown ids are left out."""
    if not isinstance(cases, sa.Select):
        cases = sa.select(M3Case.id).where(M3Case.id.in_(list(cases)))
    ids = cases.subquery()
    case_id = ids.c[0]
    read = (
        sa.select(case_id, AuditEntry.event, AuditEntry.data, AuditEntry.at)
        .select_from(ids)
        .outerjoin(AuditEntry, sa.and_(AuditEntry.case_id == case_id, AuditEntry.event.in_(sorted(FACT_NAMES))))
        .order_by(case_id, AuditEntry.at, AuditEntry.id)
    )
    rows = session.connection().execute(read)
    return {
        found: verdict(TrailFact(event, data, at) for _id, event, data, at in entries if event is not None)
        for found, entries in groupby(rows, key=lambda row: row[0])
    }


def case_verdict(session: Session, case_id: int) -> Verdict:
    """The verdict of one case (which must exist) from its trail."""
    return verdicts(session, [case_id])[case_id]
