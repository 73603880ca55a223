"""What a case is in the database, whole, to show that a request changed nothing: the aggregate as loaded,
plus its audit entries, outbox rows and Slack message rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage.repository import load_case
from storage.slack_messages import SlackMessage
from storage.tables import AuditEntry, M3Case, Outbox


def case_snapshot(engine: Engine, case_id: int) -> dict[str, Any]:
    with Session(engine) as session:
        client_id = session.get(M3Case, case_id).client_id
        return {
            "case": repr(load_case(session, case_id, lock=False)),
            "audit": list(session.exec(select(AuditEntry.id, AuditEntry.event).where(
                (AuditEntry.case_id == case_id) | (AuditEntry.client_id == client_id)).order_by(AuditEntry.id))),
            "outbox": list(session.exec(select(Outbox.id).where(Outbox.case_id == case_id).order_by(Outbox.id))),
            "slack": list(session.exec(select(SlackMessage.role, SlackMessage.ts).where(SlackMessage.case_id == case_id))),
        }
