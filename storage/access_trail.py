"""Who read or exported client data, and every change of the settings, recorded in the audit trail with who
and when (through `storage.audit.append`, like every other entry).

Reads recorded: `m3bot show`, `m3bot cases`, `m3bot export` (`m3bot rgpd export` records its own,
`storage.rgpd.EXPORTED_EVENT`), and a lead opening a case assigned to another agent: any click or modal of
that case's messages, and its opening from `/m3 ouvrir`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage import audit
from storage.tables import AuditEntry, M3Case
from storage.workspaces import session_for

CASE_SHOWN = "case_shown"
CASES_LISTED = "cases_listed"
DATA_EXPORTED = "data_exported"
LEAD_OPENED = "case_opened_by_lead"
SETTINGS_CHANGED = "settings_changed"


def record(session: Session, event: str, data: dict[str, Any] | None = None, *, actor: str,
           case_id: int | None = None) -> None:
    """One read or export, in the caller's transaction."""
    audit.append(session, event, data, actor=actor, case_id=case_id)


def lead_opened(session: Session, case_id: int, *, actor: str, lead_email: str | None, how: str) -> bool:
    """Record that a lead opened case `case_id` if it is assigned to another agent (`how`: the kind of
    request); False when the case is his own or nobody's. The caller commits."""
    case = session.get(M3Case, case_id)
    if case is None or case.agent is None or case.agent == lead_email:
        return False
    audit.append(session, LEAD_OPENED, {"how": how, "assigned_to": case.agent}, actor=actor, case_id=case_id,
                  client_id=case.client_id)
    return True


def record_settings(engine: Engine, current: dict[str, Any], *, actor: str, workspace: int) -> dict[str, Any] | None:
    """Compare the settings in force with the last ones recorded; record what changed (the first time, all of
    them). Returns the change recorded, {name: {"from": ..., "to": ...}}, or None when nothing changed."""
    current = audit.jsonable(current)
    with session_for(engine, workspace) as session, session.begin():
        last = session.exec(
            select(AuditEntry.data).where(AuditEntry.event == SETTINGS_CHANGED, AuditEntry.case_id.is_(None))
            .order_by(AuditEntry.id.desc())
        ).first()
        before = (last or {}).get("settings", {})
        changed = {name: {"from": before.get(name), "to": value} for name, value in current.items()
                   if before.get(name) != value}
        changed |= {name: {"from": value, "to": None} for name, value in before.items() if name not in current}
        if not changed:
            return None
        audit.append(session, SETTINGS_CHANGED, {"changed": changed, "settings": current}, actor=actor)
        return changed
