"""The client's RGPD rights as use cases: access (export), erasure on request, and the retention purge. The
rows' side is `storage.rgpd`; what Slack shows of an erased client's cases is anonymised by the notifier
(`case_erased`) in the erasure's own transaction. Who asked is recorded in the trail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.unit_of_work import UnitOfWork
from storage import audit, rgpd

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ExportClient:
    number: str  # the client's number in the management system


def export_client(command: ExportClient, uow: UnitOfWork) -> dict[str, Any]:
    """Everything held on the client, the export itself recorded in the trail (who read the file, when).
    Raises `storage.rgpd.ClientNotFound`."""
    with uow:
        data = rgpd.client_data(uow.session, command.number)
        audit.append(uow.session, rgpd.EXPORTED_EVENT, {}, actor=uow.actor, client_id=data["client"]["id"], at=uow.now)
    return {"exported_at": uow.now.isoformat(), "exported_by": uow.actor, **data}


@dataclass(frozen=True)
class EraseClient:
    number: str


def _on_erased(uow: UnitOfWork) -> rgpd.OnErased | None:
    return uow.notifier.case_erased if uow.notifier is not None else None


def erase_client(command: EraseClient, uow: UnitOfWork) -> rgpd.Erasure:
    """Anonymise the client everywhere, in one transaction; his cases not closed yet close with the reason
    "effacement RGPD". Raises `storage.rgpd.ClientNotFound`."""
    with uow:
        client_id = rgpd.find_client(uow.session, command.number).id
        assert client_id is not None, "a client found in the database"
        result = rgpd.erase(uow.session, client_id, actor=uow.actor, now=uow.now, reason=rgpd.REQUEST,
                            on_erased=_on_erased(uow))
    log.info("client %s erased on request (%d cases)", result.client_id, len(result.case_ids))
    return result


@dataclass(frozen=True)
class Purge:
    """Erase every client past the retention period (`dry_run`: only list them)."""

    retention_years: int
    dry_run: bool = False


def purge(command: Purge, new_uow: Callable[[], UnitOfWork], *, progress: Progress | None = None) -> list[rgpd.Erasure]:
    """Each client in a unit of work of his own (`new_uow`), checked again under lock: one who became active
    since the listing (a new case, a new contract) is skipped, and two processes purging at once erase each
    client once. `progress(done, total)` follows the clients."""
    with new_uow() as listing:
        now = listing.now
        candidates = rgpd.purge_candidates(listing.session, retention_years=command.retention_years, now=now)
        if command.dry_run:
            return [rgpd.Erasure(client_id, rgpd.case_ids_of(listing.session, client_id)) for client_id in candidates]
    done = []
    for position, client_id in enumerate(candidates, start=1):
        if progress is not None:
            progress(position, len(candidates))
        with new_uow() as uow:
            rgpd.lock_client(uow.session, client_id)
            if rgpd.purge_candidates(uow.session, retention_years=command.retention_years, now=now, client_id=client_id):
                done.append(rgpd.erase(uow.session, client_id, actor=uow.actor, now=now, reason=rgpd.RETENTION,
                                       on_erased=_on_erased(uow)))
    if done:
        with new_uow() as uow:
            audit.append(uow.session, rgpd.PURGE_EVENT, {"retention_years": command.retention_years, "clients": len(done)},
                         actor=uow.actor, at=now)
    log.info("retention purge: %d client(s) erased, retention %d years", len(done), command.retention_years)
    return done
